"""Snakemake's scheduler keeps one re-evaluation timer pending, not one more per finished job.

A tiny workflow of 1 s sleeps runs on 2 cores under the real Snakemake CLI, once as Snakemake
ships and once with `coalesce_reevaluation_timers` called from the Snakefile (as
workflow/rules/common.smk does). A probe counts the re-evaluation timers pending at once: as
shipped they pile up with the finished jobs; patched there is never more than one. Every job
still runs, and each starts right after a core frees up.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from crossmodal.scheduler_timers import coalesce_reevaluation_timers

JOBS = 10

PROBE = textwrap.dedent(
    """
    import sys, threading
    pending = 0
    most = 0
    lock = threading.Lock()
    class CountedTimer(threading.Timer):
        def start(self):
            global pending, most
            with lock:
                pending += 1
                most = max(most, pending)
            super().start()
        def run(self):
            global pending
            try:
                super().run()
            finally:
                with lock:
                    pending -= 1
    threading.Timer = CountedTimer
    from snakemake.cli import main
    sys.argv = ["snakemake"] + sys.argv[1:]
    try:
        main()
    finally:
        print("most pending timers:", most, file=sys.stderr)
    """
)


def snakefile(patched: bool) -> str:
    head = "from crossmodal.scheduler_timers import coalesce_reevaluation_timers\ncoalesce_reevaluation_timers()\n"
    body = textwrap.dedent(
        f"""
        rule all:
            input: expand("out/{{i}}.txt", i=range({JOBS}))
        rule one:
            output: "out/{{i}}.txt"
            threads: 1
            shell: "date +%s.%N > {{output}}.start; sleep 1; date +%s.%N > {{output}}"
        """
    )
    return (head if patched else "") + body


def run_probe(tmp_path, patched: bool) -> tuple[int, list[float], list[float]]:
    workdir = tmp_path / ("patched" if patched else "shipped")
    workdir.mkdir()
    (workdir / "Snakefile").write_text(snakefile(patched))
    (workdir / "probe.py").write_text(PROBE)
    done = subprocess.run(
        [sys.executable, "probe.py", "--cores", "2", "--quiet", "all", "all"],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    most = int(done.stderr.rsplit("most pending timers:", 1)[1].split()[0])
    starts = sorted(float((workdir / f"out/{i}.txt.start").read_text()) for i in range(JOBS))
    ends = sorted(float((workdir / f"out/{i}.txt").read_text()) for i in range(JOBS))
    return most, starts, ends


@pytest.mark.workflow
def test_patched_scheduler_keeps_one_timer_and_starts_jobs_when_a_core_frees(tmp_path):
    shipped_most, _, _ = run_probe(tmp_path, patched=False)
    patched_most, starts, ends = run_probe(tmp_path, patched=True)
    assert shipped_most >= 4, f"as shipped, timers should pile up with finished jobs; most pending was {shipped_most}"
    assert patched_most == 1
    # Two cores: the third job onwards waits for one to finish, and starts once it has.
    waits = [start - ends[i] for i, start in enumerate(starts[2:])]
    assert max(waits) < 5.0, f"a job waited {max(waits):.1f} s after a core freed up"


class FakeScheduler:
    def __init__(self):
        self._open_jobs = threading.Semaphore(0)


def test_second_request_while_one_is_pending_arms_no_timer_and_firing_allows_the_next():
    from snakemake.scheduling.job_scheduler import JobScheduler

    original = JobScheduler._schedule_reevalutation
    try:
        assert coalesce_reevaluation_timers() is True
        assert coalesce_reevaluation_timers() is True  # idempotent: no wrapper around a wrapper
        scheduler = FakeScheduler()
        for _ in range(5):
            JobScheduler._schedule_reevalutation(scheduler, 0.2)
        assert scheduler._open_jobs.acquire(timeout=5)
        time.sleep(0.3)
        assert not scheduler._open_jobs.acquire(blocking=False), "five requests while one was pending released twice"
        JobScheduler._schedule_reevalutation(scheduler, 0.05)
        assert scheduler._open_jobs.acquire(timeout=5), "after the timer fired, a new request armed none"
    finally:
        JobScheduler._schedule_reevalutation = original


def test_snakemake_without_the_method_is_left_alone(monkeypatch):
    from snakemake.scheduling import job_scheduler

    monkeypatch.delattr(job_scheduler.JobScheduler, "_schedule_reevalutation")
    assert coalesce_reevaluation_timers() is False
    assert not hasattr(job_scheduler.JobScheduler, "_schedule_reevalutation")
