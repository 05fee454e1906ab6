"""A second clean `all` in another folder, killed and resumed on the way, equals the first.

One extra run proves two things at the price of one. Its S2I-C training is SIGKILLed mid-epoch
(after its first checkpoint), together with the Snakemake that ran it, as a cluster node
failure does; the run is then unlocked and finished with --rerun-incomplete. Then:
- the killed GAN resumed from its checkpoint, and its final weights equal those of the
  uninterrupted first run bit for bit (CPU);
- every manifest, array, table and set of weights of the two runs is byte-identical
  (determinism given the seed), the few files that cannot be are compared by content.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from workflow_helpers import REPO, SNAKEMAKE, TINY_RUN, make_workdir, planned_rules, snakemake

pytestmark = pytest.mark.workflow

KILLED = "s2i_c"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), so the test ends only processes it started."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, front = [], [pid]
    while front:
        front = [child for child, parent in parents.items() if parent in front]
        found += front
    return found


def training_process(pid: int, gan: str) -> int | None:
    """The `crossmodal train-gan` process of ``gan`` among the descendants of ``pid``."""
    for child in descendants(pid):
        try:
            argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"train-gan" in argv and f"results/models/gan/{gan}/model.pt".encode() in argv:
            return child
    return None


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """The second clean run: killed during KILLED's second epoch, unlocked, rerun-incomplete."""
    workdir = make_workdir(tmp_path_factory.mktemp("tiny_all_killed"))
    gan = workdir / "results/models/gan" / KILLED
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", "config.yaml",
           "tiny.yaml", *TINY_RUN, "all"]
    with open(workdir / "killed_run.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # checkpoints/epoch_0001.pt is the last file epoch 1 writes (after checkpoint.pt).
            while not (gan / "checkpoints" / "epoch_0001.pt").exists():
                assert proc.poll() is None, f"Snakemake ended before {KILLED} kept epoch 1:\n" + (
                    workdir / "killed_run.log").read_text()[-4000:]
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGSTOP)  # Snakemake starts no further job from here on
            job = training_process(proc.pid, KILLED)
            assert job is not None, f"no running train-gan process for {KILLED}"
            os.kill(job, signal.SIGKILL)
        finally:
            # Then every other job Snakemake had running, and Snakemake: a node failure takes all.
            for pid in [*descendants(proc.pid), proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
    killed_state = {
        "model_exists": (gan / "model.pt").exists(),
        "epochs_done": torch.load(gan / "checkpoint.pt", weights_only=True)["epochs_done"],
    }
    refused = snakemake(workdir, *TINY_RUN, "all", check=False)
    snakemake(workdir, "--unlock")  # as after a node failure (harmless when no lock was left)
    snakemake(workdir, *TINY_RUN, "--rerun-incomplete", "all")
    return workdir, killed_state, refused


def first_run(request) -> Path:
    """The session's tiny `all`, asked for only once this module's own run is done: as a test
    argument, pytest would set the session fixture up first and the two runs could not overlap
    on two pytest-xdist workers (tests/conftest.py)."""
    return request.getfixturevalue("tiny_all_run")


def test_killed_training_resumes_from_its_checkpoint_and_ends_bit_identical(resumed_run, request):
    workdir, killed_state, refused = resumed_run
    # The kill came mid-run: no final model, one epoch of two checkpointed.
    assert killed_state == {"model_exists": False, "epochs_done": 1}
    # A plain rerun refuses: the killed job's output is marked incomplete, and named.
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "--rerun-incomplete" in text
    assert f"results/models/gan/{KILLED}/metrics.csv" in text.split("Incomplete files:")[-1]
    log = (workdir / "results/logs/gan" / f"{KILLED}.log").read_text()
    assert f"resuming results/models/gan/{KILLED} after epoch 1 of 2" in log
    resumed = torch.load(workdir / f"results/models/gan/{KILLED}/model.pt", weights_only=True)["models"]
    reference = torch.load(first_run(request) / f"results/models/gan/{KILLED}/model.pt", weights_only=True)["models"]
    assert resumed.keys() == reference.keys()
    for net in reference:
        assert resumed[net].keys() == reference[net].keys()
        unequal = [k for k in reference[net] if not torch.equal(resumed[net][k], reference[net][k])]
        assert not unequal, f"{net}: {len(unequal)} of {len(reference[net])} tensors differ: {unequal[:5]}"
    assert planned_rules(workdir, "all") == {}


# Files that cannot be byte-identical between two runs are compared by content, each for its
# reason (see compare). TIMED: a wall time in seconds (per epoch in metrics, per job in summaries).


def without_timing(value):
    """``value`` with every entry named 'seconds' (an epoch's wall time) left out."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, (list, tuple)):
        return [without_timing(v) for v in value]
    return value


def same_torch_content(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_torch_content(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same_torch_content, a, b))
    return a == b


def compare(a: Path, b: Path) -> str | None:
    """None when two outputs agree, else why not. Bytes first; by content only where a file
    holds something that legitimately differs between runs (named in each branch)."""
    if a.read_bytes() == b.read_bytes():
        return None
    if a.name == "run.json":
        # The run fingerprint stamps input files with their mtime: equal settings are what count.
        first, second = json.loads(a.read_text()), json.loads(b.read_text())
        same = first.keys() == second.keys() and all(first[k] == second[k] for k in first if k != "inputs")
        same = same and {k: v[0] for k, v in first["inputs"].items()} == {k: v[0] for k, v in second["inputs"].items()}
        return None if same else "settings or input sizes differ"
    if a.suffix == ".json":
        # Training summaries record the run's wall time (TIMED).
        return None if without_timing(json.loads(a.read_text())) == without_timing(json.loads(b.read_text())) else "values differ"
    if a.suffix == ".csv":
        first, second = pd.read_csv(a), pd.read_csv(b)
        if "seconds" in first.columns:  # TIMED
            first, second = first.drop(columns="seconds"), second.drop(columns="seconds", errors="ignore")
        return None if first.equals(second) else "values differ"
    if a.suffix == ".pt":
        # checkpoint.pt holds the metrics rows (TIMED) beside weights and RNG states.
        first = without_timing(torch.load(a, weights_only=True))
        second = without_timing(torch.load(b, weights_only=True))
        return None if same_torch_content(first, second) else "tensors or values differ"
    if a.suffix == ".png":
        # A PNG's bytes may differ in metadata or compression; the pixels are the figure.
        with Image.open(a) as x, Image.open(b) as y:
            return None if np.array_equal(np.asarray(x.convert("RGBA")), np.asarray(y.convert("RGBA"))) else "pixels differ"
    return "bytes differ"


def outputs(results: Path) -> list[Path]:
    """The files under ``results`` to compare. Logs and benchmarks record times and process ids,
    different by nature; SIGKILL leaves the atomic writer's hidden temporary files (no rule
    reads them, and each rerun writes new ones)."""
    return sorted(p.relative_to(results) for p in results.rglob("*")
                  if p.is_file() and p.relative_to(results).parts[0] not in ("logs", "benchmarks")
                  and not (p.name.startswith(".") and ".tmp" in p.name))


def test_second_clean_run_gives_identical_manifests_arrays_tables_and_weights(resumed_run, request):
    workdir, _, _ = resumed_run
    first, second = first_run(request) / "results", workdir / "results"
    files, others = outputs(first), outputs(second)
    assert files == others, set(files) ^ set(others)
    kinds = {p.suffix for p in files}
    assert {".parquet", ".npy", ".csv", ".pt", ".png"} <= kinds
    differ = {str(p): why for p in files if (why := compare(first / p, second / p))}
    assert not differ, differ
    assert (first / f"models/gan/{KILLED}/model.pt").read_bytes() == (second / f"models/gan/{KILLED}/model.pt").read_bytes()
