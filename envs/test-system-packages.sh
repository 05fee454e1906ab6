#!/usr/bin/env bash
# Debian packages that some tests need beyond the venv: a real single-node SLURM (slurm-wlm,
# munge) for tests/test_slurm.py and headless Chromium for the human-evaluation page test.
# Installs them only when missing and when running as root; otherwise those tests skip
# (outside CI) and say why.
set -euo pipefail
need=()
command -v slurmctld >/dev/null || need+=(slurm-wlm)
command -v munged >/dev/null || need+=(munge)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "[system] not root: skipping install of ${need[*]} (the tests that need them will skip)" >&2
  exit 0
fi
echo "[system] installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
