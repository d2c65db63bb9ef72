"""GPU check: the runner's throughput and model FLOP utilisation (MFU) on a CUDA device.

Trains a GPT-2 of at least 100M parameters (default: 10 layers, width 1024, 16 heads, context
1024; byte vocabulary) on a built-in causal-LM task (default ``python-s``: Python
standard-library source, whose corpus needs no optional package) through
``metahp.runner.run_trial``, i.e. the runner's own GPU path: bf16 autocast, TF32, fused AdamW,
PyTorch's scaled-dot-product attention, the corpus held on the GPU and ``torch.compile``.

1. **Probe**: the micro-batch doubles from ``--min-batch`` (a few steps each, no compile) until a
   run fails for memory or its peak passes ``--memory-fraction`` of the device; the largest that
   fitted is kept.
2. **Measure**: ``--steps`` steps at that micro-batch, evaluated only at the end, so the
   steady-state tokens/s (from the runner's progress reports, after the first ``--warmup``
   share of the steps, which includes compiling) has no evaluation in it.
3. **Report**: tokens/s (steady state and whole run), MFU = tokens/s x FLOP per token / peak
   dense bf16 FLOP/s, with FLOP per token = 6 N + 12 L d T (N: parameters without the position
   embedding; the attention term as in PaLM's appendix B), and peak memory, in
   ``<out>/gpu_check.json`` and ``<out>/gpu_check.md`` with the command that produced them.

    python benchmarks/gpu_check.py [--task python-s] [--steps 200] [--out benchmarks/results]

Sized for a few minutes on an H100-class GPU (probes, compiling, 200 steps); not timed yet, since
no GPU was lent when it was written: give it a ``timeout`` of 5-6 minutes the first time.

Without a CUDA GPU it exits with status 2 and says so (``--device cpu`` runs the same steps on
the CPU as a smoke test of the script; its figures are not GPU figures and say so).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "results"

#: Dense bf16 peak FLOP/s (no sparsity) by device-name fragment, from the vendors' data sheets.
PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
             "A10G": 70e12, "RTX 4090": 165e12}


def peak_flops(name: str) -> float | None:
    """The data-sheet peak for a device name (longest matching fragment first), or None."""
    for key in sorted(PEAK_BF16, key=len, reverse=True):
        if key in name:
            return PEAK_BF16[key]
    return None


def flops_per_token(params_without_positions: float, layers: int, width: int, seq_len: int) -> float:
    """Training FLOP per token: 6 N for the weights plus 12 L d T for attention (forward and backward)."""
    return 6.0 * params_without_positions + 12.0 * layers * width * seq_len


def fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def _config(batch_size: int) -> dict[str, Any]:
    return {"learning_rate": 6e-4, "batch_size": batch_size, "warmup_ratio": 0.05, "lr_schedule": "cosine",
            "optimizer": "adamw", "beta2": 0.95, "weight_decay": 0.1, "grad_clip": 1.0, "dropout": 0.0}


def probe_batch(task: Any, device: str, args: argparse.Namespace) -> tuple[int, list[dict[str, Any]]]:
    """The largest micro-batch (doubling) whose short run fits; every probe's outcome."""
    import torch

    from metahp.runner import run_trial

    total = torch.cuda.get_device_properties(0).total_memory if device.startswith("cuda") else None
    probes: list[dict[str, Any]] = []
    best = 0
    batch = args.min_batch
    probe_task = dataclasses.replace(task, eval_every=args.probe_steps)
    while batch <= args.max_batch:
        result = run_trial(probe_task, _config(batch), device=device, budget=args.probe_steps, compile=False)
        fits = result.status == "ok" and (total is None or result.peak_memory_bytes <= args.memory_fraction * total)
        probes.append({"batch_size": batch, "status": result.status, "peak_memory_bytes": result.peak_memory_bytes,
                       "fits": fits, "message": result.message[:200]})
        print(f"probe batch {batch}: {result.status}, peak {result.peak_memory_bytes / 2**30:.2f} GiB", flush=True)
        if not fits:
            break
        best = batch
        batch *= 2
    return best, probes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="python-s", help="a built-in causal-LM task (default: python-s)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=None, help="skip the probe and use this micro-batch")
    parser.add_argument("--min-batch", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--probe-steps", type=int, default=4)
    parser.add_argument("--memory-fraction", type=float, default=0.9,
                        help="a probe whose peak passes this share of the device's memory does not fit")
    parser.add_argument("--compile", choices=["on", "off"], default="on", help="torch.compile the model")
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the steps left out of the steady state")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's dense bf16 peak (default: from the device name, see PEAK_BF16)")
    parser.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=OUT, help="folder for gpu_check.json and gpu_check.md")
    args = parser.parse_args()
    command = "python benchmarks/gpu_check.py " + shlex.join(sys.argv[1:])

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); "
              "run this on a machine with an NVIDIA GPU and a CUDA build of torch.", file=sys.stderr)
        return 2

    import transformers

    from metahp.runner import Progress, run_trial
    from metahp.runner import suite as tasks

    base = tasks.get(args.task)
    if base.kind != "causal-lm":
        print(f"gpu_check: --task must be a causal-LM task, {args.task!r} is {base.kind}", file=sys.stderr)
        return 2
    model = dataclasses.replace(base.model, num_layers=args.layers, hidden_size=args.width, num_heads=args.heads,
                                seq_len=args.seq_len)
    # One evaluation, at the end: the steady state between progress reports has none in it.
    task = dataclasses.replace(base, name=f"{base.name}-gpu", model=model, budget=args.steps, eval_every=args.steps,
                               eval_size=64)
    gpu = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()})"
    started = time.perf_counter()
    probes: list[dict[str, Any]] = []
    if args.batch_size is not None:
        batch = args.batch_size
    else:
        batch, probes = probe_batch(task, args.device, args)
        if batch == 0:
            print(f"gpu_check: not even batch {args.min_batch} fits: {probes[-1]['message']}", file=sys.stderr)
            return 1
    reports: list[Progress] = []
    result = run_trial(task, _config(batch), device=args.device, seed=0, compile=args.compile == "on",
                       progress=reports.append)
    wall = time.perf_counter() - started

    tokens_per_step = batch * args.seq_len
    after = [p for p in reports if p.step >= args.warmup * args.steps]
    steady = None
    if len(after) >= 2 and after[-1].seconds > after[0].seconds:
        steady = (after[-1].step - after[0].step) * tokens_per_step / (after[-1].seconds - after[0].seconds)
    params = float(result.metrics.get("params", 0.0))
    flop_token = flops_per_token(params - args.seq_len * args.width, args.layers, args.width, args.seq_len)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else (peak_flops(gpu) if cuda else None)
    mfu = steady * flop_token / peak if steady is not None and peak else None

    report = {
        "command": command, "task": base.name, "model": dataclasses.asdict(model), "params": params,
        "batch_size": batch, "probes": probes, "compile": args.compile, "steps": result.steps_done,
        "status": result.status, "message": result.message, "objective": result.objective,
        "tokens_per_second_steady": steady, "tokens_per_second_run": result.tokens_per_second,
        "flops_per_token": flop_token, "peak_flops": peak, "mfu": mfu,
        "peak_memory_bytes": result.peak_memory_bytes, "run_seconds": result.seconds, "wall_seconds": wall,
        "device": result.device, "gpu": gpu, "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = [
        "# GPU check",
        "",
        f"`{command}` on {gpu} (torch {torch.__version__}, transformers {transformers.__version__}), "
        f"{report['generated_at']}.",
        "",
    ]
    if not cuda:
        md += ["**CPU smoke run of the script: these are not GPU figures.**", ""]
    md += [
        f"Task `{base.name}` with a GPT-2 of {args.layers} layers, width {args.width}, {args.heads} heads, context "
        f"{args.seq_len} ({params / 1e6:.1f}M parameters), micro-batch {batch}"
        f"{' (largest that fitted the probe)' if probes else ''}, bf16 autocast, fused AdamW, SDPA attention, "
        f"torch.compile {args.compile}, {result.steps_done} steps.",
        "",
        "| status | tokens/s (steady) | tokens/s (whole run) | MFU | peak memory | run seconds | final val loss |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {result.status} | {fmt(steady, ',.0f')} | {result.tokens_per_second:,.0f} | "
        f"{'n/a' if mfu is None else f'{100 * mfu:.1f} %'} | {result.peak_memory_bytes / 2**30:.2f} GiB | "
        f"{result.seconds:.1f} | {fmt(result.objective, '.4f')} |",
        "",
        f"MFU = steady tokens/s x {flop_token:.4g} FLOP/token / {fmt(peak, '.3g')} FLOP/s (dense bf16 peak); "
        f"steady state: steps {after[0].step if after else '-'} to {after[-1].step if after else '-'}.",
        "",
    ]
    if probes:
        md += ["| probe batch | status | peak memory | fits |", "| ---: | --- | ---: | --- |"]
        md += [f"| {p['batch_size']} | {p['status']} | {p['peak_memory_bytes'] / 2**30:.2f} GiB | {p['fits']} |"
               for p in probes]
        md.append("")
    if result.message:
        md += [f"Message: {result.message}", ""]
    (args.out / "gpu_check.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
