"""``metahp kb build``: fill a knowledge base by training the built-in task suite.

The design for each task is a scrambled Sobol sequence over the task's space (space
filling), followed by a refinement round: configurations drawn around the best ones found
so far (half the step size of the design in the unit cube), so the good regions are
covered densely too. A subset of the design is repeated with a second seed to measure
noise. The build is resumable: a configuration already trained with the same seed is
skipped, so a re-run after a crash only trains what is missing.

Held-out tasks (:data:`HELD_OUT`) are never trained by the build: the demo and the
benchmarks use them to show what metahp recommends for a task it has not seen.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metahp.errors import InvalidConfigError
from metahp.kb import KnowledgeBase
from metahp.runner import ray_init, run_many
from metahp.runner import suite as builtin_tasks

__all__ = ["BuildPlan", "HELD_OUT", "plan_build", "build", "write_shards", "datasheet"]

#: Built-in tasks the seed knowledge base leaves out on purpose (see DATASHEET.md).
HELD_OUT: tuple[str, ...] = ("docs-m",)


@dataclass
class BuildPlan:
    """What a build will train: one ``(task, config, seed)`` per job, in order."""

    jobs: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.jobs)


def _design(space: Any, n: int, seed: int) -> np.ndarray:
    import warnings

    from scipy.stats import qmc

    with warnings.catch_warnings():  # balance needs powers of two; any n still fills the space well
        warnings.simplefilter("ignore", UserWarning)
        return qmc.Sobol(d=space.dim, scramble=True, seed=seed).random(n)


def _key(config: dict[str, Any], seed: int) -> str:
    return json.dumps(config, sort_keys=True, default=str) + f"#{seed}"


def _done(kb: KnowledgeBase, task: str) -> set[str]:
    if not kb.has_task(task):
        return set()
    trials = kb.trials(task)
    return {_key(c, int(s) if s is not None and s == s else 0) for c, s in zip(trials["config"], trials["seed"])}


def plan_build(kb: KnowledgeBase, tasks: Sequence[Any], *, n_design: int = 32, n_refine: int = 16,
               n_repeat: int = 8, repeat_seed: int = 1, design_seed: int = 0) -> tuple[BuildPlan, BuildPlan]:
    """The design jobs and the refinement jobs still missing from ``kb``.

    Args:
        kb: The store being filled (finished jobs are skipped).
        tasks: Runner tasks (objects with ``name`` and ``space``).
        n_design: Space-filling configurations per task.
        n_refine: Configurations per task around the best design points (needs the design's
            results, so it is planned from what ``kb`` holds; empty until the design is in).
        n_repeat: Design configurations also trained with ``repeat_seed``.
        repeat_seed: The second seed.
        design_seed: Seed of the Sobol scrambling.

    Returns:
        ``(design plan, refinement plan)``.
    """
    design, refine = BuildPlan(), BuildPlan()
    for i, task in enumerate(tasks):
        done = _done(kb, task.name)
        points = _design(task.space, n_design, design_seed + i)
        configs = [task.space.decode(u) for u in points]
        wanted = [(c, 0) for c in configs] + [(c, repeat_seed) for c in configs[:n_repeat]]
        for config, seed in wanted:
            if _key(config, seed) in done:
                design.skipped += 1
            else:
                design.jobs.append((task.name, config, seed))
        if n_refine <= 0 or not kb.has_task(task.name):
            continue
        trials = kb.trials(task.name, status="ok")
        # Centres come from the design alone, so the plan stays the same while refinements arrive.
        design_keys = {_key(c, 0) for c in configs}
        trials = trials[[_key(c, 0) in design_keys for c in trials["config"]]]
        if len(trials) < min(n_design, 8):
            continue
        best = trials.sort_values("objective").head(4)
        rng = np.random.default_rng(design_seed + 1000 + i)
        step = 0.5 / max(n_design, 2) ** (1 / task.space.dim)
        for j in range(n_refine):
            centre = task.space.encode(best["config"].iloc[j % len(best)])
            config = task.space.decode(np.clip(centre + rng.normal(0, step, task.space.dim), 0, 1))
            if _key(config, 0) in done:
                refine.skipped += 1
            else:
                refine.jobs.append((task.name, config, 0))
    return design, refine


def build(kb: KnowledgeBase, *, tasks: Sequence[str] | None = None, n_design: int = 32, n_refine: int = 16,
          n_repeat: int = 8, executor: str = "process", n_workers: int | None = None, device: str = "cpu",
          time_limit: float | None = None, budget: int | None = None, progress: bool = True,
          log: Callable[[str], None] = print, ray_address: str | None = None) -> dict[str, Any]:
    """Train the built-in suite (less :data:`HELD_OUT`) into ``kb``; resumable.

    Args:
        kb: The store to fill.
        tasks: Built-in task names (default: all but the held-out ones).
        n_design: Space-filling configurations per task.
        n_refine: Configurations per task around the best design points.
        n_repeat: Design configurations repeated with a second seed.
        executor: ``inline``, ``process`` or ``ray``.
        n_workers: Parallel trainings.
        device: ``cpu``, ``cuda`` or ``auto``.
        time_limit: Stop starting new batches after this many seconds (the build resumes later).
        budget: Override every task's training steps (for quick checks; the seed uses the tasks' own).
        progress: Progress bars.
        log: Where progress lines go.
        ray_address: ``executor="ray"``: a running cluster (``None``: a local Ray); joined once
            for the whole build, every result written here, by this process.

    Returns:
        Counts and timings of what ran.
    """
    names = list(tasks) if tasks is not None else [n for n in builtin_tasks.names() if n not in HELD_OUT]
    unknown = [n for n in names if n not in builtin_tasks.names()]
    if unknown:
        raise InvalidConfigError(f"unknown built-in tasks {unknown}; choose from {builtin_tasks.names()}")
    suite = [builtin_tasks.get(n) for n in names]
    started = time.perf_counter()
    if executor == "ray":
        if ray_init(ray_address):  # one Ray (of all cores, when local) for every batch, shut down at the end
            import ray

            try:
                return build(kb, tasks=tasks, n_design=n_design, n_refine=n_refine, n_repeat=n_repeat,
                             executor=executor, n_workers=n_workers, device=device, time_limit=time_limit,
                             budget=budget, progress=progress, log=log, ray_address=ray_address)
            finally:
                ray.shutdown()
    report: dict[str, Any] = {"tasks": len(suite), "trained": 0, "skipped": 0, "status": {}}
    for phase in ("design", "refine"):
        design, refine = plan_build(kb, suite, n_design=n_design, n_refine=n_refine, n_repeat=n_repeat)
        plan = design if phase == "design" else refine
        report["skipped"] += plan.skipped
        log(f"{phase}: {len(plan)} trainings to run ({plan.skipped} already in {kb.path or ':memory:'})")
        # Batches keep a time limit honest and let a crash lose at most one batch's running trials.
        batch = max(1, (n_workers or 1) * 8)
        for start in range(0, len(plan.jobs), batch):
            if time_limit is not None and time.perf_counter() - started > time_limit:
                log(f"time limit of {time_limit:.0f} s reached; run the build again to resume")
                report["seconds"] = time.perf_counter() - started
                report["complete"] = False
                return report
            jobs = [(name, config, seed, budget) for name, config, seed in plan.jobs[start:start + batch]]
            results = run_many(jobs, executor=executor, n_workers=n_workers, kb=kb,
                               progress=progress, device=device, ray_address=ray_address)
            for r in results:
                report["status"][r.status] = report["status"].get(r.status, 0) + 1
            report["trained"] += len(results)
    report["seconds"] = time.perf_counter() - started
    report["complete"] = True
    return report


def write_shards(kb: KnowledgeBase, folder: Path) -> Path:
    """Export ``kb`` as the bundled seed shards in ``folder`` (replacing the old shards)."""
    import shutil
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = kb.export(Path(tmp) / "bundle")
        for old in list(folder.glob("*.parquet")) + [folder / "manifest.json"]:
            old.unlink(missing_ok=True)
        for item in bundle.iterdir():
            shutil.copy2(item, folder / item.name)
    return folder


def counts_section(stats: dict[str, Any]) -> list[str]:
    """The datasheet's "Counts" section (from ``KnowledgeBase.stats()``), which a test checks against the shards."""
    return [
        "## Counts",
        "",
        f"- tasks: {stats['tasks']}",
        f"- trials: {stats['trials']}",
        f"- by status: {', '.join(f'{k} {v}' for k, v in sorted(stats['status'].items()))}",
        "",
    ]


