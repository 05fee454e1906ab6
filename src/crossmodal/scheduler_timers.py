"""Keep Snakemake's scheduler from waking itself more often with every finished job.

Snakemake 9's `JobScheduler.schedule` loop, after each pass that saw ready jobs, arms a
`threading.Timer` that releases the loop's semaphore one rate-limit timespan later (1 s by
default), so a job held back by `--max-jobs-per-timespan` gets another look. Every job that
finishes also releases the semaphore, and the extra pass it causes arms one more timer, which
re-arms itself on each pass while jobs wait for cores. The timer chains add up: after N finished
jobs the loop runs about N times per second. On the demo's `all` (2 cores, ~110 jobs, ready jobs
waiting most of the run) the Snakemake process spent 138-184 s of CPU, about a minute of the run's
wall time, mostly in these passes. A probe of a 40-job workflow of 1.5 s sleeps counted 7, 20 and
30 re-evaluations per second in its first, second and third 10 s; `tests/test_scheduler_timers.py`
counts the timers pending at once (up to 7 in a 10-job workflow as shipped).

`coalesce_reevaluation_timers` keeps at most one such timer pending per scheduler. That is all the
timer is for: any pass looks at every ready job, so a second pending timer only repeats it. Job
completions still wake the loop at once (they release the semaphore themselves), so no job starts
later. Which jobs run, and with what inputs, does not change. One timer serves every delay: a
request made while one is pending waits for that one, which matters only to workflows that poll
queue inputs (10 s) while a job rate limit also holds jobs back; the project's do neither.
"""

from __future__ import annotations

import threading

_PATCHED_FLAG = "_crossmodal_coalesced"


def coalesce_reevaluation_timers() -> bool:
    """Replace `JobScheduler._schedule_reevalutation` (sic) with a one-pending-timer version.

    Returns False, changing nothing, when the installed Snakemake has no such method (a release
    that renamed or fixed it), True when the patch is (or already was) in place.
    """
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = getattr(JobScheduler, "_schedule_reevalutation", None)
    if original is None:
        return False
    if getattr(original, _PATCHED_FLAG, False):
        return True

    def schedule_one_reevaluation(self, delay) -> None:
        state = self.__dict__.setdefault("_crossmodal_timer_state", {"lock": threading.Lock(), "pending": False})
        with state["lock"]:
            if state["pending"]:
                return
            state["pending"] = True

        def fire() -> None:
            with state["lock"]:
                state["pending"] = False
            self._open_jobs.release()

        threading.Timer(delay, fire).start()

    setattr(schedule_one_reevaluation, _PATCHED_FLAG, True)
    schedule_one_reevaluation.__doc__ = original.__doc__
    JobScheduler._schedule_reevalutation = schedule_one_reevaluation
    return True
