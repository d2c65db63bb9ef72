"""``metahp demo``: the main job on the embedded default knowledge base."""

from __future__ import annotations

import argparse
from typing import Any

from metahp.commands.kb import add_kb_argument

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    from metahp.commands.kb import _stats

    args.json = False
    return _stats(args)


def register(subparsers: Any) -> None:
    """Add ``metahp demo``."""
    demo = subparsers.add_parser("demo", help="the main job on the default knowledge base",
                                 description="Show what metahp does on the embedded default knowledge base.")
    add_kb_argument(demo)
    demo.set_defaults(func=_demo)
