"""Train one configuration of one task: our own loop, no ``Trainer``.

Failure is data: a run that diverges, runs out of memory or raises while training comes
back as a :class:`TrialResult` with status ``"diverged"`` or ``"failed"``; only bad
arguments (unknown task, invalid configuration, unusable device) raise, before training.

Divergence rule (documented in :func:`run_trial`): with ``L0`` the untrained model's
validation loss, a run diverges when a training or validation loss is not finite, or —
once warmup is over — the mean training loss of the last 5 steps or a validation loss
exceeds ``max(3 * L0, L0 + 3)``.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from metahp.errors import InvalidConfigError, TrainingError, UnknownTaskError
from metahp.runner import suite as builtin_tasks
from metahp.runner._data import encode_classification, lm_data
from metahp.runner._models import build_model, checkpoint_path, count_parameters
from metahp.runner._spec import Task
from metahp.types import STATUSES, TrialPruned

__all__ = ["TrialResult", "Pruned", "Progress", "run_trial", "resolve_task", "STATUSES", "OPTIMIZERS", "SCHEDULES"]

#: Smoothing window (steps) of the training loss checked against the divergence bound.
DIVERGENCE_WINDOW = 5
#: On CUDA the loss is read back every this many steps, not every step, to avoid a sync.
CUDA_SYNC_EVERY = 8
#: Seconds between two progress calls of one run (the last step is always reported).
PROGRESS_INTERVAL = 2.0
#: On CUDA, ``compile=None`` compiles the model with ``torch.compile`` from this many steps on:
#: compiling costs tens of seconds, which a shorter run does not earn back.
COMPILE_MIN_STEPS = 300
ReportFn = Callable[[int, float], Any]


@dataclass(frozen=True)
class Progress:
    """How far one training run has come (passed to ``run_trial(progress=...)``).

    Attributes:
        task: Task name.
        step: Optimiser steps done.
        budget: Steps the run was given.
        loss: The latest training loss.
        seconds: Wall time since the first training step (evaluations included).
    """

    task: str
    step: int
    budget: int
    loss: float
    seconds: float

    @property
    def seconds_left(self) -> float:
        """Time left at the pace so far."""
        return self.seconds / max(1, self.step) * (self.budget - self.step)

    def describe(self) -> str:
        """One line, e.g. ``step 40/200, loss 2.31, 12 s left``."""
        return f"step {self.step}/{self.budget}, loss {self.loss:.4g}, {self.seconds_left:.0f} s left"


ProgressFn = Callable[[Progress], Any]


Pruned = TrialPruned
"""Raise from a ``report`` callback to stop a run; it ends with status ``"pruned"`` (the same class as
:class:`metahp.TrialPruned`, which a :class:`metahp.Study` objective raises)."""


@dataclass
class TrialResult:
    """The outcome of one training run.

    Attributes:
        task: Task name.
        config: The full configuration trained (missing parameters filled with defaults).
        objective: Final validation loss (causal LM) or accuracy (classification), in the
            task's own direction; the last evaluation for a pruned run; ``None`` when the
            run diverged or failed.
        direction: ``"minimize"`` or ``"maximize"``.
        status: ``"ok"``, ``"diverged"``, ``"failed"`` or ``"pruned"``.
        curve: ``(step, value)`` of every evaluation, starting with the untrained model at step 0.
        seconds: Wall time of the whole run (model build, training, evaluation).
        tokens_per_second: Training tokens (padding included) per second of training.
        peak_memory_bytes: CUDA: peak allocated memory; CPU: peak resident memory above the
            resident memory at the start of the run.
        device: Where it ran (``"cpu"``, ``"cuda:0"``).
        seed: The seed.
        steps_done: Optimiser steps taken.
        budget: Steps the run was given.
        message: Why a run diverged, failed or was pruned.
        train_loss: Mean training loss over the last steps, if any step ran.
        metrics: Further numbers (``val_loss``, ``initial_val_loss``, ``params``, ...).
    """

    task: str
    config: dict[str, Any]
    objective: float | None
    direction: str
    status: str
    curve: list[tuple[int, float]]
    seconds: float
    tokens_per_second: float
    peak_memory_bytes: int
    device: str
    seed: int
    steps_done: int
    budget: int
    message: str = ""
    train_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run finished its budget."""
        return self.status == "ok"

    @property
    def fidelity(self) -> float | None:
        """Fraction of the budget trained, ``None`` when no step ran."""
        return self.steps_done / self.budget if self.steps_done > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python values."""
        return asdict(self)

    def to_record(self) -> dict[str, Any]:
        """A row for ``KnowledgeBase.add_trials`` (objective in the task's own direction)."""
        metrics = {"tokens_per_second": self.tokens_per_second, "peak_memory_bytes": float(self.peak_memory_bytes),
                   "steps_done": float(self.steps_done), "budget": float(self.budget), **self.metrics}
        if self.train_loss is not None:
            metrics["train_loss"] = self.train_loss
        if self.message:
            metrics["message"] = self.message  # type: ignore[assignment]
        return {
            "config": dict(self.config),
            "objective": self.objective,
            "status": self.status,
            "fidelity": self.fidelity,
            "cost": self.seconds,
            "metrics": metrics,
            "curve": [[int(s), float(v)] for s, v in self.curve],
            "seed": self.seed,
            "device": self.device,
            "source": "runner",
        }


# ------------------------------------------------------------------------- arguments
def resolve_task(task: Task | str) -> Task:
    """A task object, or the built-in task of that name.

    Raises:
        UnknownTaskError: No built-in task has that name.
    """
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return builtin_tasks.get(task)
    raise UnknownTaskError(f"a task must be a metahp Task or a built-in task name, got {type(task).__name__}")


def _resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise TrainingError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:index]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} asked for but CUDA is not available; use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise TrainingError(f"device {device!r} is not supported; use 'auto', 'cpu' or 'cuda[:index]'")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ optimisers, schedules
def _adamw(groups: list[dict[str, Any]], lr: float, beta2: float, cuda: bool) -> Any:
    import torch

    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, beta2), fused=cuda or None)


