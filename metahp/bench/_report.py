"""Results files: the protocol's JSON, a Markdown table and a regret-versus-T plot per suite."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from metahp.errors import InvalidConfigError

__all__ = ["write_results", "markdown_table", "summary_table", "plot_regret", "provenance"]

_VERSIONED = ("metahp", "optuna", "syne-tune", "botorch", "torch", "lightgbm", "numpy")


def provenance() -> dict[str, Any]:
    """``git_rev`` (and ``git_dirty``: uncommitted changes under ``metahp/``), ``generated_at``, package versions."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=root).stdout.strip() or "unknown"
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "metahp"], capture_output=True,
                                    text=True, timeout=10, cwd=root).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = "unknown", False
    versions: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"git_rev": rev, "git_dirty": dirty, "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": versions, "cpus": os.cpu_count()}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown_table(record: dict[str, Any]) -> str:
    """The suite's results as Markdown: regret and rank per T, gap %, speed-up, seconds per suggestion."""
    ts = [str(t) for t in record["T"]]
    gap_ts = [t for t in dict.fromkeys(("1", "10", ts[-1])) if t in ts]
    head = (["method"] + [f"regret@{t}" for t in ts] + ["rank@10" if "10" in ts else f"rank@{ts[-1]}"]
            + ([f"gap%@{t}" for t in gap_ts] if record.get("loss_like") else [])
            + ["speed-up vs gp", "s/suggestion"])
    lines = [
        f"### {record['suite']} — {record['tasks']} tasks × {record['seeds']} seeds, budget {record['budget']}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    rank_t = "10" if "10" in ts else ts[-1]
    best_rank = min(m["rank"][rank_t] for m in record["methods"].values())
    for name, m in record["methods"].items():
        rank = _fmt(m["rank"][rank_t], 2)
        cells = [name] + [_fmt(m["regret"][t], 4) for t in ts]
        cells.append(f"**{rank}**" if m["rank"][rank_t] == best_rank else rank)
        if record.get("loss_like"):
            cells += [_fmt(m["gap_pct"][t], 2) for t in gap_ts]
        cells += [_fmt(m.get("speedup_vs_gp"), 2), _fmt(m.get("seconds_per_suggestion"), 4)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = list(record.get("notes", []))
    notes += [f"`{n}`: {m['note']}" for n, m in record["methods"].items() if m.get("note")]
    notes += [f"`{n}` failed: {err}" for n, err in record.get("failed_methods", {}).items()]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += ["", f"Normalised regret (0 = best in pool), mean over tasks × seeds; rank among methods (1 = best). "
                  f"git {record.get('git_rev', 'unknown')[:10]}, {record.get('generated_at', '')}."]
    return "\n".join(lines) + "\n"


def plot_regret(record: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Mean normalised regret versus T for every method (log scale), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, m in record["methods"].items():
        curve = [max(v, 1e-5) for v in m["regret_curve"]]
        style = "-" if name.startswith("metahp") else "--"
        ax.plot(range(1, len(curve) + 1), curve, style, label=name, linewidth=2.2 if name.startswith("metahp") else 1.2)
    ax.set_yscale("log")
    ax.set_xlabel("evaluations T")
    ax.set_ylabel("mean normalised regret (floored at 1e-5)")
    ax.set_title(f"{record['suite']}: {record['tasks']} tasks × {record['seeds']} seeds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_results(record: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``transfer_<suite>.json``, ``.md`` and ``.png`` into ``out_dir``.

    Adds ``git_rev``, ``generated_at`` and package versions to ``record`` when absent.

    Returns:
        Kind (``json``, ``md``, ``png``) -> path written.
    """
    for key, value in provenance().items():
        record.setdefault(key, value)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"transfer_{record['suite']}"
    paths = {"json": stem.with_suffix(".json"), "md": stem.with_suffix(".md"), "png": stem.with_suffix(".png")}
    paths["json"].write_text(json.dumps(record, indent=1) + "\n")
    paths["md"].write_text(markdown_table(record))
    plot_regret(record, paths["png"])
    return paths


def summary_table(results_dir: str | os.PathLike[str], ts: Sequence[int] = (1, 10, 50)) -> str:
    """The tables of ``docs/benchmarks.md``: mean normalised regret at ``ts``, mean rank at T = 10, speed-up.

    Rendered from the ``transfer_*.json`` files in ``results_dir``; a method absent from a
    suite shows "—".

    Raises:
        InvalidConfigError: No results in ``results_dir``.
    """
    files = sorted(Path(results_dir).glob("transfer_*.json"))
    if not files:
        raise InvalidConfigError(f"no transfer_*.json in {str(results_dir)!r}; run `metahp bench transfer` first")
    records = [json.loads(f.read_text()) for f in files]
    methods: list[str] = []
    for r in records:
        methods += [m for m in r["methods"] if m not in methods]
    label = " / ".join(f"T={t}" for t in ts)
    head = ["method"] + [r["suite"] for r in records]
    lines = [f"Mean normalised regret ({label}); lower is better.", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for m in methods:
        cells = [m]
        for r in records:
            entry = r["methods"].get(m)
            cells.append("—" if entry is None else " / ".join(
                _fmt(entry["regret"].get(str(t)), 3) for t in ts))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean rank at T = 10 among the methods run on each suite (1 = best); best in bold.", "",
              "| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    best = {r["suite"]: min(e["rank"].get("10", float("inf")) for e in r["methods"].values()) for r in records}
    for m in methods:
        cells = [m]
        for r in records:
            entry = r["methods"].get(m)
            rank = None if entry is None else entry["rank"].get("10")
            text = _fmt(rank, 2)
            cells.append(f"**{text}**" if rank is not None and rank == best[r["suite"]] else text)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Speed-up against cold GP-BO (`gp`): the T at which cold GP first reaches its own 50-trial mean "
              "regret (at least 0.0005), divided by the T at which the method does; — where it never does.", "",
              "| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for m in methods:
        if m == "gp":
            continue
        cells = [m]
        for r in records:
            entry = r["methods"].get(m)
            cells.append(_fmt(None if entry is None else entry.get("speedup_vs_gp"), 1))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({r["seeds"] for r in records})
    counts = ", ".join(f"{r['suite']} ({r['tasks']} tasks)" for r in records)
    lines += ["", f"{counts}; seeds {seeds}; generated from the transfer_*.json results by `metahp bench summary`."]
    return "\n".join(lines) + "\n"
