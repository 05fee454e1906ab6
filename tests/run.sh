#!/usr/bin/env bash
# The test command (README, .ci/run): sets up the venv and the test-only system packages,
# then runs the whole suite, end-to-end workflow runs and the SLURM test included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash envs/setup.sh
bash envs/test-system-packages.sh
exec .venv/bin/python -m pytest -ra "$@"
