"""The workflow on a real (single-node, local) SLURM cluster through the project's SLURM profile.

tests/slurm_cluster.py starts munged, slurmctld and slurmd for this module. Snakemake then runs
with `--workflow-profile workflow/profiles/slurm` from a temporary copy of the workflow, exactly
as a user would on a login node, and the tests check that the jobs went through sbatch (SLURM
job ids in Snakemake's output, the plugin's logs under .snakemake/slurm_logs, the jobs known to
slurmctld with their GPU requests), that small rules ran on the submitting host, and that the
results equal those of a local run of the same configuration.

Without SLURM (binaries missing, no root to start the daemons) the tests skip and say why;
with the environment variable CI set they fail instead. tests/run.sh installs the Debian
packages when it runs as root:
    apt-get update && apt-get install -y --no-install-recommends slurm-wlm munge
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from slurm_cluster import SlurmCluster, SlurmUnavailable
from workflow_helpers import REPO, make_workdir

pytestmark = pytest.mark.slurm

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Test-only settings for a cluster without accounting whose jobs take seconds: status from
# squeue (the plugin's default is sacct) polled every 2 s instead of 40 s, and no job asking
# for more CPUs than this one node has.
FAST_STATUS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
               "--seconds-between-status-checks", "2")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"SLURM is required in CI: {reason}")
    pytest.skip(f"no local SLURM: {reason}")


@pytest.fixture(scope="module")
def cluster():
    try:
        slurm = SlurmCluster().start()
    except SlurmUnavailable as exc:
        unavailable(str(exc))
    except subprocess.CalledProcessError as exc:
        unavailable(f"{exc.cmd} failed: {exc.stderr}")
    yield slurm
    slurm.stop()


def node_cpus(cluster) -> int:
    out = cluster.client("sinfo", "-h", "-N", "-o", "%c")
    return int(out.split()[0])


def run_snakemake(workdir: Path, *args: str, env: dict | None = None, timeout: int = 600):
    cmd = [*SNAKEMAKE, *args]
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
        ) if (workdir / ".snakemake" / "slurm_logs").exists() else ""
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-8000:]}\n{logs}"
        )
    return result


def run_on_slurm(cluster, workdir: Path, *targets: str, timeout: int = 600) -> tuple[str, dict[str, str]]:
    """Snakemake through the SLURM profile; its output and {snakemake job id: SLURM job id}."""
    env = cluster.env()
    env["CROSSMODAL_SLURM_PARTITION"] = cluster.partition
    for name in ("CROSSMODAL_SLURM_ACCOUNT", "CROSSMODAL_SLURM_GPU_PARTITION", "CROSSMODAL_SLURM_GPU_MODEL"):
        env.pop(name, None)
    result = run_snakemake(
        workdir, "--workflow-profile", "workflow/profiles/slurm", *FAST_STATUS,
        "--max-threads", str(node_cpus(cluster)), *targets, env=env, timeout=timeout,
    )
    text = result.stdout + result.stderr
    return text, {m[1]: m[2] for m in SUBMITTED.finditer(text)}


def copy_workflow(dest: Path) -> Path:
    """A working copy of the workflow as a user has it: Snakefile, workflow/, config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


# -- the profile's mechanics on a small Snakefile ------------------------------------------------

TOY = textwrap.dedent(
    """
    localrules: gather

    rule all:
        input: "gather.txt"

    rule extract_track:
        output: "tracks/{track}.txt"
        shell: "echo ${{SLURM_JOB_ID:-none}} {threads} > {output}"

    rule train_toy:
        output: "model.txt"
        resources: gpu=1
        shell: "echo ${{SLURM_JOB_ID:-none}} ${{CUDA_VISIBLE_DEVICES:-unset}} > {output}"

    rule gather:
        input: expand("tracks/{track}.txt", track=["a", "b", "c"]), "model.txt"
        output: "gather.txt"
        shell: "cat {input} > {output}; echo ${{SLURM_JOB_ID:-local}} >> {output}"
    """
)


def test_profile_submits_jobs_with_sbatch_and_keeps_local_rules_local(cluster, tmp_path):
    workdir = tmp_path / "toy"
    (workdir / "workflow").mkdir(parents=True)
    shutil.copytree(REPO / "workflow" / "profiles", workdir / "workflow" / "profiles")
    (workdir / "Snakefile").write_text(TOY)

    text, submitted = run_on_slurm(cluster, workdir, timeout=300)

    assert len(submitted) == 4, text  # 3 extract_track + train_toy; gather is local
    slurm_ids = set(submitted.values())
    for track in "abc":
        job_id, threads = (workdir / "tracks" / f"{track}.txt").read_text().split()
        assert job_id in slurm_ids
        assert int(threads) == min(4, node_cpus(cluster))  # set-threads, capped by --max-threads
    job_id, visible = (workdir / "model.txt").read_text().split()
    assert job_id in slurm_ids and visible == "0"  # SLURM gave the job a GPU
    assert (workdir / "gather.txt").read_text().splitlines()[-1] == "local"
    logs = {p.stem for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert logs == slurm_ids
    jobs = {job["JobId"]: job for job in cluster.jobs()}
    assert all(jobs[i]["JobState"] == "COMPLETED" for i in slurm_ids)
    assert all(jobs[i]["Partition"] == cluster.partition for i in slurm_ids)
    gpu_jobs = {i for i in slurm_ids if "gpu" in jobs[i].get("TresPerJob", "")}
    assert gpu_jobs == {job_id}
    assert jobs[job_id]["Comment"] == "rule_train_toy"