def _sgd(groups: list[dict[str, Any]], lr: float, beta2: float, cuda: bool) -> Any:
    import torch

    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def _rmsprop(groups: list[dict[str, Any]], lr: float, beta2: float, cuda: bool) -> Any:
    import torch

    return torch.optim.RMSprop(groups, lr=lr, alpha=beta2)


def _adafactor(groups: list[dict[str, Any]], lr: float, beta2: float, cuda: bool) -> Any:
    from transformers.optimization import Adafactor

    return Adafactor(groups, lr=lr, relative_step=False, scale_parameter=False, warmup_init=False)


#: Optimiser name -> builder ``(param_groups, lr, beta2, cuda)``. SGD uses momentum 0.9;
#: RMSprop uses ``beta2`` as its smoothing constant; SGD and Adafactor ignore ``beta2``.
OPTIMIZERS: dict[str, Callable[[list[dict[str, Any]], float, float, bool], Any]] = {
    "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop, "adafactor": _adafactor,
}

#: Schedule name -> multiplier of the learning rate at a fraction ``p`` of the post-warmup steps.
SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda p: 1.0,
    "linear": lambda p: max(0.0, 1.0 - p),
    "cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * min(p, 1.0))),
}


def lr_multiplier(step: int, budget: int, warmup_ratio: float, schedule: str) -> float:
    """Learning-rate multiplier before optimiser step ``step`` (0-based): linear warmup, then the schedule.

    Example:
        >>> [round(lr_multiplier(s, 10, 0.2, "linear"), 3) for s in (0, 1, 2, 6, 9)]
        [0.5, 1.0, 1.0, 0.5, 0.125]
    """
    warmup = round(warmup_ratio * budget)
    if step < warmup:
        return (step + 1) / warmup
    return SCHEDULES[schedule]((step - warmup) / max(1, budget - warmup))


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    # No weight decay on biases and LayerNorm weights, as in most transformer recipes.
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


