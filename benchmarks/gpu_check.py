"""GPU check: train one built-in task at a larger size with bf16 autocast on CUDA.

Trains the built-in task (default ``python-s``: Python standard-library source, whose
corpus needs no optional package) with a GPT-2-small-sized model (12 layers, width 768,
context 512) for a fixed number of steps through ``metahp.runner.run_trial`` — bf16
autocast, TF32, fused AdamW — and records tokens/s, peak memory and the validation-loss
curve in ``<out>/gpu_check.json`` and ``<out>/gpu_check.md``. About a minute on an H200.

    python benchmarks/gpu_check.py [--task python-s] [--steps 400] [--out benchmarks/results]

Without a CUDA GPU it exits with status 2 and says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="python-s", help="a built-in causal-LM task (default: python-s)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--out", type=Path, default=OUT, help="folder for gpu_check.json and gpu_check.md")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible to torch (torch.cuda.is_available() is False); "
              "run this on a machine with an NVIDIA GPU and a CUDA build of torch.", file=sys.stderr)
        return 2

    import transformers

    from metahp.runner import run_trial
    from metahp.runner import suite as tasks

    base = tasks.get(args.task)
    if base.kind != "causal-lm":
        print(f"gpu_check: --task must be a causal-LM task, {args.task!r} is {base.kind}", file=sys.stderr)
        return 2
    model = dataclasses.replace(base.model, num_layers=args.layers, hidden_size=args.width, num_heads=args.heads,
                                seq_len=args.seq_len)
    task = dataclasses.replace(base, name=f"{base.name}-gpu", model=model, budget=args.steps,
                               eval_every=max(1, args.steps // 8), eval_size=64)
    config = {"learning_rate": 6e-4, "batch_size": args.batch_size, "warmup_ratio": 0.05, "lr_schedule": "cosine",
              "optimizer": "adamw", "beta2": 0.95, "weight_decay": 0.1, "grad_clip": 1.0, "dropout": 0.0}
    started = time.perf_counter()
    result = run_trial(task, config, device="cuda", seed=0)
    wall = time.perf_counter() - started

    report = {
        "task": base.name,
        "model": dataclasses.asdict(model),
        "params": result.metrics.get("params"),
        "config": result.config,
        "steps": result.steps_done,
        "status": result.status,
        "message": result.message,
        "objective": result.objective,
        "curve": [[s, v] for s, v in result.curve],
        "tokens_per_second": result.tokens_per_second,
        "peak_memory_bytes": result.peak_memory_bytes,
        "seconds": result.seconds,
        "wall_seconds": wall,
        "device": result.device,
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    curve = " · ".join(f"{s}: {v:.3f}" for s, v in result.curve)
    md = [
        "# GPU check",
        "",
        f"`python benchmarks/gpu_check.py --task {args.task} --steps {args.steps}` on {report['gpu']} "
        f"(torch {torch.__version__}, transformers {transformers.__version__}), {report['generated_at']}.",
        "",
        f"Task `{base.name}` with a GPT-2 of {args.layers} layers, width {args.width}, {args.heads} heads, context "
        f"{args.seq_len} ({report['params']:.3g} parameters), batch {args.batch_size}, bf16 autocast, fused AdamW.",
        "",
        "| status | steps | tokens/s | peak memory | run seconds | final val loss (nats/byte) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| {result.status} | {result.steps_done} | {result.tokens_per_second:,.0f} | "
        f"{result.peak_memory_bytes / 2**30:.2f} GiB | {result.seconds:.1f} | "
        f"{result.objective if result.objective is None else round(result.objective, 4)} |",
        "",
        f"Validation-loss curve (step: loss): {curve}",
        "",
    ]
    if result.message:
        md += [f"Message: {result.message}", ""]
    (args.out / "gpu_check.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))
    return 0 if result.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
