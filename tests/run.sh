#!/usr/bin/env bash
# The test command (README, .ci/run): sets up the venv and the test-only system packages,
# then runs the whole suite, end-to-end workflow runs and the SLURM test included, on two
# pytest-xdist workers (one test module per worker at a time; tests/conftest.py hands out the
# longest modules first). PYTEST_WORKERS=0 runs it in one process; arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash envs/setup.sh
bash envs/test-system-packages.sh
# The tests that train in-process get the malloc settings every workflow job runs with
# (crossmodal.config.MALLOC_TUNABLES: fewer page faults, same results).
GLIBC_TUNABLES="${GLIBC_TUNABLES:-$(.venv/bin/python -c 'from crossmodal.config import MALLOC_TUNABLES; print(MALLOC_TUNABLES)')}"
export GLIBC_TUNABLES
exec .venv/bin/python -m pytest -ra -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder \
  --durations=15 "$@"
