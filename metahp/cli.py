"""The ``metahp`` command.

Each command group lives in ``metahp/commands/<name>.py`` and exposes
``register(subparsers)``; this module only assembles them, so ``metahp --help`` stays
fast (heavy imports happen inside the commands).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from metahp import __version__
from metahp.errors import MetaHPError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

COMMAND_MODULES = (
    "metahp.commands.kb",
    "metahp.commands.recommend",
    "metahp.commands.tune",
    "metahp.commands.verify",
    "metahp.commands.bench",
    "metahp.commands.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command group."""
    parser = argparse.ArgumentParser(
        prog="metahp",
        description="Hyperparameters from past training runs: a knowledge base, zero-shot recommendations "
                    "and warm-started search.",
    )
    parser.add_argument("--version", action="version", version=f"metahp {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MetaHPError as exc:
        print(f"metahp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metahp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
