"""Pitch judges: small regressors that read a window's pitch (semitones) from its image or its LMS.

Beyond the paper. A pose-oriented S2I model should draw the player's hand where the sound's
pitch puts it (Sec. 5.3 calls this "hard to quantify"); an I2S model should give a spectrogram
at the pitch the image shows. To measure both, a judge per modality learns pitch from real
pairs of the train split, voiced windows only:

* image judge, one per pose instrument (the hand positions of a cello mean other pitches than a
  violin's): four strided 3x3 convs on the 64x64 frame, one FC layer, one output;
* sound judge, one for all instruments, on the LMS (dB, 128 x 44) averaged over time: three
  1-D conv + pool blocks along the mel axis and one FC layer. Chosen over a pretrained tracker
  (crepe, penn, pesto-pitch exist on PyPI, pesto-pitch with weights inside its wheel): those
  read waveforms, and I2S makes LMS, which would first have to be inverted with Griffin-Lim,
  whose phase errors the tracker would then be judging too; a judge on LMS reads exactly what
  the generator outputs.

Targets are MIDI note numbers standardised with the training windows' mean and standard
deviation (kept in the model file). Trained with the project's TrainingRun (resumable,
fingerprinted); the train-split Spearman correlation per epoch goes to metrics.csv.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from crossmodal.pitch import MIN_VOICED_FRACTION, hz_to_semitones

log = logging.getLogger(__name__)

KINDS = ("image", "sound")


class ImagePitchJudge(nn.Module):
    """uint8-derived images float [N, 3, 64, 64] in [-1, 1] -> standardised pitch [N]."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * 4 * 4, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class SoundPitchJudge(nn.Module):
    """Standardised LMS float [N, n_mels, t] -> standardised pitch [N].

    Pitch is a property of the whole window's spectrum, so the LMS is averaged over time first
    and three 1-D conv + pool blocks read the harmonics along the mel axis (~30x cheaper than 2-D
    convolutions over 128 x 44, which matters on a CPU with thousands of training windows)."""

    def __init__(self, width: int = 16, n_mels: int = 128, frames: int = 44) -> None:
        super().__init__()
        layers, c_in = [], 1
        for c_out in (width, 2 * width, 2 * width):
            layers += [nn.Conv1d(c_in, c_out, 5, padding=2), nn.LeakyReLU(0.2), nn.MaxPool1d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * (n_mels // 8), 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.mean(dim=2, keepdim=True).transpose(1, 2))).squeeze(1)


def build(kind: str, width: int, in_shape: tuple[int, ...]) -> nn.Module:
    if kind == "image":
        if tuple(in_shape) != (64, 64, 3):
            raise ValueError(f"the image pitch judge takes 64x64 RGB frames, got {tuple(in_shape)}")
        return ImagePitchJudge(width)
    if kind == "sound":
        return SoundPitchJudge(width, *in_shape)
    raise ValueError(f"pitch judge kind must be one of {KINDS}, got {kind!r}")


def to_input(kind: str, batch: np.ndarray, extra: dict, device) -> torch.Tensor:
    """A batch of frames (uint8 [b, 64, 64, 3]) or LMS (dB [b, 128, 44]) as the judge takes it."""
    if kind == "image":
        from crossmodal.models.image import images_to_tensor

        return images_to_tensor(np.ascontiguousarray(batch), device)
    x = torch.as_tensor(np.asarray(batch, dtype=np.float32), device=device)
    return (x - float(extra["input_mean"])) / float(extra["input_std"])


class PitchJudge:
    """A trained judge from its model file: ``judge(batch)`` -> pitch in semitones, float64 [b]."""

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu", batch_size: int = 256) -> None:
        from crossmodal.training import load_models

        payload = torch.load(path, map_location="cpu", weights_only=True)
        extra = payload.get("extra", {})
        if extra.get("model") != "pitch_judge":
            raise ValueError(f"{path}: is not a pitch judge (made by crossmodal pitch-judge)")
        self.kind, self.extra = extra["kind"], extra
        self.instrument = extra.get("instrument") or ""
        self.net = build(self.kind, int(extra["width"]), tuple(extra["in_shape"]))
        load_models(path, {"net": self.net})
        self.net.to(device).eval()
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if tuple(batch.shape[1:]) != tuple(self.extra["in_shape"]):
            raise ValueError(f"this {self.kind} pitch judge takes [n, {', '.join(map(str, self.extra['in_shape']))}], "
                             f"got {tuple(batch.shape)}")
        out = []
        for start in range(0, len(batch), self.batch_size):
            x = to_input(self.kind, batch[start:start + self.batch_size], self.extra, self.device)
            out.append(self.net(x).float().cpu().numpy())
        z = np.concatenate(out) if out else np.zeros(0, np.float32)
        return z.astype(np.float64) * float(self.extra["target_std"]) + float(self.extra["target_mean"])


def training_ids(windows, pitch, kind: str, instrument: str | None, split: str = "train",
                 min_voiced: float = MIN_VOICED_FRACTION) -> np.ndarray:
    """window_ids a judge learns from (or is checked on): voiced windows of ``split`` (and of
    ``instrument`` for an image judge)."""
    keep = (windows["split"] == split) & pitch["f0_hz"].notna() & (pitch["voiced_fraction"] >= min_voiced)
    if kind == "image":
        keep &= windows["instrument"] == instrument
    return windows.loc[keep, "window_id"].to_numpy()


def train_judge(kind: str, inputs: np.ndarray, targets: np.ndarray, out_dir: str | os.PathLike, *, epochs: int,
                batch_size: int, learning_rate: float, width: int, seed: int, device, amp: bool = False,
                fingerprint: dict | None = None):
    """Trains a judge on inputs [n, ...] (frames uint8 or LMS dB) and targets in semitones [n].

    Returns (the net, the ``extra`` dict its model file keeps: standardisation, sizes, the TrainingRun).
    """
    from crossmodal.evaluation.stats import spearman
    from crossmodal.training import TrainingRun, seed_everything

    if len(inputs) != len(targets) or len(targets) < 2:
        raise ValueError(f"a pitch judge needs at least 2 voiced training windows, got {len(targets)}")
    extra = {"model": "pitch_judge", "kind": kind, "width": int(width), "in_shape": [int(s) for s in inputs.shape[1:]],
             "target_mean": float(np.mean(targets)), "target_std": float(max(np.std(targets), 1e-3))}
    if kind == "sound":
        extra["input_mean"] = float(np.mean(inputs))
        extra["input_std"] = float(max(np.std(inputs), 1e-6))
    seed_everything(seed)  # the initial weights come from the seed, not from whatever ran before
    net = build(kind, width, tuple(inputs.shape[1:]))
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    run = TrainingRun(out_dir, {"net": net}, {"net": opt}, epochs, seed, device, amp=amp, fingerprint=fingerprint)
    y = torch.as_tensor((targets - extra["target_mean"]) / extra["target_std"], dtype=torch.float32)
    for epoch in run.epochs():
        net.train()
        losses, preds, order = [], [], []
        for idx in run.batches(len(targets), batch_size, epoch):
            x = to_input(kind, inputs[np.sort(idx)], extra, run.device)
            target = y[np.sort(idx)].to(run.device)
            with run.autocast():
                out = net(x)
                loss = nn.functional.mse_loss(out.float(), target)
            run.step(loss, "net")
            losses.append(float(loss.detach()))
            preds.append(out.detach().float().cpu().numpy())
            order.append(np.sort(idx))
        rho = spearman(np.concatenate(preds), targets[np.concatenate(order)])
        run.end_epoch(epoch, {"loss": float(np.mean(losses)), "train_spearman": rho})
    net.eval()
    return net, extra, run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=KINDS, help="image (per instrument) or sound (LMS)")
    parser.add_argument("--instrument", help="the instrument whose frames an image judge learns from")
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--pitch", required=True, help="pitch.parquet (crossmodal window-pitch)")
    parser.add_argument("--lms", help="the LMS store (.npy [N, 128, 44], dB): the sound judge's input")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=16, help="channels of the first conv layer")
    parser.add_argument("--min-voiced", type=float, default=MIN_VOICED_FRACTION,
                        help="windows with at least this share of voiced F0 frames are used")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--amp", type=int, choices=[0, 1], default=0, help="mixed precision on CUDA (1/0)")
    parser.add_argument("--out", required=True, help="output: the judge's model.pt (its folder gets checkpoint, metrics)")