def datasheet(kb: KnowledgeBase, *, build_info: dict[str, Any] | None = None) -> str:
    """A Markdown datasheet of a built knowledge base: how it was made, what it holds, its limits."""
    stats = kb.stats()
    trials = kb.trials()
    info = build_info or {}
    lines = [
        "# Seed knowledge base — datasheet",
        "",
        "The trials in these shards were produced by metahp's own runner (`metahp kb build`) training tasks of "
        "the built-in suite (`metahp.tasks.builtin()`) with metahp's training loop: "
        + ", ".join(f"`{f}`" for f in kb.families()) + ".",
        "",
        "## How it was made",
        "",
        f"- Design per task: {info.get('n_design', '?')} configurations of a scrambled Sobol sequence over the "
        f"task's space, {info.get('n_repeat', '?')} of them repeated with a second seed (noise), then "
        f"{info.get('n_refine', '?')} configurations drawn around the four best (refinement).",
        f"- Command: `{info.get('command', 'metahp kb build')}`",
        f"- Hardware: {info.get('hardware', platform.platform())}",
        f"- Device: {', '.join(sorted(set(trials['device'].dropna()))) or 'n/a'}",
        f"- Wall time of the build: {info.get('wall_seconds', float('nan')):.0f} s; summed training time "
        f"{np.nansum(trials['cost'].to_numpy(dtype=float)):.0f} s.",
        f"- Seeds: {', '.join(str(int(s)) for s in sorted(set(trials['seed'].dropna())))}.",
        f"- Held-out tasks (never trained into the seed, used by `metahp demo`): {', '.join(HELD_OUT)}.",
        "- Built-in tasks not in the seed: "
        + (", ".join(n for n in builtin_tasks.names() if n not in set(trials["task"]) and n not in HELD_OUT)
           or "none") + (f" ({info['absent_because']})" if info.get("absent_because") else "") + ".",
        *[f"- {note}" for note in info.get("notes", [])],
        "",
        *counts_section(stats),
        "| task | family | kind | trials | ok | diverged | failed | best objective | direction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, group in trials.groupby("task", sort=True):
        status = group["status"].value_counts()
        ok = group[group["status"] == "ok"]
        best = ok["value"].max() if (ok["direction"] == "maximize").all() else ok["value"].min()
        lines.append(
            f"| {name} | {group['family'].iloc[0]} | {builtin_tasks.get(str(name)).kind} | {len(group)} | "
            f"{status.get('ok', 0)} | {status.get('diverged', 0)} | {status.get('failed', 0)} | "
            f"{best:.4f} | {group['direction'].iloc[0]} |"
        )
    lines += ["", "## Search spaces", ""]
    for family in kb.families():
        lines.append(f"- `{family}`: {kb.space(family)!r}")
    lines += [
        "",
        "## Known limits",
        "",
        "- Tiny models and short budgets (seconds per trial): the landscape of hyperparameters is that of "
        "small-scale training; transfer to large models is what the meta-features (parameters, tokens, "
        "tokens per parameter) have to bridge.",
        "- Byte-level tokenisation for the from-scratch tasks; validation losses are nats per byte.",
        "- Two seeds only for a subset: the noise estimate is coarse.",
        "- Trials ran on one machine type; tokens/s and seconds are not comparable across devices.",
        "",
    ]
    return "\n".join(lines)
