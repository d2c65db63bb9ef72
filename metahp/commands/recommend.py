"""``metahp recommend``: zero-shot configurations for a task, with the reasons."""

from __future__ import annotations

import argparse
import json
import math
import warnings
from typing import Any

from metahp.commands.kb import BUILTIN_TASKS_HINT, add_kb_argument, open_kb
from metahp.errors import InvalidConfigError, MetaHPError

__all__ = ["register"]

_EPILOG = """\
examples:
  metahp recommend --task steplaw-dense/N429M-D50B -k 5 --exclude steplaw-dense/N429M-D50B
  metahp recommend --meta model_params_nonembedding=3.5e8,budget_tokens=7e9,model_seq_len=2048
  metahp recommend --meta model_params=2.2e7,model_pretrained=1 --regime finetune
  metahp recommend --meta model_params_nonembedding=3e8,budget_tokens=2e10 --family steplaw-dense
  metahp recommend --task nmt/en-ja --model knn --json
  metahp recommend --task docs-m -k 3                  # a built-in task the store does not hold
  metahp recommend --task docs-m --candidates grid.csv # choose among the rows of a sweep grid
"""


def register(subparsers: Any) -> None:
    """Add the ``recommend`` command."""
    parser = subparsers.add_parser(
        "recommend", help="zero-shot hyperparameters for a task from the knowledge base",
        description="Recommend a portfolio of k configurations for a task without training, "
                    "with predicted scores and the nearest source tasks as explanation.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", default=None,
                        help=f"name of a task in the knowledge base, or of a built-in task (`{BUILTIN_TASKS_HINT}`)")
    parser.add_argument("--meta", default=None, metavar="KEY=VALUE,...",
                        help="meta-features of the task (added to / overriding the named task's)")
    parser.add_argument("--family", default=None,
                        help="family to learn from and take the search space of (default: every comparable task)")
    parser.add_argument("--regime", default=None, help="pretrain, finetune or lora (default: from the task)")
    parser.add_argument("--objective", default=None, choices=["loss", "score"],
                        help="only learn from sources whose objective is a loss (or a score)")
    parser.add_argument("-k", type=int, default=5, help="number of configurations (default 5)")
    parser.add_argument("--model", default="lgbm", help="meta-model: lgbm, gp or knn (default lgbm)")
    parser.add_argument("--exclude", nargs="+", default=None, metavar="NAME",
                        help="tasks whose trials must not be used (e.g. the task itself, for leave-one-out)")
    parser.add_argument("--candidates", default=None, metavar="FILE",
                        help="CSV or Parquet file of configurations (one column per parameter) to choose among")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_kb_argument(parser)
    parser.set_defaults(func=_run)


def _parse_meta(text: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise InvalidConfigError(f"--meta takes key=number pairs separated by commas, got {item!r}") from None
    return out


def _run(args: argparse.Namespace) -> int:
    from metahp.recommender import Recommender  # on use: keeps `metahp --help` fast

    if args.k < 1:
        raise MetaHPError(f"-k must be at least 1, got {args.k}")
    kb = open_kb(args, must_exist=True)
    meta = _parse_meta(args.meta)
    task: Any
    family = args.family
    builtin = None
    if args.task and not kb.has_task(args.task):
        from metahp.runner import suite as tasks  # on use: keeps `metahp --help` fast

        if args.task in tasks.names():
            from metahp.app import task_spec_of

            builtin = task_spec_of(args.task)  # its meta-features, family and space
    if builtin is not None:
        task = builtin
        if meta:
            task = {**builtin.meta_features, **meta}
        family = family or builtin.family
    elif args.task and meta:
        info = kb.task_info(args.task)
        task = {**info.meta_features, **meta}
        family = family or info.family
    elif args.task:
        task = args.task
    elif meta:
        task = meta
    else:
        raise MetaHPError("give --task NAME (a task of the knowledge base or a built-in task) or "
                          "--meta key=value,... (or both)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = Recommender(kb, model=args.model).recommend(
            task, space=builtin.space if builtin is not None else None, k=args.k, exclude=args.exclude,
            family=family, seed=args.seed, candidates=_read_candidates(args.candidates), regime=args.regime,
            objective=args.objective)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if args.json:
        print(json.dumps({"recommendations": [r.to_dict() for r in recs], "warnings": notes}, indent=2, default=str))
        return 0
    for note in notes:
        print(f"note: {note}")
    _print_table(recs)
    return 0


def _read_candidates(path: str | None) -> Any:
    if path is None:
        return None
    import pandas as pd

    try:
        return pd.read_parquet(path) if path.endswith((".parquet", ".pq")) else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InvalidConfigError(f"cannot read --candidates {path!r}: {exc}; give a CSV or Parquet file with one "
                                 "column per parameter") from exc


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_table(recs: list[Any]) -> None:
    names = list(recs[0].config)
    header = ["#", *names, "score", "std", "predicted"]
    rows = []
    for i, r in enumerate(recs, 1):
        pred = "" if r.predicted_objective is None else f"{r.predicted_objective:.4g}"
        score = "" if math.isnan(r.score) else f"{r.score:+.3f}"
        std = "" if math.isnan(r.std) else f"{r.std:.3f}"
        rows.append([str(i), *(_fmt(r.config[n]) for n in names), score, std, pred])
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print()
    for i, r in enumerate(recs, 1):
        print(f"{i}. {r.rationale}")
    first = recs[0]
    if first.objective_name and first.predicted_objective is not None:
        how = ("predicted at this scale by the model across scales" if math.isnan(first.score)
               else "read from the nearest tasks' results at the predicted score")
        print(f"\npredicted: {first.objective_name}, {how}")
    if first.neighbours:
        print("\nnearest source tasks (meta-feature distance, best configuration, best value):")
        for n in first.neighbours:
            cfg = ", ".join(f"{k}={_fmt(v)}" for k, v in n.best_config.items())
            print(f"  {n.task}  d={n.distance:.3f}  {cfg}  {n.objective_name}={n.best_value:.4g}")
    if first.sources:
        print(f"\nsources: {first.sources}")
    if first.filled:
        print("\nset without knowledge-base evidence:")
        for name, how in first.filled.items():
            print(f"  {name}: {how}")
