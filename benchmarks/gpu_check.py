"""GPU check: the project's CUDA paths, run for real, with the figures a GPU user needs.

No CUDA path of the project runs in CI (no GPU there). This check is what to run when one is at
hand (``bash benchmarks/gpu_check.sh``, under 8 minutes on one GPU); ``--cpu`` runs the same
four parts with tiny sizes on the CPU, and the test suite runs that smoke mode so the check
cannot rot.

1. ``all`` on the tiny config with ``training.device`` cuda (AMP on), in a temporary folder; every
   training job's log must say it ran on cuda (``TrainingRun`` logs its device once).
2. Kill and resume: one S2I-C training is SIGKILLed after its first checkpoint and rerun; its
   weights are compared with an uninterrupted run's (bit for bit on CPU; on CUDA the report also
   gives two uninterrupted runs' difference, the floor set by non-deterministic kernels).
3. Training steps per second of S2I-C and I2S at the paper preset's widths and batch (S2I ngf 128,
   ndf 64; I2S + extra layers 2 and 12; batch 64) through the project's data path (every pair on
   the device, a batch is one gather), with the share of step time spent waiting for data, bf16
   autocast against fp32.
4. An estimate of the paper preset's GPU hours on full URMP from those rates and the full-size
   window counts.

Writes ``gpu_check.json`` to ``--out`` and prints a summary; exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_step import measure, random_gan_data  # noqa: E402
from workflow_helpers import make_workdir, snakemake  # noqa: E402

from crossmodal.gan.train import GANSettings, GANTrainer  # noqa: E402

#: Train windows of the full-size data, per GAN of the paper preset (Sub-URMP release counts,
#: /work/shared/urmp/README.md; the URMP path gives about the same: 80,805 windows, 80/20 split).
FULL_TRAIN_WINDOWS = {"s2i_c": 71_230, "s2i_n": 71_230, "s2i_a": 71_230, "i2s": 71_230,
                      "pose_s2i_violin": 7_430, "pose_s2i_viola": 6_530, "pose_s2i_cello": 9_800}
PAPER_PRESET = REPO / "workflow" / "presets" / "paper.yaml"


def log(message: str) -> None:
    print(f"[gpu_check] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ 1. the workflow on the device
def run_workflow(workdir: Path, device: str, target: str) -> dict:
    """Runs ``target`` on the tiny config with trainings on ``device``; returns each training log's device."""
    make_workdir(workdir, {"training.device": device, "training.amp": True})
    started = time.perf_counter()
    snakemake(workdir, "--cores", "all", target, timeout=1800)
    seconds = time.perf_counter() - started
    devices = {}
    for path in sorted((workdir / "results" / "logs").rglob("*.log")):
        found = re.findall(r"training \S+ on (\S+) \(mixed precision: (\S+)\)", path.read_text(errors="replace"))
        if found:
            devices[str(path.relative_to(workdir / "results" / "logs"))] = sorted({f"{d} amp={a}" for d, a in found})
    wanted = "cuda" if device.startswith("cuda") else "cpu"
    wrong = {name: d for name, d in devices.items() if not all(x.startswith(wanted) for x in d)}
    return {"target": target, "seconds": round(seconds, 1), "training_logs": len(devices), "devices": devices,
            "ok": bool(devices) and not wrong, "not_on_device": wrong}


# ------------------------------------------------------------------ 2. kill and resume
def _train_gan_command(workdir: Path, out: Path, device: str, epochs: int, width: int) -> list[str]:
    results = workdir / "results"
    return [sys.executable, "-m", "crossmodal", "train-gan", "--kind", "s2i", "--wrong", "other_instrument",
            "--windows", str(results / "manifests" / "windows.parquet"),
            "--encodings", str(results / "embeddings" / "sound_classifier.npy"),
            "--out", str(out), "--epochs", str(epochs), "--batch-size", "16", "--ngf", str(width), "--ndf", str(width),
            "--keep-every", "100", "--device", device, "--threads", "2"]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    models = torch.load(path, map_location="cpu", weights_only=True)["models"]
    return {f"{m}.{k}": v for m, state in models.items() for k, v in state.items()}


