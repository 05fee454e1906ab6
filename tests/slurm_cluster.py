"""A throwaway single-node SLURM cluster on this machine, for tests/test_slurm.py.

munged, slurmctld and slurmd (Debian's `munge` and `slurm-wlm`) run as child processes of the
test: a munge key made for the test, slurm.conf with this machine's real hostname, CPUs and
memory (from ``slurmd -C``), state, spool, logs and sockets in one temporary folder, free TCP
ports, ``proctrack/linuxproc`` (no cgroups), and no accounting database. Client commands
(sbatch, squeue, and Snakemake's SLURM plugin that calls them) find this cluster through
``SLURM_CONF`` in :meth:`SlurmCluster.env`; nothing under /etc is touched. The node also
declares count-only ``gpu`` GRES, so jobs that ask for ``--gpus=1`` are scheduled as on a GPU
node (no device is behind them: torch still sees no CUDA).

Without accounting, ``sacct`` cannot report jobs: clients query ``squeue``, which keeps
finished jobs for ``MinJobAge`` seconds (set long here). :meth:`SlurmCluster.stop` cancels
what is still queued and stops the daemons it started, by their process ids.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "srun", "scancel")
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
PARTITION = "crossmodal"
MIN_JOB_AGE_S = 900
STAND_IN_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot run here: binaries missing, or the daemons did not come up (log tail)."""


