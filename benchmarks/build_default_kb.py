"""Rebuild the bundled default knowledge base (``knowledge_base/``) from its sources.

    python benchmarks/build_default_kb.py [--external ../shared/external] [--out knowledge_base]

Reads the runner-built tasks from the current bundle and the licensed public sweeps from the
public meta-datasets folder, writes the shards and DATASHEET.md, and prints what each source
brought and the size of each file. See ``metahp.kb._default_bundle``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from metahp.app import build_default_bundle

ROOT = Path(__file__).resolve().parents[1]

#: How the runner-built shard was made (metahp kb build, 2026-11-28); kept so the datasheet says it.
RUNNER_INFO = {
    "command": "`bash benchmarks/device_run.sh` (metahp kb build --device cuda --workers 12/14, two runs with "
               "--time-limit 370 and 100); then the refinement of 9 tasks on the CPU machine: `metahp kb build "
               "--device cpu --executor process --workers 2`",
    "hardware": "NVIDIA H200 (bf16 autocast, fused AdamW), 16 CPU cores, torch 2.11.0+cu130, transformers 5.17.0, "
                "Python 3.12; corpora from Python 3.11's standard library and pydoc topics",
    "wall_time_of_the_build": "1043 s",
    "notes": [
        "minilm-corpus-id and minilm-genre are not in the seed: the GPU machine had no copy of the pretrained MiniLM "
        "weights, and there was no time to train them on the CPU machine.",
        "The refinement round of modular, copy, reverse, markov-low, markov-high, drama-arch, python-arch, corpus-id "
        "and majority (144 trials) ran on the 2-core CPU machine in float32 (torch 2.13.0+cpu); every other trial "
        "ran on the H200 in bf16. The trials' device column says which.",
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--external", type=Path, default=ROOT.parent / "shared" / "external")
    parser.add_argument("--out", type=Path, default=ROOT / "knowledge_base")
    parser.add_argument("--runner-bundle", type=Path, default=None,
                        help="read the runner-built tasks from this bundle (default: --out as it is)")
    args = parser.parse_args()
    started = time.perf_counter()
    report = build_default_bundle(args.external, args.out, runner_bundle=args.runner_bundle, runner_info=RUNNER_INFO)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