def _compare(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict:
    equal = sum(torch.equal(a[k], b[k]) for k in a)
    diff = max((float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()), default=0.0)
    return {"tensors": len(a), "equal": int(equal), "max_abs_diff": diff}


def kill_and_resume(workdir: Path, device: str, epochs: int, width: int) -> dict:
    """SIGKILLs a train-gan job after its first checkpoint, reruns it, compares with uninterrupted runs."""
    root = workdir / "kill_check"
    shutil.rmtree(root, ignore_errors=True)
    straight = root / "straight" / "model.pt"
    _run(_train_gan_command(workdir, straight, device, epochs, width), workdir)
    killed = root / "killed" / "model.pt"
    command = _train_gan_command(workdir, killed, device, epochs, width)
    job = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    checkpoint = killed.parent / "checkpoint.pt"
    while not checkpoint.exists() and job.poll() is None:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    epochs_at_kill = int(torch.load(checkpoint, weights_only=True)["epochs_done"]) if checkpoint.exists() else 0
    _run(command, workdir)
    result = {"epochs": epochs, "width": width, "killed_by_signal": job.returncode == -signal.SIGKILL,
              "epochs_done_at_kill": epochs_at_kill, "resumed_vs_straight": _compare(_weights(straight), _weights(killed))}
    if device.startswith("cuda"):  # the floor: two uninterrupted runs on the GPU
        again = root / "straight_again" / "model.pt"
        _run(_train_gan_command(workdir, again, device, epochs, width), workdir)
        result["straight_vs_straight"] = _compare(_weights(straight), _weights(again))
    cmp = result["resumed_vs_straight"]
    result["ok"] = result["killed_by_signal"] and 0 < epochs_at_kill < epochs and (
        cmp["equal"] == cmp["tensors"] if not device.startswith("cuda")
        else cmp["max_abs_diff"] <= max(1e-3, 10 * result["straight_vs_straight"]["max_abs_diff"]))
    return result


# ------------------------------------------------------------------ 3. training throughput
def throughput(kind: str, device: torch.device, amp: bool, batch: int, steps: int, widths: dict, out: Path) -> dict:
    """Steps per second of one GAN's D + G step on in-memory pairs (the project's data path)."""
    data = random_gan_data(kind, max(4 * batch, 256))
    settings = GANSettings(kind=kind, batch_size=batch, epochs=1, amp=amp, **widths)
    folder = out / f"throughput_{kind}_{'amp' if amp else 'fp32'}"
    shutil.rmtree(folder, ignore_errors=True)
    trainer = GANTrainer(folder, data, settings, device)
    rng = np.random.default_rng(0)

    def batches():
        while True:
            idx = rng.permutation(len(data.labels))[:batch]
            yield trainer.fetch(idx, rng)

    z = lambda n: torch.randn(n, settings.z_dim, device=trainer.device)  # noqa: E731
    m = measure(batches(), lambda b: trainer.step(*b, z(len(b[0]))), trainer.device, steps, warmup=3)
    precision = str(trainer.run.amp_dtype).removeprefix("torch.") if trainer.run.amp else "fp32"
    return {"kind": kind, "precision": precision, "batch": batch, **widths,
            "steps_per_s": 1000 / m["step_ms"], "pairs_per_s": batch * 1000 / m["step_ms"],
            "step_ms": m["step_ms"], "data_wait_share": m["wait_share"]}


# ------------------------------------------------------------------ 4. estimate
def gpu_hours(rates: dict[str, float], epochs: int) -> dict:
    """Hours of GAN training for the paper preset on full URMP, from pairs/s per kind."""
    per_model = {name: epochs * n / rates["i2s" if name == "i2s" else "s2i"] / 3600
                 for name, n in FULL_TRAIN_WINDOWS.items()}
    return {"epochs": epochs, "per_model_hours": {k: round(v, 2) for k, v in per_model.items()},
            "total_hours": round(sum(per_model.values()), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="smoke mode: tiny sizes on the CPU (the test suite runs it)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="where gpu_check.json goes")
    parser.add_argument("--workdir", type=Path, help="tiny workflow folder (default: a temporary one)")
    args = parser.parse_args(argv)

    if not args.cpu and not torch.cuda.is_available():
        log("no CUDA device here; run with --cpu for the smoke mode")
        return 2
    device = "cpu" if args.cpu else "cuda"
    preset = yaml.safe_load(PAPER_PRESET.read_text())["gan"]
    if args.cpu:
        target, kill = "results/embeddings/sound_classifier.npy", {"epochs": 3, "width": 8}
        batch, steps = 8, 3
        widths = {"s2i": {"ngf": 8, "ndf": 8},
                  "i2s": {"ngf": 8, "ndf": 8, "generator_extra_layers": 1, "discriminator_extra_layers": 1}}
    else:
        target, kill = "all", {"epochs": 4, "width": 64}
        batch, steps = preset["batch_size"], 30
        widths = {"s2i": dict(preset["s2i"]), "i2s": dict(preset["i2s"])}
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    report: dict = {"mode": "cpu smoke" if args.cpu else "gpu", "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(0) if not args.cpu else "cpu"}

    log(f"1/4 tiny workflow ({target}) with trainings on {device}")
    report["workflow"] = run_workflow(workdir, device, target)
    log(f"2/4 kill and resume one S2I-C training on {device}")
    report["kill_resume"] = kill_and_resume(workdir, device, **kill)
    log("3/4 training throughput, paper widths" if not args.cpu else "3/4 training throughput, tiny widths")
    torch_device = torch.device(device)
    report["throughput"] = [throughput(kind, torch_device, amp, batch, steps, widths[kind], workdir)
                            for kind in ("s2i", "i2s") for amp in (True, False)]
    best = {kind: max(r["pairs_per_s"] for r in report["throughput"] if r["kind"] == kind) for kind in ("s2i", "i2s")}
    log("4/4 GPU hours of the paper preset on full URMP")
    report["estimate"] = gpu_hours(best, preset["epochs"])
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")

    w, k = report["workflow"], report["kill_resume"]
    print(f"device: {report['device']}, torch {report['torch']} ({report['mode']})")
    print(f"1. {w['target']} in {w['seconds']} s; {w['training_logs']} training jobs, all on {device}: {w['ok']}")
    print(f"2. killed after {k['epochs_done_at_kill']} of {k['epochs']} epochs, resumed: "
          f"{k['resumed_vs_straight']['equal']}/{k['resumed_vs_straight']['tensors']} tensors equal, "
          f"max |diff| {k['resumed_vs_straight']['max_abs_diff']:.3g}"
          + (f" (two uninterrupted runs: max |diff| {k['straight_vs_straight']['max_abs_diff']:.3g})"
             if "straight_vs_straight" in k else "") + f": {k['ok']}")
    print(f"3. {'kind':5s} {'precision':9s} {'batch':>5s} {'steps/s':>8s} {'pairs/s':>9s} {'data wait %':>11s}")
    for r in report["throughput"]:
        print(f"   {r['kind']:5s} {r['precision']:9s} {r['batch']:5d} {r['steps_per_s']:8.2f} {r['pairs_per_s']:9.1f} "
              f"{100 * r['data_wait_share']:11.2f}")
    e = report["estimate"]
    print(f"4. paper preset ({e['epochs']} epochs) GAN training on full URMP: {e['total_hours']:.1f} GPU hours "
          f"({', '.join(f'{m} {h}' for m, h in e['per_model_hours'].items())})")
    ok = w["ok"] and k["ok"]
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