def search_path() -> str:
    """PATH plus the sbin folders where Debian puts the daemons (absent from users' PATH)."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(parts + [d for d in SBIN if d not in parts])


def missing_binaries() -> list[str]:
    """The SLURM/munge programs this machine lacks (empty when all are installed)."""
    path = search_path()
    return [name for name in DAEMONS + CLIENTS if shutil.which(name, path=path) is None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node_line(slurmd: str) -> tuple[str, str]:
    """(node name, slurm.conf node attributes) as ``slurmd -C`` reports this machine."""
    out = subprocess.run([slurmd, "-C"], capture_output=True, text=True, timeout=60, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("NodeName="))
    fields = dict(item.split("=", 1) for item in line.split())
    return fields.pop("NodeName"), " ".join(f"{k}={v}" for k, v in fields.items())


class SlurmCluster:
    """munged + slurmctld + slurmd on localhost; use as a context manager or start()/stop()."""

    def __init__(self, root: Path | None = None, gpus: int = 2):
        if not 0 < gpus <= len(STAND_IN_DEVICES):
            raise ValueError(f"gpus must be 1..{len(STAND_IN_DEVICES)}, not {gpus}")
        # Unix socket paths are limited to ~107 bytes: keep the folder short.
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="cmslurm-"))
        self._own_root = root is None
        self.gpus = gpus
        self.partition = PARTITION
        self.conf = self.root / "slurm.conf"
        self.procs: dict[str, subprocess.Popen] = {}
        path = search_path()
        self.bin = {name: shutil.which(name, path=path) for name in DAEMONS + CLIENTS}

    # -- environment for clients ------------------------------------------------------------
    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) without any outer SLURM job's settings, plus SLURM_CONF."""
        env = {
            k: v for k, v in (os.environ if base is None else base).items()
            if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))
        }
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.root / "bin"), search_path()])
        return env

    def client(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        """Runs a SLURM client command against this cluster; its stdout."""
        result = subprocess.run([self.bin[args[0]], *args[1:]], env=self.env(), capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (finished ones for MinJobAge), as ``scontrol`` fields."""
        out = self.client("scontrol", "show", "job", "--oneliner", check=False)
        jobs = []
        for line in out.splitlines():
            if "JobId=" not in line:
                continue
            fields = {}
            for item in line.split():
                if "=" in item:
                    key, value = item.split("=", 1)
                    fields[key] = value
            jobs.append(fields)
        return jobs

    # -- lifecycle ----------------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "munge", 0o755)  # the socket must be reachable by job processes
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        node, attributes = node_line(self.bin["slurmd"])
        self.node = node
        user = getpass.getuser()
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    "# Written by tests/slurm_cluster.py for one test session.",
                    "ClusterName=crossmodaltest",
                    f"SlurmctldHost={node}(127.0.0.1)",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    f"SlurmUser={user}",
                    f"SlurmdUser={user}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r}/munge/munge.sock",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldPidFile={r}/slurmctld.pid",
                    f"SlurmdPidFile={r}/slurmd.pid",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "MpiDefault=none",
                    "MailProg=/bin/true",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "ReturnToService=2",
                    f"MinJobAge={MIN_JOB_AGE_S}",
                    "SlurmdTimeout=300",
                    "InactiveLimit=0",
                    "KillWait=5",
                    "GresTypes=gpu",
                    f"NodeName={node} NodeAddr=127.0.0.1 {attributes} Gres=gpu:{self.gpus} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        # GRES need device files; harmless character devices stand in for the GPUs.
        files = ",".join(STAND_IN_DEVICES[: self.gpus])
        (self.root / "gres.conf").write_text(f"AutoDetect=off\nNodeName={node} Name=gpu File={files}\n")

    def write_client_wrappers(self) -> None:
        """bin/<client> scripts that set SLURM_CONF and run the real client.

        Inside a job, Snakemake's jobstep plugin starts ``srun`` with every SLURM_* variable
        removed but the job's identity, SLURM_CONF included; a real cluster's nodes find their
        configuration at the default path or from slurmctld (configless), this one by the
        wrappers first in PATH.
        """
        folder = self.root / "bin"
        folder.mkdir(exist_ok=True)
        for name in CLIENTS:
            wrapper = folder / name
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{self.bin[name]}" "$@"\n')
            wrapper.chmod(0o755)

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(
            [self.bin[name], *args], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    def _log_tail(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def start(self, timeout: float = 60) -> "SlurmCluster":
        missing = missing_binaries()
        if missing:
            raise SlurmUnavailable(f"not installed: {', '.join(missing)} (Debian: slurm-wlm munge)")
        self.write_config()
        self.write_client_wrappers()
        m = self.root / "munge"
        self._spawn("munged", ["--foreground", "--force", f"--socket={m}/munge.sock",
                               f"--key-file={m}/munge.key", f"--log-file={m}/munged.log",
                               f"--pid-file={m}/munged.pid", f"--seed-file={m}/munged.seed"])
        self._wait_for(lambda: (m / "munge.sock").exists(), timeout, "munged to open its socket")
        self._spawn("slurmctld", ["-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.node])
        self._wait_for(self._node_ready, timeout, "the node to become idle")
        return self

    def _node_ready(self) -> bool:
        result = subprocess.run([self.bin["sinfo"], "-h", "-N", "-o", "%T"], env=self.env(),
                                capture_output=True, text=True, timeout=30)
        return result.returncode == 0 and result.stdout.strip() in {"idle", "mixed", "allocated"}

    def _wait_for(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self.stop()
                    raise SlurmUnavailable(f"{name} exited with {proc.returncode}:\n{self._log_tail()}")
            if ready():
                return
            time.sleep(0.5)
        tail = self._log_tail()
        self.stop()
        raise SlurmUnavailable(f"timed out waiting for {what}:\n{tail}")

    def stop(self) -> None:
        """Cancels queued/running jobs, then stops slurmd, slurmctld and munged by pid."""
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            active = self.client("squeue", "-h", "-o", "%i", "-t", "PD,R,CG,S", check=False).split()
            if active:
                self.client("scancel", *active, check=False)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and self.client(
                    "squeue", "-h", "-o", "%i", "-t", "PD,R,CG,S", check=False
                ).split():
                    time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._own_root:
            for _ in range(3):  # a daemon's last writes can race the first pass
                shutil.rmtree(self.root, ignore_errors=True)
                if not self.root.exists():
                    break
                time.sleep(0.5)

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
