"""Build the bundled default knowledge base (``knowledge_base/``) from its sources.

The bundle holds the tasks metahp's own runner trained (``metahp kb build``; read back from
the current bundle, since training them again takes GPU hours) and the public sweeps whose
licence allows it (:data:`metahp.kb._catalogue.PUBLIC_SOURCES` entries marked ``bundled``),
imported from the public meta-datasets folder with the same importers users run. Sources
without a licence (Step Law, the SVM table) stay import-only. The datasheet is written from
the store, so its counts are the shards' counts.

Run ``python benchmarks/build_default_kb.py`` to rebuild it (:func:`build_default_bundle`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from metahp.app._build import HELD_OUT, counts_section, write_shards
from metahp.kb import PUBLIC_SOURCES, KnowledgeBase
from metahp.runner import suite as builtin_tasks

__all__ = ["build_default_bundle", "runner_regime", "default_datasheet", "MAX_SHARD_BYTES"]

#: Every file of the bundle stays under this size (a repository limit, not a format one).
MAX_SHARD_BYTES = 5 * 1024**2


def runner_regime(task_name: str) -> str:
    """The training regime of a built-in runner task: ``finetune`` from a checkpoint, else ``pretrain``."""
    task = builtin_tasks.get(task_name)
    return "finetune" if getattr(task.model, "checkpoint", None) else "pretrain"


def _runner_part(bundle: Path, into: KnowledgeBase) -> list[str]:
    """Copy the runner-built tasks of ``bundle`` into ``into`` with their regime as ``kind``."""
    old = KnowledgeBase(":memory:")
    old.import_(bundle)
    trials = old.trials()
    builtin = set(builtin_tasks.names())
    names = sorted({str(t) for t, s in zip(trials["task"], trials["source"]) if s == "runner" and t in builtin})
    with tempfile.TemporaryDirectory() as tmp:
        bundle = old.export(Path(tmp) / "runner", tasks=names)
        _rewrite_kinds(bundle, {name: runner_regime(name) for name in names})
        into.import_(bundle)
    return names


def _rewrite_kinds(bundle: Path, kinds: Mapping[str, str]) -> None:
    """Set the ``kind`` of the named tasks in a bundle folder (and its manifest's checksum)."""
    table = pq.read_table(bundle / "tasks.parquet")
    names = table.column("name").to_pylist()
    new = [kinds.get(n, k) for n, k in zip(names, table.column("kind").to_pylist())]
    table = table.set_column(table.schema.get_field_index("kind"), "kind", pa.array(new, pa.string()))
    pq.write_table(table, bundle / "tasks.parquet")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["tasks.parquet"] = hashlib.sha256((bundle / "tasks.parquet").read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def build_default_bundle(external: Path, out: Path, *, runner_bundle: Path | None = None,
                         runner_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild the default bundle in ``out`` (shards and DATASHEET.md).

    Args:
        external: The public meta-datasets folder (``../shared/external``).
        out: The bundle folder to (re)write, e.g. ``knowledge_base/``.
        runner_bundle: Where to read the runner-built tasks from (default: ``out`` as it is).
        runner_info: How the runner-built tasks were made, for the datasheet
            (``command``, ``hardware``, ``notes``, ...).

    Returns:
        Per source: tasks and trials; and the size of each written file.
    """
    kb = KnowledgeBase(":memory:")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "runner"
        shutil.copytree(runner_bundle or out, source, ignore=shutil.ignore_patterns("*.md"))
        runner = _runner_part(source, kb)
    counts: dict[str, Any] = {"runner": {"tasks": len(runner), "trials": int(kb.count_trials())}}
    for name, public in PUBLIC_SOURCES.items():
        if not public.bundled:
            continue
        result = kb.import_source(name, external / public.folder)
        counts[name] = {"tasks": result.added_tasks, "trials": result.added_trials}
    write_shards(kb, out)
    (out / "DATASHEET.md").write_text(default_datasheet(kb, runner_info=runner_info or {}), encoding="utf-8")
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    too_big = {n: s for n, s in sizes.items() if s >= MAX_SHARD_BYTES}
    if too_big:
        raise RuntimeError(f"bundle files over {MAX_SHARD_BYTES} bytes: {too_big}")
    return {"sources": counts, "files": sizes}


def _source_of(source_column: str) -> str:
    return source_column.split(":", 1)[1] if source_column.startswith("import:") else source_column


def default_datasheet(kb: KnowledgeBase, *, runner_info: Mapping[str, Any]) -> str:
    """The Markdown datasheet of the default bundle: sources, licences, counts, limits."""
    stats = kb.stats()
    trials = kb.trials()
    tasks = kb.tasks()
    trials["origin"] = [_source_of(str(s)) for s in trials["source"]]
    lines = [
        "# Default knowledge base — datasheet",
        "",
        "The shards in this folder seed every user's default store. They hold the tasks metahp's own runner "
        "trained and the public sweeps whose licence allows redistribution, converted by metahp's importers "
        "(the raw files are not copied). Rebuild them with `python benchmarks/build_default_kb.py` "
        "(`metahp.app.build_default_bundle`). Step Law and the SVM table state no licence: they stay "
        "import-only (`metahp kb import steplaw|svm PATH`).",
        "",
        *counts_section(stats),
        "## Sources",
        "",
        "| source | family | regime | tasks | trials | licence | upstream |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    runner_rows = trials[trials["origin"] == "runner"]
    runner_tasks = tasks[tasks["name"].isin(set(runner_rows["task"]))]
    lines.append(f"| runner | {', '.join(sorted(set(runner_tasks['family'])))} | "
                 f"{', '.join(sorted(set(runner_tasks['kind'])))} | {len(runner_tasks)} | {len(runner_rows)} | "
                 "the project's own | metahp's runner (`metahp kb build`) |")
    for name, public in PUBLIC_SOURCES.items():
        if not public.bundled:
            continue
        rows = trials[trials["origin"] == name]
        mine = tasks[tasks["name"].isin(set(rows["task"]))]
        lines.append(f"| {name} | {public.family} | {', '.join(sorted(set(mine['kind'])))} | {len(mine)} | "
                     f"{len(rows)} | {public.licence} | {public.upstream} |")
    lines += ["", "## Licences and attribution", ""]
    for name, public in PUBLIC_SOURCES.items():
        if public.bundled:
            lines.append(f"- `{name}` ({public.licence}): {public.attribution}.")
    lines += [
        "- The share-alike term of CC BY-SA 4.0 covers the `opda-deberta` task and its trials: redistribute them, "
        "or what you derive from them, under CC BY-SA 4.0 with the attribution above.",
        "",
        "## Regimes and objectives",
        "",
        "Every task's `kind` is its training regime: `pretrain` (from scratch; meta-feature `model_pretrained` 0), "
        "`finetune` (full fine-tuning of a pretrained model; 1) or `lora` (adapter fine-tuning; 1).",
        "",
        "| family | regime | objective | direction | tasks | meta-features |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    meta_columns = [c for c in tasks.columns if c not in
                    ("task_id", "name", "family", "kind", "objective_name", "direction", "space_signature",
                     "n_trials", "meta_features")]
    for family, group in tasks.groupby("family", sort=True):
        carried = sorted(c for c in meta_columns if group[c].notna().any())
        lines.append(f"| {family} | {', '.join(sorted(set(group['kind'])))} | "
                     f"{', '.join(sorted(set(group['objective_name'])))} | {', '.join(sorted(set(group['direction'])))}"
                     f" | {len(group)} | {', '.join(f'`{c}`' for c in carried)} |")
    lines += [
        "",
        "## Public sources: what was converted",
        "",
        "- `scan-bench`: one task per (model shape, token budget), nearly every one holding one run; objective the "
        "last checkpoint's validation loss, `curve` the validation loss at every checkpoint, downstream accuracies in "
        "`metrics`. The source's `objective_to_minimize` column equals its test loss, kept in `metrics`.",
        "- `tinker-sft`: one task per model; `model_params` and `model_params_active` come from the model names "
        "(`Qwen3-30B-A3B`: 30e9 total, 3e9 active) and are absent where the name states no size (DeepSeek-V3.1, "
        "Kimi-K2.x). Test NLL compares within a model only (tokenizers differ). Rows that repeat another row's "
        "configuration and result exactly are stored once (the store keeps one trial per content hash).",
        "- `opda`: one task, DeBERTa-base on MultiNLI; `warmup_ratio` is the source's warmup steps over its total "
        "steps; `curve` the matched-set accuracy; the mismatched set's final and best accuracy in `metrics`.",
        "- `nmt`: the NMT HPO grids, one task per language pair (the learning-curve file NMTLC is used only for the "
        "training-set sizes).",
        "",
        "## Runner-built tasks",
        "",
        "Trained by metahp's runner on the built-in suite (`metahp.tasks.builtin()`): 32 configurations of a scrambled "
        "Sobol sequence per task, 8 repeated with a second seed, then 16 drawn around the four best.",
        "",
        *[f"- {key.replace('_', ' ').capitalize()}: {value}" for key, value in runner_info.items() if key != "notes"],
        *[f"- {note}" for note in runner_info.get("notes", [])],
        f"- Held-out tasks (never trained into the seed, used by `metahp demo`): {', '.join(HELD_OUT)}.",
        f"- Summed training time {np.nansum(runner_rows['cost'].to_numpy(dtype=float)):.0f} s; devices "
        f"{', '.join(sorted(set(runner_rows['device'].dropna())))}; seeds "
        f"{', '.join(str(int(s)) for s in sorted(set(runner_rows['seed'].dropna())))}.",
        "",
        "| task | family | kind | trials | ok | diverged | failed | best objective | direction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    kinds = dict(zip(tasks["name"], tasks["kind"]))
    for name, group in runner_rows.groupby("task", sort=True):
        status = group["status"].value_counts()
        ok = group[group["status"] == "ok"]
        best = ok["value"].max() if (ok["direction"] == "maximize").all() else ok["value"].min()
        lines.append(
            f"| {name} | {group['family'].iloc[0]} | {kinds[name]} | {len(group)} | {status.get('ok', 0)} | "
            f"{status.get('diverged', 0)} | {status.get('failed', 0)} | {best:.4f} | {group['direction'].iloc[0]} |"
        )
    absent = [n for n in builtin_tasks.names() if n not in set(runner_rows["task"]) and n not in HELD_OUT]
    lines += [
        "",
        f"Built-in tasks not in the seed: {', '.join(absent) or 'none'}.",
        "",
        "## Search spaces",
        "",
        *[f"- `{family}`: {kb.space(family)!r}" for family in kb.families()],
        "",
        "## Known limits",
        "",
        "- The runner-built tasks are tiny models with short budgets (seconds per trial), byte-level tokenisation "
        "(losses in nats per byte), two seeds for a subset only.",
        "- The public sweeps cover 16M-1B parameters from scratch (scan-bench), LoRA on 1B-1T models (tinker-sft) "
        "and one fine-tuned encoder (opda); beyond them metahp extrapolates and says so.",
        "- Objectives are comparable within a task only (different data, tokenizers and metrics).",
        "",
    ]
    return "\n".join(lines)
