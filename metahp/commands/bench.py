"""``metahp bench``: the transfer benchmark (``transfer``) and its summary tables (``summary``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

_EPILOG = """\
examples:
  metahp bench transfer --quick --out /tmp/bench          # CI-sized run (one seed, a few tasks)
  metahp bench transfer                                   # the five external suites, all methods, 5 seeds
  metahp bench transfer --suite svm --methods random,gp,metahp --seeds 3
  metahp bench transfer --kb my.duckdb --suite my-family  # any family of any knowledge base
  metahp bench summary benchmarks/results                 # the summary tables, from the JSON results

data: without --kb the suites come from the public meta-datasets in $METAHP_EXTERNAL, else in a
folder shared/external beside the checkout (or beside the working directory or any folder above);
they are not part of the repository: docs/benchmarks.md says how to get them.
"""


def register(subparsers: Any) -> None:
    """Add ``metahp bench transfer`` and ``metahp bench summary``."""
    parser = subparsers.add_parser("bench", help="transfer benchmark (leave-one-task-out replay)",
                                   description="Benchmarks of metahp against the methods a user would otherwise pick.",
                                   epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench_command", metavar="SUBCOMMAND")
    transfer = sub.add_parser("transfer", help="replay every method on every task of the suites",
                              epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    transfer.add_argument("--kb", metavar="PATH", default=None,
                          help="knowledge base to take suites from (default: import the public meta-datasets from "
                               "$METAHP_EXTERNAL or shared/external beside the checkout into a temporary one)")
    transfer.add_argument("--suite", metavar="FAMILY", action="append", default=None,
                          help="family to replay (repeatable; default: every external suite or every KB family)")
    transfer.add_argument("--methods", metavar="A,B,...", default=None,
                          help="comma-separated methods (default: all ten; --quick: a CI subset)")
    transfer.add_argument("--seeds", type=int, default=None, help="seeds per task (default 5; --quick: 1)")
    transfer.add_argument("--budget", "-T", type=int, default=50, help="evaluations per replay (default 50)")
    transfer.add_argument("--out", metavar="DIR", default="benchmarks/results",
                          help="folder for transfer_<suite>.json/.md/.png (default benchmarks/results)")
    transfer.add_argument("--workers", type=int, default=None, help="processes (default 2)")
    transfer.add_argument("--max-pool", type=int, default=None,
                          help="subsample larger pools to this many configurations (default 2000)")
    transfer.add_argument("--quick", action="store_true", help="one seed, a few tasks, a subset of methods")
    transfer.add_argument("--max-tasks", type=int, default=None,
                          help="replay at most this many target tasks per suite (a reduced run)")
    transfer.set_defaults(func=_transfer)
    summary = sub.add_parser("summary", help="print the summary tables from transfer_*.json files")
    summary.add_argument("results", nargs="?", default="benchmarks/results", help="folder of transfer_*.json")
    summary.set_defaults(func=_summary)
    parser.set_defaults(func=lambda args: parser.print_help() or 0)


def _command_line(args: argparse.Namespace) -> str:
    """The ``metahp bench transfer`` command that reproduces this run (options as given)."""
    import shlex

    parts = ["metahp", "bench", "transfer"]
    for flag, value in (("--kb", args.kb), ("--methods", args.methods), ("--seeds", args.seeds),
                        ("--budget", args.budget if args.budget != 50 else None), ("--out", args.out),
                        ("--workers", args.workers), ("--max-pool", args.max_pool), ("--max-tasks", args.max_tasks)):
        if value is not None:
            parts += [flag, str(value)]
    for suite in args.suite or []:
        parts += ["--suite", suite]
    if args.quick:
        parts.append("--quick")
    return shlex.join(parts)


def _transfer(args: argparse.Namespace) -> int:
    from metahp.bench import MAX_POOL, benchmark_transfer, get_method  # on use: keeps `metahp --help` fast

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    for m in methods or []:
        get_method(m)
    records = benchmark_transfer(
        kb=args.kb, suites=args.suite, methods=methods, seeds=args.seeds, budget=args.budget, out=args.out,
        quick=args.quick, workers=args.workers, max_pool=args.max_pool or MAX_POOL, max_tasks=args.max_tasks,
        progress=lambda line: print(line, file=sys.stderr, flush=True), command=_command_line(args),
    )
    for record in records.values():
        ranks = {m: e["rank"].get("10") for m, e in record["methods"].items()}
        best = min((r for r in ranks.values() if r is not None), default=None)
        print(f"{record['suite']}: {record['tasks']} tasks; rank@10 "
              + ", ".join(f"{m} {r:.2f}{'*' if r == best else ''}" for m, r in ranks.items() if r is not None))
        if record.get("failed_methods"):
            print(f"  failed: {record['failed_methods']}")
        if record.get("paths"):
            print(f"  wrote {record['paths']['json']}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from metahp.bench import summary_table  # on use: keeps `metahp --help` fast

    print(summary_table(args.results), end="")
    return 0
