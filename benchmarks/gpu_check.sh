#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py): on a CUDA machine, the tiny `all` on the GPU, a killed
# and resumed GAN training, S2I-C / I2S steps per second at the paper preset's widths (bf16 vs
# fp32, data-wait share) and the paper preset's GPU hours on full URMP. Under 8 minutes on one GPU.
#   bash benchmarks/gpu_check.sh          # on a GPU machine; figures go to the README
#   bash benchmarks/gpu_check.sh --cpu    # smoke mode on the CPU (the test suite runs it)
# Sets up .venv first when it is missing (envs/setup.sh is a no-op when it is current).
set -euo pipefail
cd "$(dirname "$0")/.."
bash envs/setup.sh
out=${OUT:-benchmarks/out}
exec .venv/bin/python benchmarks/gpu_check.py --out "$out" "$@"
