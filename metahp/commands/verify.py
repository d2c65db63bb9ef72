"""``metahp verify``: train the top recommendations and compare predicted with measured."""

from __future__ import annotations

import argparse
from typing import Any

from metahp.commands.kb import BUILTIN_TASKS_HINT, add_kb_argument, open_kb

__all__ = ["register"]


def _verify(args: argparse.Namespace) -> int:
    from metahp.app import verify  # on use: keeps `metahp --help` fast

    report = verify(args.task, k=args.k, kb=open_kb(args), model=args.model, device=args.device, seed=args.seed,
                    budget=args.budget, include_default=not args.no_default)
    print(f"task {report.task}: {report.objective_name} ({report.direction}); runs stored in the knowledge base")
    print(report.table())
    return 0


def register(subparsers: Any) -> None:
    """Add ``metahp verify``."""
    parser = subparsers.add_parser(
        "verify", help="train the top-k recommendations of a built-in task and compare with the prediction",
        description="Train the top-k recommendations (and the default configuration) of a built-in task, print "
                    "predicted and measured objectives side by side, and store the runs.")
    parser.add_argument("--task", required=True, help=f"a built-in task (see `{BUILTIN_TASKS_HINT}`)")
    parser.add_argument("-k", type=int, default=3, help="recommendations to train (default 3)")
    parser.add_argument("--model", default="lgbm", help="meta-model: lgbm, gp or knn (default lgbm)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=None, help="override the task's training steps")
    parser.add_argument("--no-default", action="store_true", help="do not train the default configuration")
    add_kb_argument(parser)
    parser.set_defaults(func=_verify)
