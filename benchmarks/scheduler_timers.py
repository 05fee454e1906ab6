"""CPU of Snakemake's own process as shipped against coalesce_reevaluation_timers (one pending
re-evaluation timer; crossmodal/scheduler_timers.py), on a workflow of sleeping jobs.

Each measurement is a fresh `snakemake --cores 2` run of --jobs jobs that each sleep --sleep s
(so the jobs themselves use next to no CPU), in a new folder; the two variants alternate,
median of --repeats runs each. CPU is the user + system time of the Snakemake process and its
children (os.wait4), wall the run's duration.

    .venv/bin/python benchmarks/scheduler_timers.py [--jobs 60] [--sleep 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATCH = "from crossmodal.scheduler_timers import coalesce_reevaluation_timers\ncoalesce_reevaluation_timers()\n"


def workflow(jobs: int, sleep_s: float) -> str:
    return (
        "rule all:\n"
        f"    input: expand('out/{{i}}.txt', i=range({jobs}))\n"
        "rule one:\n"
        "    output: 'out/{i}.txt'\n"
        f"    shell: 'sleep {sleep_s}; touch {{output}}'\n"
    )


def run_once(jobs: int, sleep_s: float, patched: bool) -> tuple[float, float]:
    """Returns (CPU s, wall s) of one clean run."""
    snakemake = Path(sys.executable).with_name("snakemake")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "Snakefile").write_text((PATCH if patched else "") + workflow(jobs, sleep_s))
        start = time.perf_counter()
        process = subprocess.Popen([str(snakemake), "--cores", "2", "--quiet", "all", "--", "all"],
                                   cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"snakemake failed in {folder}:\n{process.stderr.read().decode()[-2000:]}")
        process.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--sleep", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(args.repeats):
        for patched in (False, True):
            runs[patched].append(run_once(args.jobs, args.sleep, patched))
    cpu = {p: statistics.median(c for c, _ in r) for p, r in runs.items()}
    wall = {p: statistics.median(w for _, w in r) for p, r in runs.items()}
    print(f"{args.jobs} jobs of {args.sleep} s on 2 cores, median of {args.repeats} runs each")
    print(f"as shipped: CPU {cpu[False]:.2f} s, wall {wall[False]:.1f} s")
    print(f"one pending timer: CPU {cpu[True]:.2f} s, wall {wall[True]:.1f} s")
    print(f"Snakemake CPU, one pending timer / as shipped = {cpu[True] / cpu[False]:.2f}")
    print(f"wall, one pending timer / as shipped = {wall[True] / wall[False]:.2f}")


if __name__ == "__main__":
    main()
