"""Fixtures and hooks shared by several test modules."""

from __future__ import annotations

import os

import pytest
from workflow_helpers import make_workdir, snakemake

# pytest-timeout: end-to-end tests run Snakemake (their session fixtures too, whose time counts
# against the first test that asks for them), so they get a longer limit than pyproject's.
WORKFLOW_TIMEOUT_S = 1200


def pytest_collection_modifyitems(config, items):
    for item in items:
        slow = item.get_closest_marker("workflow") or item.get_closest_marker("slurm")
        if slow and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(WORKFLOW_TIMEOUT_S))


@pytest.fixture(scope="session")
def tiny_all_run(tmp_path_factory):
    """One executed `snakemake all` on the tiny config, shared by every test that reads `all`.

    Run under umask 022 (a user's usual one), so tests can check what others may read.
    """
    workdir = make_workdir(tmp_path_factory.mktemp("tiny_all"))
    old = os.umask(0o022)
    try:
        snakemake(workdir, "--cores", "2", "all")
    finally:
        os.umask(old)
    return workdir


@pytest.fixture(scope="session")
def windows_world():
    """Factory of the tiny windows world: ``windows_world(root, [Track(...), ...])`` saves each
    track's frames and audio arrays and writes ``root/windows.parquet`` over them (returns the
    manifest's DataFrame). See tests/windows_world.py."""
    from windows_world import write_windows

    return write_windows
