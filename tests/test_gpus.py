"""GPU sharing between concurrent training processes (device count faked, no GPU needed)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from crossmodal import gpus, training

# A child that claims a GPU, prints its ordinal, and holds it until `release` appears.
HOLDER = textwrap.dedent(
    """
    import os, sys, time
    from crossmodal.gpus import claim_gpu
    print(claim_gpu(poll_s=0.05, timeout_s=float(sys.argv[2])), flush=True)
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.02)
    """
)


@pytest.fixture
def gpu_env(tmp_path, monkeypatch):
    """Two fake GPUs, a private lock folder, no SLURM job, a fresh claim state in this process."""
    monkeypatch.setenv(gpus.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setenv(gpus.COUNT_ENV, "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    gpus.release_gpu()
    yield tmp_path
    gpus.release_gpu()


def start_holder(tmp_path, timeout_s=10.0, **env):
    child_env = {**os.environ, **env}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "release"), str(timeout_s)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env,
    )
    return proc


def claimed_index(proc):
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"holder failed: {proc.communicate()[1]}")
    return int(line)


def release_all(tmp_path, *procs):
    (tmp_path / "release").touch()
    for proc in procs:
        proc.communicate(timeout=30)


def test_two_concurrent_processes_get_different_gpus(gpu_env):
    first = start_holder(gpu_env)
    second = start_holder(gpu_env)
    try:
        assert sorted([claimed_index(first), claimed_index(second)]) == [0, 1]
    finally:
        release_all(gpu_env, first, second)


def test_lock_is_released_when_the_holding_process_exits(gpu_env, monkeypatch):
    monkeypatch.setenv(gpus.COUNT_ENV, "1")
    holder = start_holder(gpu_env)
    assert claimed_index(holder) == 0
    with pytest.raises(gpus.GpuClaimError, match="held by other processes"):
        gpus.claim_gpu(poll_s=0.05, timeout_s=0.2)
    release_all(gpu_env, holder)
    assert gpus.claim_gpu(poll_s=0.05, timeout_s=5) == 0


def test_waiting_process_gets_the_device_once_it_is_freed(gpu_env, monkeypatch):
    monkeypatch.setenv(gpus.COUNT_ENV, "1")
    holder = start_holder(gpu_env)
    assert claimed_index(holder) == 0
    waiter = start_holder(gpu_env)  # blocks in claim_gpu: prints nothing yet
    (gpu_env / "release").touch()
    holder.communicate(timeout=30)
    assert claimed_index(waiter) == 0
    waiter.communicate(timeout=30)


def test_repeated_claim_in_one_process_returns_the_same_device(gpu_env):
    first = gpus.claim_gpu()
    assert gpus.claim_gpu() == first
    other = start_holder(gpu_env)
    try:
        assert claimed_index(other) == 1 - first
    finally:
        release_all(gpu_env, other)


def test_locks_follow_physical_devices_named_in_cuda_visible_devices(gpu_env, monkeypatch):
    # Another job sees only physical GPU 3 (its ordinal 0) and holds it.
    holder = start_holder(gpu_env, CUDA_VISIBLE_DEVICES="3", CROSSMODAL_GPU_COUNT="1")
    try:
        assert claimed_index(holder) == 0
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
        assert gpus.claim_gpu(timeout_s=0) == 1  # ordinal 1 = physical GPU 1, the free one
        assert sorted(p.name for p in (gpu_env / "locks").iterdir()) == ["gpu-1.lock", "gpu-3.lock"]
    finally:
        release_all(gpu_env, holder)


def test_torch_device_count_is_used_without_override(gpu_env, monkeypatch):
    monkeypatch.delenv(gpus.COUNT_ENV)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    holders = [start_holder(gpu_env, CROSSMODAL_GPU_COUNT="3") for _ in range(2)]
    try:
        assert sorted(claimed_index(h) for h in holders) == [0, 1]
        assert gpus.claim_gpu(timeout_s=0) == 2
    finally:
        release_all(gpu_env, *holders)


def test_pick_device_uses_the_claimed_gpu(gpu_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    holder = start_holder(gpu_env)
    try:
        assert claimed_index(holder) == 0
        assert training.pick_device("auto") == torch.device("cuda", 1)
    finally:
        release_all(gpu_env, holder)


def test_slurm_jobs_lock_in_a_folder_of_their_own(gpu_env, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert gpus.lock_dir() == gpu_env / "locks" / "slurm-job-4242"
    # A process outside that job holding device 0 does not block the job's own device 0.
    holder = start_holder(gpu_env, SLURM_JOB_ID="", CROSSMODAL_GPU_COUNT="1")
    try:
        assert claimed_index(holder) == 0
        monkeypatch.setenv(gpus.COUNT_ENV, "1")
        assert gpus.claim_gpu(timeout_s=0) == 0
    finally:
        release_all(gpu_env, holder)


@pytest.mark.parametrize(
    ("visible", "expected"),
    [("0,1,2", 3), ("2", 1), ("", 0), ("-1", 0), ("0,1,-1,3", 2), ("GPU-8f1c,GPU-77aa", 2)],
)
def test_detect_gpu_count_reads_cuda_visible_devices(monkeypatch, visible, expected):
    monkeypatch.delenv(gpus.COUNT_ENV, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpus.detect_gpu_count() == expected


def test_detect_gpu_count_override_wins(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv(gpus.COUNT_ENV, "5")
    assert gpus.detect_gpu_count() == 5


def test_no_visible_gpu_and_bad_override_raise_clear_errors(gpu_env, monkeypatch):
    monkeypatch.setenv(gpus.COUNT_ENV, "0")
    with pytest.raises(gpus.GpuClaimError, match="no GPU is visible"):
        gpus.claim_gpu()
    monkeypatch.setenv(gpus.COUNT_ENV, "two")
    with pytest.raises(gpus.GpuClaimError, match="CROSSMODAL_GPU_COUNT='two'"):
        gpus.claim_gpu()
