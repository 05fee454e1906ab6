#!/usr/bin/env bash
# Creates .venv with the pinned dependencies and the project installed editable.
# Idempotent: does nothing when the lock file has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=${VENV:-.venv}
LOCK=envs/requirements.lock
stamp="$VENV/.installed-$(sha256sum "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "[setup] creating $VENV with $($PYTHON --version) (pinned from $LOCK)" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$LOCK" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e . 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
"$VENV/bin/python" -c "import crossmodal, torch, snakemake, librosa, ffmpeg, tinysoundfont" \
  || { echo "[setup] import check failed: see the pip output above" >&2; exit 1; }
# Compile librosa's cached numba functions (yin/pyin) once, here: two jobs or test workers that
# first compile them at the same time write one cache file together, and every later load of
# it segfaults (seen in a fresh clone's suite on 2 xdist workers).
"$VENV/bin/python" -c "import numpy as np, librosa
for dtype in (np.float32, np.float64):  # numba compiles (and caches) one version per dtype
    y = np.sin(np.arange(22050) * 0.1254).astype(dtype)
    librosa.yin(y, fmin=100, fmax=1000, sr=22050); librosa.pyin(y, fmin=100, fmax=1000, sr=22050)" \
  || { echo "[setup] warming librosa's numba cache failed" >&2; exit 1; }
rm -f "$VENV"/.installed-*
touch "$stamp"
echo "[setup] done" >&2
