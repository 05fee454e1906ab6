"""One GPU per training process, so concurrent jobs on one machine do not all land on GPU 0.

Snakemake runs each training job as its own process. ``--resources gpu=N`` (the default
profile sets N to the GPUs found here) caps how many run at once, but every one of them would
still pick ``cuda:0``. :func:`claim_gpu` gives each process its own device instead: it takes an
exclusive ``fcntl.flock`` lock on one file per device in a lock folder and keeps it until the
process exits (the kernel drops the lock then, even after a crash or a ``kill -9``), so the next
job finds that device taken and moves on to a free one.

Which devices: the ones this process can see. ``CUDA_VISIBLE_DEVICES`` is respected: the
returned index is an ordinal among the visible devices (what ``torch.device("cuda", i)`` wants),
and the lock is named after the physical device it maps to, so two processes with different
visibility lists still agree. Under SLURM the job's devices are the ones SLURM assigned (it sets
``CUDA_VISIBLE_DEVICES``), and locks live in a folder of their own per SLURM job, because with
device cgroups two jobs on one node may both see their own GPU as device 0.

Environment:
    ``CROSSMODAL_GPU_LOCK_DIR``  the lock folder (default: ``<tmp>/crossmodal-gpu-locks-<uid>``);
                                 keep it on a node-local file system.
    ``CROSSMODAL_GPU_COUNT``     number of devices to share out, instead of what torch (or, in
                                 :func:`detect_gpu_count`, the driver) reports; for tests and
                                 for keeping some GPUs out of the workflow's hands.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "CROSSMODAL_GPU_LOCK_DIR"
COUNT_ENV = "CROSSMODAL_GPU_COUNT"

# (device ordinal, open lock file descriptor) once this process holds a device.
_claimed: tuple[int, int] | None = None


class GpuClaimError(OSError):
    """No GPU can be claimed: none visible, the lock folder is unusable, or waiting timed out."""


def _count_override() -> int | None:
    value = os.environ.get(COUNT_ENV, "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        raise GpuClaimError(f"{COUNT_ENV}={value!r} is not a whole number of GPUs") from None
    if count < 0:
        raise GpuClaimError(f"{COUNT_ENV}={value!r} is negative")
    return count


def _visible_list() -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` (None when unset), as CUDA reads them.

    CUDA stops at the first invalid entry; ``-1`` (or any negative index) hides every device.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    entries = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry or re.fullmatch(r"-\d+", entry):
            break
        entries.append(entry)
    return entries


def detect_gpu_count() -> int:
    """GPUs this process could use, found without importing torch (the default profile calls it).

    ``CROSSMODAL_GPU_COUNT`` when set, else the length of ``CUDA_VISIBLE_DEVICES`` when set,
    else the NVIDIA driver's device list (``/proc/driver/nvidia/gpus``), else 0.
    """
    override = _count_override()
    if override is not None:
        return override
    visible = _visible_list()
    if visible is not None:
        return len(visible)
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def device_count() -> int:
    """Devices torch can address here (``CROSSMODAL_GPU_COUNT`` overrides)."""
    override = _count_override()
    if override is not None:
        return override
    import torch

    return int(torch.cuda.device_count())


def device_keys(count: int) -> list[str]:
    """A name per visible device ordinal that identifies the physical device.

    ``CUDA_VISIBLE_DEVICES=2,3`` gives ``["2", "3"]`` (ordinal 0 is physical GPU 2); UUIDs are
    kept as they are; unset gives ``["0", ..., "count-1"]``.
    """
    visible = _visible_list() or []
    return [visible[i] if i < len(visible) else str(i) for i in range(count)]


def lock_dir() -> Path:
    """The folder of per-device lock files for this process (created when missing)."""
    configured = os.environ.get(LOCK_DIR_ENV)
    base = Path(configured) if configured else Path(tempfile.gettempdir()) / f"crossmodal-gpu-locks-{os.getuid()}"
    job = os.environ.get("SLURM_JOB_ID")
    folder = base / f"slurm-job-{job}" if job else base
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700 if not configured else 0o777)
    except OSError as exc:
        raise GpuClaimError(f"cannot create the GPU lock folder {folder}: {exc.strerror}") from exc
    return folder


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path``, or None when another holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # someone else's lock file in a shared folder: flock needs no write
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    try:  # who holds it, for someone reading the folder; not needed for the lock itself
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass
    return fd


def claim_gpu(poll_s: float = 2.0, timeout_s: float | None = None) -> int:
    """The ordinal of a visible GPU that no other process holds; this process holds it until exit.

    Picks the lowest free device. When every device is held (more training jobs than GPUs,
    e.g. Snakemake run without ``--resources gpu=N``), waits for one to be released, checking
    every ``poll_s`` seconds, for at most ``timeout_s`` seconds (None: as long as it takes)
    rather than share a device and run out of its memory. Calling it again in the same process
    (or in a child forked after the claim) returns the same ordinal.

    Raises :class:`GpuClaimError` when no device is visible, the lock folder cannot be made,
    or the wait timed out.
    """
    global _claimed
    if _claimed is not None:
        return _claimed[0]
    count = device_count()
    if count <= 0:
        raise GpuClaimError("no GPU is visible to this process (CUDA_VISIBLE_DEVICES, driver)")
    folder = lock_dir()
    keys = device_keys(count)
    started = time.monotonic()
    waiting_logged = False
    while True:
        for ordinal, key in enumerate(keys):
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
            try:
                fd = _try_lock(folder / f"gpu-{safe}.lock")
            except OSError as exc:
                raise GpuClaimError(f"cannot lock {folder / f'gpu-{safe}.lock'}: {exc.strerror}") from exc
            if fd is not None:
                _claimed = (ordinal, fd)
                log.info("using GPU %d of %d (device %s; lock in %s)", ordinal, count, key, folder)
                return ordinal
        waited = time.monotonic() - started
        if timeout_s is not None and waited >= timeout_s:
            raise GpuClaimError(
                f"all {count} GPUs stayed held by other processes for {waited:.0f} s (locks in {folder})"
            )
        if not waiting_logged:
            log.warning("all %d GPUs are held by other jobs (locks in %s); waiting for one", count, folder)
            waiting_logged = True
        time.sleep(poll_s)


def release_gpu() -> None:
    """Gives the claimed device back before the process exits (exit does it anyway)."""
    global _claimed
    if _claimed is not None:
        os.close(_claimed[1])
        _claimed = None
