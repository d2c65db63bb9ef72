"""``metahp demo``: the main job on the embedded default knowledge base."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from metahp.commands.kb import add_kb_argument, open_kb

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    from metahp.app import run_demo  # on use: keeps `metahp --help` fast

    run_demo(open_kb(args), task=args.task, k=args.k, n_verify=args.verify, n_search=args.trials, seed=args.seed,
             budget=args.budget, device=args.device, out_dir=Path(args.out) if args.out else None)
    return 0


def register(subparsers: Any) -> None:
    """Add ``metahp demo``."""
    demo = subparsers.add_parser(
        "demo", help="the whole loop on a held-out task: describe, recommend, verify, search, contribute",
        description="On the default knowledge base: describe a built-in task the seed left out, recommend five "
                    "configurations, verify the top three by training them, run a warm-started and a cold search "
                    "of 8 trainings each, save a plot, and mark the results for contribution.")
    add_kb_argument(demo)
    demo.add_argument("--task", default=None, help="a built-in task (default: the held-out one)")
    demo.add_argument("-k", type=int, default=5, help="recommendations to show (default 5)")
    demo.add_argument("--verify", type=int, default=3, help="recommendations to train (default 3)")
    demo.add_argument("--trials", type=int, default=8, help="trainings per search (default 8)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--budget", type=int, default=None, help="override the task's training steps")
    demo.add_argument("--device", default="cpu")
    demo.add_argument("--out", default=None, help="folder for the plot (default: the metahp data folder)")
    demo.set_defaults(func=_demo)
