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
#: One thread per job, so that torch sums in the same order in every run compared bit for bit
#: (and two runs side by side on two pytest-xdist workers fit a 2-core machine).
ONE_THREAD_PER_JOB = ("--max-threads", "1")
#: How the shared tiny `all` runs (tests/conftest.py), and every run compared with it: two jobs
#: at a time, one thread each.
TINY_RUN = ("--cores", "2", *ONE_THREAD_PER_JOB)


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


NOTHING_TO_DO = "Nothing to be done (all requested files are present and up to date)."
DRY_RUN_END = "This was a dry-run (flag -n)."


class SnakemakeOutputError(AssertionError):
    """Snakemake answered in a form a helper cannot read: fail rather than guess."""


def dry_run(workdir: Path, *targets: str, extra: tuple[str, ...] = ()) -> str:
    """The text of a successful dry run (stdout and stderr); raises unless Snakemake ends it as a
    dry run does: with its dry-run line, or (when it stops early) with nothing to be done."""
    out = snakemake(workdir, "-n", "--cores", "1", *targets, *extra)
    text = out.stdout + out.stderr
    if DRY_RUN_END not in text and NOTHING_TO_DO not in text:
        raise SnakemakeOutputError(f"no dry-run summary in Snakemake's answer:\n{text[-4000:]}")
    return text


def parse_job_stats(text: str) -> dict[str, int]:
    """Rule -> job count from a dry run's text; {} only when Snakemake says nothing is to be done.

    Strict: a "Job stats:" table must parse line by line and its total must equal the sum of its
    rows, and exactly one of the table and the nothing-to-do line must be present. Anything else
    raises SnakemakeOutputError, so a changed message format cannot pass as "nothing to do".
    """
    nothing, has_table = NOTHING_TO_DO in text, "Job stats:" in text
    if nothing == has_table:
        raise SnakemakeOutputError(
            f"expected either {NOTHING_TO_DO!r} or a 'Job stats:' table, found "
            f"{'both' if nothing else 'neither'}:\n{text[-4000:]}"
        )
    if nothing:
        return {}
    lines = iter(text.split("Job stats:", 1)[1].splitlines()[1:])
    header = next(lines).split()
    rule_line = next(lines)
    if header != ["job", "count"] or set(rule_line.replace(" ", "")) != {"-"}:
        raise SnakemakeOutputError(f"unexpected Job stats header {header} / {rule_line!r}:\n{text[-4000:]}")
    counts: dict[str, int] = {}
    for line in lines:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            raise SnakemakeOutputError(f"cannot read Job stats line {line!r}:\n{text[-4000:]}")
        if match[1] == "total":
            if int(match[2]) != sum(counts.values()) or not counts:
                raise SnakemakeOutputError(f"Job stats total {match[2]} != sum of {counts}")
            return counts
        counts[match[1]] = int(match[2])
    raise SnakemakeOutputError(f"Job stats table without a total line:\n{text[-4000:]}")


def planned_rules(workdir: Path, *targets: str, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Rule -> job count that a dry run would schedule ({} when nothing is to be done; strict)."""
    return parse_job_stats(dry_run(workdir, *targets, extra=extra))


def all_targets(workdir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """The input files of rule `all`, as the workflow itself lists them (from a dry run).

    ``--forcerun all`` makes Snakemake print the `all` job with its inputs even when everything
    is up to date, so new targets that any stage adds to `all` are covered without a list here.
    """
    text = dry_run(workdir, "all", extra=("--forcerun", "all", *extra))
    match = re.search(r"^(?:local)?rule all:\n\s+input: (.+)$", text, re.MULTILINE)
    if not match:
        raise SnakemakeOutputError(f"the dry run does not show rule all's inputs:\n{text[-4000:]}")
    return [name.strip() for name in match[1].split(", ")]