def run(args: argparse.Namespace) -> None:
    from crossmodal import store
    from crossmodal.manifests import read_windows
    from crossmodal.pitch.windows import read_pitch
    from crossmodal.training import pick_device, run_fingerprint, set_threads

    started = time.perf_counter()
    if args.kind == "image" and not args.instrument:
        raise ValueError("an image pitch judge needs --instrument")
    if args.kind == "sound" and not args.lms:
        raise ValueError("the sound pitch judge needs --lms")
    set_threads(args.threads)
    device = pick_device(args.device)
    windows = read_windows(args.windows)
    pitch = read_pitch(args.pitch, len(windows))
    ids = training_ids(windows, pitch, args.kind, args.instrument, "train", args.min_voiced)
    if len(ids) < 2:
        raise ValueError(f"{args.pitch}: fewer than 2 voiced train windows"
                         + (f" of {args.instrument}" if args.instrument else "") + " to train a pitch judge on")
    targets = hz_to_semitones(pitch["f0_hz"].to_numpy()[ids])
    if args.kind == "image":
        inputs = store.load_frames(windows.iloc[ids])
    else:
        inputs = np.asarray(store.open_array(args.lms, rows=len(windows))[ids], dtype=np.float32)
    settings = {k: getattr(args, k) for k in ("kind", "instrument", "batch_size", "learning_rate", "width", "min_voiced", "amp")}
    fingerprint = run_fingerprint(settings, [args.windows, args.pitch, args.lms])
    net, extra, training = train_judge(args.kind, inputs, targets, Path(args.out).parent, epochs=args.epochs,
                                       batch_size=args.batch_size, learning_rate=args.learning_rate, width=args.width,
                                       seed=args.seed, device=device, amp=bool(args.amp), fingerprint=fingerprint)
    extra["instrument"] = args.instrument or ""
    extra["train_windows"] = int(len(ids))
    training.save_final(args.out, extra)
    last = training.metrics[-1] if training.metrics else {}
    log.info("%s pitch judge%s: %d voiced train windows, train Spearman %.3f, %.1f s", args.kind,
             f" ({args.instrument})" if args.instrument else "", len(ids), last.get("train_spearman", float("nan")),
             time.perf_counter() - started)
