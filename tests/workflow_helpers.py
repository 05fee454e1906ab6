"""Runs the real Snakefile in a temporary working folder, for the end-to-end tests."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "configs" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def make_workdir(path: Path, overrides: dict | None = None) -> Path:
    """A working folder with the default config.yaml and the tiny config (plus overrides)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config.yaml", path / "config.yaml")
    tiny = yaml.safe_load(TINY.read_text())
    for dotted, value in (overrides or {}).items():
        node = tiny
        *parents, leaf = dotted.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    (path / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", "config.yaml", "tiny.yaml", *args]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def planned_rules(workdir: Path, *targets: str, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Rule -> job count that a dry run would schedule (empty when nothing is to be done)."""
    out = snakemake(workdir, "-n", "--cores", "1", *targets, *extra)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    counts = {}
    table = text.split("Job stats:", 1)[-1]
    for line in table.splitlines():
        match = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
        if match and match[1] != "total":
            counts[match[1]] = int(match[2])
    return counts