# ------------------------------------------------------------------------------ memory
def _proc_status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class _MemoryMeter:
    """Peak memory of one run: CUDA allocator peak, or CPU resident-set high-water mark.

    On Linux the kernel's high-water mark (``VmHWM``) is reset through
    ``/proc/self/clear_refs`` so the peak belongs to this run; elsewhere the process's
    ``ru_maxrss`` is used, which only grows and so gives 0 when an earlier run peaked higher.
    """

    def __init__(self, device: Any) -> None:
        self.device = device
        self.start_kib = 0
        self.hwm = False

    def __enter__(self) -> _MemoryMeter:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
                fh.write("5")
            rss = _proc_status_kib("VmRSS")
            self.hwm = rss is not None
            self.start_kib = rss or 0
        except OSError:
            self.hwm = False
        if not self.hwm:
            self.start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def peak_bytes(self) -> int:
        import torch

        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        now = _proc_status_kib("VmHWM") if self.hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0, (now or 0) - self.start_kib) * 1024


# ------------------------------------------------------------------------------ batches
class _LMBatches:
    """Random training windows (seeded) and fixed, evenly spaced validation windows."""

    def __init__(self, task: Task, seq_len: int, batch_size: int, seed: int, device: Any) -> None:
        import torch

        data = lm_data(task.dataset)
        self.train = torch.from_numpy(data.train.astype(np.int64))
        val = torch.from_numpy(data.val.astype(np.int64))
        if len(self.train) <= seq_len + 1 or len(val) <= seq_len + 1:
            raise TrainingError(f"task {task.name!r}: corpus too short for seq_len={seq_len}")
        self.seq_len, self.batch_size, self.device = seq_len, batch_size, device
        self.generator = torch.Generator().manual_seed(seed)
        self.offsets = torch.arange(seq_len + 1)
        starts = torch.from_numpy(np.linspace(0, len(val) - seq_len - 1, task.eval_size).astype(np.int64))
        self.val = val[starts[:, None] + self.offsets]
        self.n_train = len(self.train)
        if device.type == "cuda":
            # The corpus lives on the GPU: each batch is gathered there, no host-to-device copy per step.
            self.train, self.offsets = self.train.to(device), self.offsets.to(device)

    def tokens_per_batch(self) -> int:
        return self.batch_size * self.seq_len

    def next(self) -> tuple[dict[str, Any], Any]:
        import torch

        starts = torch.randint(0, self.n_train - self.seq_len - 1, (self.batch_size,), generator=self.generator)
        window = self.train[starts.to(self.offsets.device)[:, None] + self.offsets]
        return {"input_ids": window[:, :-1]}, window[:, 1:]

    def eval_batches(self, size: int = 32) -> Iterator[tuple[dict[str, Any], Any]]:
        for i in range(0, len(self.val), size):
            window = self.val[i:i + size].to(self.device)
            yield {"input_ids": window[:, :-1]}, window[:, 1:]


