"""The workflow on a real (single-node, local) SLURM cluster through the project's SLURM profile.

tests/slurm_cluster.py starts munged, slurmctld and slurmd for this module. Snakemake then runs
with `--workflow-profile workflow/profiles/slurm` from a temporary copy of the workflow, exactly
as a user would on a login node, and the tests check that the jobs went through sbatch (SLURM
job ids in Snakemake's output, the plugin's logs under .snakemake/slurm_logs, the jobs known to
slurmctld with their GPU requests), that small rules ran on the submitting host, and that the
results equal those of a local run of the same configuration. Those tests are marked `slurm`;
the first three tests read the profiles only (site names from the environment, a GPU for every
training rule, no setting for a rule that does not exist) and need no SLURM.

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
from workflow_helpers import ONE_THREAD_PER_JOB, REPO, make_workdir

needs_slurm = pytest.mark.slurm

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Test-only settings for a cluster without accounting whose jobs take seconds: status from
# squeue (the plugin's default is sacct) polled every 2 s instead of 40 s.
FAST_STATUS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
               "--seconds-between-status-checks", "2")
# One thread per job, so two jobs share a 2-core node (and torch sums in the same order in the
# SLURM run and the local tiny `all`, which makes their trained models equal).
THREADS = ONE_THREAD_PER_JOB
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
    try:
        result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        queue = subprocess.run(["squeue", "--states=all", "-o", "%i %j %T %r %C %m %b"], env=env,
                               capture_output=True, text=True).stdout if env else ""
        out = (exc.stdout or b"").decode(errors="replace")[-3000:] + (exc.stderr or b"").decode(errors="replace")[-5000:]
        raise AssertionError(f"{' '.join(cmd)} timed out after {timeout} s:\n{out}\nsqueue:\n{queue}") from None
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
        workdir, "--workflow-profile", "workflow/profiles/slurm", *FAST_STATUS, *THREADS, *targets,
        env=env, timeout=timeout,
    )
    text = result.stdout + result.stderr
    return text, {m[1]: m[2] for m in SUBMITTED.finditer(text)}


def copy_workflow(dest: Path) -> Path:
    """A working copy of the workflow as a user has it (Snakefile, workflow/) with the tiny config.

    Targets are given before `--configfile` (which takes every word after it).
    """
    make_workdir(dest)  # config.yaml + tiny.yaml
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")  # as it is: a lost include must fail here
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


# -- the profiles as Snakemake reads them (no SLURM needed) ------------------------------------

def read_profile(name: str, monkeypatch, **env: str) -> dict:
    """A profile's settings as Snakemake's parser gives them: {key: value or [items]}."""
    from snakemake.profiles import ProfileConfigFileParser

    for var in ("CROSSMODAL_SLURM_ACCOUNT", "CROSSMODAL_SLURM_PARTITION", "CROSSMODAL_SLURM_GPU_PARTITION",
                "CROSSMODAL_SLURM_GPU_MODEL", "CROSSMODAL_GPU_COUNT", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with open(REPO / "workflow" / "profiles" / name / "config.yaml") as stream:
        return dict(ProfileConfigFileParser().parse(stream))


def per_rule(items: list[str]) -> dict[str, dict[str, str]]:
    """['rule:key=value', ...] -> {rule: {key: value}}."""
    rules: dict[str, dict[str, str]] = {}
    for item in items:
        rule, setting = item.split(":", 1)
        key, value = setting.split("=", 1)
        rules.setdefault(rule, {})[key] = value
    return rules


def rule_actions() -> dict[str, str]:
    """Each rule of workflow/rules/*.smk -> its text (to find which ones train or use a device).

    A rule template in a loop over a table (``for name, v in TABLE.items(): rule: name: name``,
    as the S2I variants) gives each of the table's keys the template's text; ``use rule A as B
    with: ...`` gives B the text of A and of its own block.
    """
    rules, reused = {}, []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        parts = re.split(r"^(?:rule|checkpoint) (\w+):", text, flags=re.M)
        rules.update(zip(parts[1::2], parts[2::2]))
        for table, body in re.findall(r"^for \w+, \w+ in (\w+)\.items\(\):\n((?:\n|    .*\n)+)", text, flags=re.M):
            keys = re.search(rf"^{table} = \{{\n(.*?)^\}}", text, flags=re.M | re.S)[1]
            rules.update({name: body for name in re.findall(r'^    "(\w+)":', keys, flags=re.M)})
        reused += re.findall(r"^use rule (\w+) as (\w+) with:\n((?:\n|    .*\n)*)", text, flags=re.M)
    for original, name, body in reused:
        rules[name] = rules[original] + body
    return rules


def test_slurm_profile_takes_site_names_from_the_environment(monkeypatch):
    bare = read_profile("slurm", monkeypatch)
    assert bare["executor"] == "slurm"
    assert not any("slurm_account" in r or "slurm_partition" in r for r in bare["default-resources"])
    assert not any("partition" in r or "gpu_model" in r for r in bare["set-resources"])
    site = read_profile("slurm", monkeypatch, CROSSMODAL_SLURM_ACCOUNT="proj-1", CROSSMODAL_SLURM_PARTITION="cpu",
                        CROSSMODAL_SLURM_GPU_PARTITION="gpu-a", CROSSMODAL_SLURM_GPU_MODEL="a100")
    assert {"slurm_account='proj-1'", "slurm_partition='cpu'"} <= set(site["default-resources"])
    gans = per_rule(site["set-resources"])["s2i_c"]
    assert (gans["gpu"], gans["gpu_model"], gans["slurm_partition"]) == ("1", "'a100'", "'gpu-a'")
    no_gpu_partition = read_profile("slurm", monkeypatch, CROSSMODAL_SLURM_PARTITION="cpu")
    assert per_rule(no_gpu_partition["set-resources"])["i2s"]["slurm_partition"] == "'cpu'"


def test_every_training_rule_asks_for_a_gpu_and_named_rules_exist(monkeypatch):
    actions = rule_actions()
    training = {rule for rule, text in actions.items() if "--amp" in text}  # AMP: training steps only
    networks = {rule for rule, text in actions.items() if "--device" in text}
    assert {"audio_classifier", "image_classifier", "s2i_c", "i2s"} <= training <= networks
    slurm = read_profile("slurm", monkeypatch)
    slurm_rules = per_rule(slurm["set-resources"])
    assert {r for r, res in slurm_rules.items() if res.get("gpu") == "1"} >= training
    assert not {r for r, res in slurm_rules.items() if "gpu" in res} - networks
    local = per_rule(read_profile("default", monkeypatch)["set-resources"])
    assert {r for r, res in local.items() if res.get("gpu") == "1"} == networks
    named = set(slurm_rules) | {item.split("=")[0] for item in slurm["set-threads"]}
    cluster = (REPO / "workflow" / "rules" / "cluster.smk").read_text()
    named |= set(re.findall(r"^    (\w+),", cluster, flags=re.M))
    assert named - set(actions) == set()  # a renamed rule would silently lose its settings


def test_default_profile_counts_the_gpus_here(monkeypatch):
    assert read_profile("default", monkeypatch, CUDA_VISIBLE_DEVICES="0,1,2")["resources"] == ["gpu=3"]
    assert read_profile("default", monkeypatch, CROSSMODAL_GPU_COUNT="0")["resources"] == ["gpu=0"]


# -- the profile's mechanics on a small Snakefile ------------------------------------------------

TOY = textwrap.dedent(
    """
    localrules: gather

    rule all:
        input: "gather.txt"

    rule extract_piece:
        output: "tracks/{track}.txt"
        threads: 1
        shell: "echo ${{SLURM_JOB_ID:-none}} {threads} > {output}"

    rule train_toy:
        output: "model.txt"
        resources: gpu=1
        shell: "echo ${{SLURM_JOB_ID:-none}} ${{CUDA_VISIBLE_DEVICES:-unset}} > {output}"

    rule gather:
        input: expand("tracks/{track}.txt", track=["a", "b"]), "model.txt"
        output: "gather.txt"
        shell: "cat {input} > {output}; echo ${{SLURM_JOB_ID:-local}} >> {output}"
    """
)


@needs_slurm
def test_profile_submits_jobs_with_sbatch_and_keeps_local_rules_local(cluster, tmp_path):
    workdir = tmp_path / "toy"
    (workdir / "workflow").mkdir(parents=True)
    shutil.copytree(REPO / "workflow" / "profiles", workdir / "workflow" / "profiles")
    (workdir / "Snakefile").write_text(TOY)

    env = cluster.env()
    env["CROSSMODAL_SLURM_PARTITION"] = cluster.partition
    result = run_snakemake(workdir, "--workflow-profile", "workflow/profiles/slurm", *FAST_STATUS,
                           "--max-threads", str(node_cpus(cluster)), env=env, timeout=300)
    text = result.stdout + result.stderr
    submitted = {m[1]: m[2] for m in SUBMITTED.finditer(text)}

    assert len(submitted) == 3, text  # 2 extract_piece + train_toy; gather is local
    slurm_ids = set(submitted.values())
    for track in "ab":
        job_id, threads = (workdir / "tracks" / f"{track}.txt").read_text().split()
        assert job_id in slurm_ids
        assert int(threads) == min(4, node_cpus(cluster))  # the profile's set-threads (4), at most the node's
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


# -- the real workflow on the tiny demo configuration -------------------------------------------

# The data stage (Table 2), and two training jobs (GPU jobs in the profile) with what they need.
TARGETS = ("results/table2.csv", "results/image_classifier/accuracy.csv", "results/sound_autoencoder/metrics.csv")
REMOTE_RULES = {"demo_urmp", "extract_piece", "features", "image_classifier", "sound_autoencoder"}
GPU_RULES = {"image_classifier", "sound_autoencoder"}
LOCAL_RULES = {"tracks", "windows", "dataset_report"}
NODE_MEMORY_MB = 12000


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory, request):
    """The tiny workflow run through the SLURM profile, and the session's local tiny `all`
    (tests/conftest.py), which ran the same jobs with the same one thread each (TINY_RUN)."""
    memory = int(cluster.client("sinfo", "-h", "-N", "-o", "%m").split()[0])
    if memory < NODE_MEMORY_MB:  # a job asking for more than the node has would pend forever
        unavailable(f"this machine has {memory} MB; the profile's image classifier job asks for 12000 MB")
    on_slurm = copy_workflow(tmp_path_factory.mktemp("wf_slurm"))
    text, submitted = run_on_slurm(cluster, on_slurm, *TARGETS, "--configfile", "config.yaml", "tiny.yaml",
                                   timeout=420)
    local = request.getfixturevalue("tiny_all_run")  # asked for only now: the SLURM run needs no wait
    return {"slurm": on_slurm, "local": local, "text": text, "submitted": submitted,
            "jobs": {job["JobId"]: job for job in cluster.jobs()}}


def submitted_rules(runs) -> dict[str, str]:
    """SLURM job id -> rule, from the job comment the plugin sets (rule_<name>[_wildcards_...])."""
    rules = {}
    for slurm_id in runs["submitted"].values():
        comment = runs["jobs"][slurm_id]["Comment"]
        rules[slurm_id] = re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", comment)[1]
    return rules


@needs_slurm
def test_workflow_jobs_went_through_sbatch_with_logs(runs, cluster):
    rules = submitted_rules(runs)
    assert set(rules.values()) == REMOTE_RULES
    assert list(rules.values()).count("extract_piece") == 3  # one job per piece (11 tracks in 3 pieces)
    for slurm_id, job in ((i, runs["jobs"][i]) for i in rules):
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == cluster.partition  # from CROSSMODAL_SLURM_PARTITION
        assert job["WorkDir"] == str(runs["slurm"])
    logs = {p.stem: p for p in (runs["slurm"] / ".snakemake" / "slurm_logs").rglob("*.log")}
    assert set(logs) == set(rules)
    extract_log = next(logs[i] for i, rule in rules.items() if rule == "extract_piece")
    assert extract_log.parent.parent.name == "rule_extract_piece"
    assert "rule extract_piece:" in extract_log.read_text()


@needs_slurm
def test_small_rules_ran_on_the_submitting_host(runs):
    for rule in LOCAL_RULES:  # Snakemake prints "localrule x:" ("localcheckpoint x:") for these
        assert re.search(rf"^local(rule|checkpoint) {rule}:$", runs["text"], re.M), rule
    assert not LOCAL_RULES & set(submitted_rules(runs).values())


@needs_slurm
def test_training_jobs_asked_slurm_for_a_gpu(runs):
    for slurm_id, rule in submitted_rules(runs).items():
        tres = runs["jobs"][slurm_id].get("TresPerJob", "")
        assert ("gres:gpu:1" in tres) == (rule in GPU_RULES), (rule, tres)


@needs_slurm
def test_results_equal_a_local_run(runs):
    slurm, local = runs["slurm"] / "results", runs["local"] / "results"
    pd.testing.assert_frame_equal(
        pd.read_parquet(slurm / "manifests/windows.parquet"), pd.read_parquet(local / "manifests/windows.parquet")
    )
    for name in ("table2.csv", "image_classifier/accuracy.csv"):
        assert (slurm / name).read_text() == (local / name).read_text(), name
    for name in ("image_classifier/metrics.csv", "sound_autoencoder/metrics.csv"):
        on_slurm, here = (pd.read_csv(root / name).drop(columns="seconds") for root in (slurm, local))
        pd.testing.assert_frame_equal(on_slurm, here)
    assert (slurm / "features/lms.npy").read_bytes() == (local / "features/lms.npy").read_bytes()
