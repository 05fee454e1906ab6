"""Fixtures and hooks shared by several test modules.

tests/run.sh runs the suite on two pytest-xdist workers (one module per worker at a time,
`--dist loadfile`), because the end-to-end runs leave a 2-core machine half idle: most of their
jobs are one-threaded. The modules that start long Snakemake runs are handed out first, so the
two longest (this session's tiny `all`, and the killed-and-resumed second `all`) run side by side.
"""

from __future__ import annotations

import os
import shutil

import pytest
from filelock import FileLock
from workflow_helpers import TINY_RUN, make_workdir, snakemake

# pytest-timeout: end-to-end tests run Snakemake (their session fixtures too, whose time counts
# against the first test that asks for them), so they get a longer limit than pyproject's.
WORKFLOW_TIMEOUT_S = 1200

#: Modules handed out first, longest first (measured: tests/run.sh --durations); the rest follow
#: in their usual order, and the modules that only read the shared tiny `all` come last.
FIRST = ("test_workflow_resume.py", "test_workflow_all.py", "test_slurm.py", "test_workflow_rerun.py",
         "test_gpu_check.py", "test_workflow_data.py", "test_workflow_bad_input.py", "test_suburmp.py")
LAST = ("test_export.py", "test_performance_workflow.py", "test_inis_workflow.py")


def module_rank(item) -> int:
    name = item.path.name
    if name in FIRST:
        return FIRST.index(name)
    return len(FIRST) + 1 if name in LAST else len(FIRST)


def pytest_collection_modifyitems(config, items):
    for item in items:
        slow = item.get_closest_marker("workflow") or item.get_closest_marker("slurm")
        slow = slow or "tiny_all_run" in getattr(item, "fixturenames", ())  # may wait for it
        if slow and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(WORKFLOW_TIMEOUT_S))
    items.sort(key=module_rank)  # stable: a module's tests keep their order


@pytest.fixture(scope="session")
def tiny_all_run(tmp_path_factory):
    """One executed `snakemake all` on the tiny config, shared by every test that reads `all`.

    Run under umask 022 (a user's usual one), so tests can check what others may read. Under
    pytest-xdist the first worker that asks runs it in the folder above the workers' own, under
    a file lock; another worker that asks meanwhile waits, then reads the same folder (a run that
    failed is not retried: the other worker fails with its message).
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session
    workdir, done, failed = base / "tiny_all", base / "tiny_all.done", base / "tiny_all.failed"
    with FileLock(str(base / "tiny_all.lock")):
        if failed.exists():
            pytest.fail(f"the shared tiny `all` failed in another worker:\n{failed.read_text()}")
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            make_workdir(workdir)
            old = os.umask(0o022)
            try:
                snakemake(workdir, *TINY_RUN, "all")
            except BaseException as err:
                failed.write_text(str(err)[-8000:])
                raise
            finally:
                os.umask(old)
            done.touch()
    return workdir


@pytest.fixture(scope="session")
def windows_world():
    """Factory of the tiny windows world: ``windows_world(root, [Track(...), ...])`` saves each
    track's frames and audio arrays and writes ``root/windows.parquet`` over them (returns the
    manifest's DataFrame). See tests/windows_world.py."""
    from windows_world import write_windows

    return write_windows