class _ClassificationBatches:
    """Shuffled epochs of the training set (seeded); a fixed prefix of the validation set."""

    def __init__(self, task: Task, seq_len: int, batch_size: int, seed: int, device: Any) -> None:
        import torch

        tokenizer = checkpoint_path(task.model.checkpoint) if task.model.pretrained else None
        self.data = encode_classification(task.dataset, seq_len, tokenizer)
        self.batch_size, self.seq_len, self.device = batch_size, seq_len, device
        self.generator = torch.Generator().manual_seed(seed)
        self.order: list[int] = []
        self.n_val = min(task.eval_size, len(self.data.val_labels))

    def tokens_per_batch(self) -> int:
        return self.batch_size * self.seq_len

    def next(self) -> tuple[dict[str, Any], Any]:
        import torch

        d = self.data
        if len(self.order) < self.batch_size:
            self.order += torch.randperm(len(d.train_labels), generator=self.generator).tolist()
        idx = torch.tensor(self.order[: self.batch_size])
        del self.order[: self.batch_size]
        inputs = {"input_ids": d.train_ids[idx].to(self.device),
                  "attention_mask": d.train_mask[idx].to(self.device)}
        return inputs, d.train_labels[idx].to(self.device)

    def eval_batches(self, size: int = 64) -> Iterator[tuple[dict[str, Any], Any]]:
        d = self.data
        for i in range(0, self.n_val, size):
            j = min(i + size, self.n_val)
            yield ({"input_ids": d.val_ids[i:j].to(self.device),
                    "attention_mask": d.val_mask[i:j].to(self.device)},
                   d.val_labels[i:j].to(self.device))


_BATCHES: dict[str, type[_LMBatches] | type[_ClassificationBatches]] = {
    "causal-lm": _LMBatches, "classification": _ClassificationBatches,
}


# ------------------------------------------------------------------------------- the run
def _loss(logits: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))


class _Diverged(Exception):
    pass


@dataclass
class _State:
    """What a run has produced so far; kept when it stops early."""

    curve: list[tuple[int, float]] = field(default_factory=list)
    steps_done: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0
    train_losses: list[float] = field(default_factory=list)
    val_loss: float = math.nan
    initial_val_loss: float = math.nan
    params: int = 0


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _evaluate(model: Any, batches: _LMBatches | _ClassificationBatches, kind: str,
              autocast: Any) -> tuple[float, float]:
    """(objective value, mean validation loss) of the current model."""
    import torch

    model.eval()
    total_loss, total_items, correct = 0.0, 0, 0
    with torch.no_grad(), autocast():
        for inputs, targets in batches.eval_batches():
            logits = model(**inputs).logits
            n = targets.numel()
            total_loss += float(_loss(logits, targets)) * n
            total_items += n
            if kind == "classification":
                correct += int((logits.argmax(-1) == targets).sum())
    model.train()
    loss = total_loss / max(1, total_items)
    return (loss if kind == "causal-lm" else correct / max(1, total_items)), loss


def _train(task: Task, config: dict[str, Any], device: Any, seed: int, budget: int, report: ReportFn | None,
           state: _State, progress: ProgressFn | None = None, compile_model: bool | None = None) -> None:
    import torch

    cuda = device.type == "cuda"
    autocast: Callable[[], Any] = (
        (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    )
    spec = task.model.with_config(config)
    batches = _BATCHES[task.kind](task, spec.seq_len, int(config["batch_size"]), seed, device)

    _seed_everything(seed)
    model = build_model(spec, dropout=float(config.get("dropout", 0.0))).to(device)
    model.train()
    state.params = count_parameters(model)
    if cuda and (compile_model if compile_model is not None else budget >= COMPILE_MIN_STEPS):
        import torch._dynamo

        # A graph the compiler cannot handle (or no Triton on the machine) runs eagerly instead of failing the trial.
        torch._dynamo.config.suppress_errors = True
        model = torch.compile(model)
    optimizer = OPTIMIZERS[str(config["optimizer"])](
        _param_groups(model, float(config.get("weight_decay", 0.0))), float(config["learning_rate"]),
        float(config.get("beta2", 0.999)), cuda)
    schedule, warmup_ratio = str(config.get("lr_schedule", "constant")), float(config.get("warmup_ratio", 0.0))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, budget, warmup_ratio, schedule))
    grad_clip = float(config.get("grad_clip", 0.0))
    warmup_steps = round(warmup_ratio * budget)
    every = task.eval_interval(budget)
    sync_every = CUDA_SYNC_EVERY if cuda else 1

    value, l0 = _evaluate(model, batches, task.kind, autocast)
    state.curve.append((0, value))
    state.initial_val_loss = state.val_loss = l0
    if not math.isfinite(l0):
        raise _Diverged("the untrained model's validation loss is not finite")
    bound = max(3.0 * l0, l0 + 3.0)
    pending: list[Any] = []

    def check_losses(step: int) -> None:
        if not pending:
            return
        values = torch.stack(pending).tolist()
        pending.clear()
        state.train_losses = (state.train_losses + values)[-DIVERGENCE_WINDOW:]
        if not all(math.isfinite(v) for v in values):
            raise _Diverged(f"training loss is not finite at step {step}")
        recent = sum(state.train_losses) / len(state.train_losses)
        if step > warmup_steps and recent > bound:
            raise _Diverged(f"training loss {recent:.3g} (mean of last {len(state.train_losses)} steps) exceeds "
                            f"max(3*L0, L0+3) = {bound:.3g} at step {step}")

    tic = started = last_progress = time.perf_counter()
    for step in range(1, budget + 1):
        inputs, targets = batches.next()
        with autocast():
            logits = model(**inputs).logits
        loss = _loss(logits, targets)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        pending.append(loss.detach())
        state.steps_done = step
        state.train_tokens += batches.tokens_per_batch()
        evaluate_now = step % every == 0 or step == budget
        if step % sync_every == 0 or evaluate_now:
            check_losses(step)
            if progress is not None and state.train_losses:
                now = time.perf_counter()
                if now - last_progress >= PROGRESS_INTERVAL or step == budget:
                    last_progress = now
                    progress(Progress(task.name, step, budget, state.train_losses[-1], now - started))
        if evaluate_now:
            if cuda:
                torch.cuda.synchronize(device)
            state.train_seconds += time.perf_counter() - tic
            value, val_loss = _evaluate(model, batches, task.kind, autocast)
            state.curve.append((step, value))
            state.val_loss = val_loss
            if not math.isfinite(val_loss) or (step > warmup_steps and val_loss > bound):
                raise _Diverged(f"validation loss {val_loss:.3g} at step {step} is not finite or exceeds {bound:.3g}")
            if report is not None and report(step, value) and step < budget:
                raise Pruned(f"pruned by report() at step {step}")
            tic = time.perf_counter()


def run_trial(
    task: Task | str,
    config: dict[str, Any] | None = None,
    *,
    device: str = "auto",
    seed: int = 0,
    budget: int | None = None,
    report: ReportFn | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    compile: bool | None = None,  # noqa: A002 - the name torch gives it
) -> TrialResult:
    """Train one configuration of a task and evaluate it on the task's held-out split.

    The model is a Hugging Face transformers model built from the task's model spec and
    trained by metahp's own loop. On CUDA it uses bf16 autocast, TF32 matmuls, fused AdamW,
    PyTorch's scaled-dot-product attention, the training corpus held on the GPU and, for runs
    of at least ``COMPILE_MIN_STEPS`` steps, ``torch.compile``; on the CPU float32 with
    ``threads`` threads (and the same attention).

    Statuses:
        * ``"ok"``: the budget was trained; ``objective`` is the final evaluation.
        * ``"diverged"``: a loss was not finite, or — after warmup — the mean training loss
          of the last 5 steps or a validation loss exceeded ``max(3 * L0, L0 + 3)``, with
          ``L0`` the untrained model's validation loss; ``objective`` is ``None``.
        * ``"failed"``: building or training raised (out of memory, ``hidden_size`` not
          divisible by ``num_heads``, ...); ``message`` says what; ``objective`` is ``None``.
        * ``"pruned"``: ``report`` returned a true value or raised :class:`Pruned`;
          ``objective`` is the last evaluation and the curve is kept.

    Args:
        task: A :class:`~metahp.runner.Task` or the name of a built-in task (``metahp.tasks``).
        config: Hyperparameters with canonical names; missing ones take the space's defaults.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        seed: Seeds initialisation, dropout and data order; on the CPU the same seed gives the same curve.
        budget: Training steps, overriding the task's own budget.
        report: Called as ``report(step, value)`` after every evaluation but the untrained
            baseline at step 0; a true return value (or raising :class:`Pruned`) stops the
            run as pruned. A prune request at the final evaluation is ignored: the run is complete.
        threads: CPU threads for torch (default: all cores this process may use); restored afterwards.
        progress: Called with a :class:`Progress` (steps done, latest training loss, time so
            far and left) at most every ``PROGRESS_INTERVAL`` seconds and after the last step.
        compile: ``torch.compile`` the model on CUDA (``None``: when the budget is at least
            ``COMPILE_MIN_STEPS`` steps); ignored on the CPU.

    Returns:
        The :class:`TrialResult`; never raises for a run that goes wrong while training.

    Raises:
        UnknownTaskError: ``task`` names no built-in task.
        InvalidConfigError: ``config`` does not fit the task's space, or ``budget`` is not a positive integer.
        TrainingError: The device is unusable or the task's data or checkpoint is missing.
    """
    import torch

    task = resolve_task(task)
    full = task.space.validate(dict(config or {}), fill_defaults=True)
    missing = [name for name in ("learning_rate", "batch_size", "optimizer") if name not in full]
    if missing:
        raise InvalidConfigError(f"task {task.name!r}: its space must define {missing}", parameter=missing[0])
    if full["optimizer"] not in OPTIMIZERS or full.get("lr_schedule", "constant") not in SCHEDULES:
        raise InvalidConfigError(f"optimizer must be one of {sorted(OPTIMIZERS)} and lr_schedule one of "
                                 f"{sorted(SCHEDULES)}", parameter="optimizer")
    steps = task.budget if budget is None else budget
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InvalidConfigError(f"budget must be a positive integer number of steps, got {budget!r}",
                                 parameter="budget")
    steps = int(steps)
    dev = _resolve_device(device)
    if task.model.pretrained:
        checkpoint_path(task.model.checkpoint)  # a missing checkpoint is a setup error, not a failed trial

    start = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.set_num_threads(max(1, threads or available_cores()))
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    state = _State()
    status, message = "ok", ""
    meter = _MemoryMeter(dev)
    try:
        with meter:
            _train(task, full, dev, seed, steps, report, state, progress, compile)
    except Pruned as exc:
        status, message = "pruned", str(exc) or "pruned"
    except _Diverged as exc:
        status, message = "diverged", str(exc)
    except TrainingError:
        raise
    except Exception as exc:  # noqa: BLE001 - failure is data: any error while training is recorded
        status, message = "failed", f"{type(exc).__name__}: {exc}"[:2000]
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        if dev.type == "cpu":
            torch.set_num_threads(previous_threads)
    seconds = time.perf_counter() - start

    objective: float | None = None
    if status in ("ok", "pruned") and state.curve:
        objective = float(state.curve[-1][1])
    metrics: dict[str, float] = {"params": float(state.params), "train_tokens": float(state.train_tokens)}
    if math.isfinite(state.val_loss):
        metrics["val_loss"] = state.val_loss
    if math.isfinite(state.initial_val_loss):
        metrics["initial_val_loss"] = state.initial_val_loss
    train_loss = sum(state.train_losses) / len(state.train_losses) if state.train_losses else None
    if train_loss is not None and not math.isfinite(train_loss):
        train_loss = None
    return TrialResult(
        task=task.name, config=full, objective=objective, direction=task.direction, status=status,
        curve=[(int(s), float(v)) for s, v in state.curve], seconds=seconds,
        tokens_per_second=state.train_tokens / state.train_seconds if state.train_seconds > 0 else 0.0,
        peak_memory_bytes=meter.peak_bytes(), device=str(dev), seed=seed, steps_done=state.steps_done,
        budget=steps, message=message, train_loss=train_loss, metrics=metrics,
    )
