"""Train one cross-modal GAN (Sec. 3.2, 5.1): S2I-C, S2I-N, S2I-A, a pose S2I, or I2S.

The model is chosen by its inputs and flags: ``--kind s2i`` generates images from a sound
encoding (``--encodings`` sound_classifier.npy for S2I-C and S2I-N, sound_autoencoder.npy for
S2I-A), ``--kind i2s`` generates LMS from the image encoding (``--encodings``
image_classifier.npy, ``--lms`` the LMS store). ``--wrong`` picks the wrong pairs:
other_instrument (Eq. 5, 7), same_instrument (Eq. 6, pose) or none (S2I-N); ``--instrument``
keeps one instrument's pairs (pose S2I). Only train-split pairs are used.

Writes ``--out`` (both networks and their sizes; load with crossmodal.gan_training.load_gan)
and, in its folder, metrics.csv, checkpoint.pt (resume), checkpoints/epoch_XXXX.pt and
samples/epoch_XXXX.png every --keep-every epochs.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from crossmodal.gan_training import WRONG_PAIRS, GANData, GANSettings, GANTrainer, input_stamp, reset_if_changed
from crossmodal.models.gan import I2S_SHAPE, RESIZE_MODES, normalize_lms, resize_lms
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)

_CHOICES = {"kind": ("s2i", "i2s"), "wrong": WRONG_PAIRS, "resize": RESIZE_MODES}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--encodings", required=True, help="the condition: float32 [N, 128] .npy, row = window_id")
    parser.add_argument("--lms", help="I2S: the LMS store float32 [N, 128, 44] .npy, row = window_id")
    parser.add_argument("--instrument", choices=INSTRUMENT_NAMES, help="train on this instrument's pairs only (pose S2I)")
    parser.add_argument("--out", required=True, help="output: the trained model (.pt); its folder gets the rest")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    # One flag per GANSettings field, with its default.
    for f in dataclasses.fields(GANSettings):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, type=int, choices=[0, 1], default=int(f.default), help=f.metadata["help"])
        else:
            kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            parser.add_argument(flag, type=kind, default=f.default, choices=_CHOICES.get(f.name), help=f.metadata["help"])


def load_pairs(windows, encodings_path: str, kind: str, lms_path: str | None = None,
               instrument: str | None = None, resize: str = "interpolate") -> GANData:
    """The train-split pairs of ``windows`` (one instrument's with ``instrument``) as GANData."""
    from crossmodal import store
    from crossmodal.training import gather

    if not (windows["window_id"].to_numpy() == np.arange(len(windows))).all():
        raise ValueError("windows manifest: window_id must equal the row number")
    keep = (windows["split"] == "train").to_numpy().copy()
    if instrument is not None:
        keep &= (windows["instrument"] == instrument).to_numpy()
    train = windows[keep]
    if len(train) < 2:
        what = f"{instrument} windows" if instrument else "windows"
        raise ValueError(f"only {len(train)} train {what}: a GAN needs at least two pairs")
    ids = train["window_id"].to_numpy()
    encodings = store.open_array(encodings_path, rows=len(windows))
    if encodings.ndim != 2:
        raise ValueError(f"{encodings_path}: expected encodings [N, D], found shape {encodings.shape}")
    condition = gather(encodings, ids, "cpu").numpy()
    labels = train["label"].to_numpy().astype(np.int64)
    extra = {"instrument": instrument, "n_pairs": int(len(train))}
    if kind == "s2i":
        frames = store.load_frames(train)
        if frames.shape[1:3] != (64, 64):
            raise ValueError(f"S2I generates 64x64 images; the frames are {frames.shape[1:3]} (set dataset.image_size: 64)")
        return GANData(condition, frames, labels, extra=extra)
    if lms_path is None:
        raise ValueError("I2S needs --lms, the LMS store")
    lms = store.open_array(lms_path, rows=len(windows))
    if lms.ndim != 3 or lms.shape[1] != I2S_SHAPE[0]:
        raise ValueError(f"{lms_path}: expected LMS [N, {I2S_SHAPE[0]}, T], found shape {lms.shape}")
    target = resize_lms(gather(lms, ids, "cpu").numpy(), I2S_SHAPE[1], resize)
    low, high = float(target.min()), float(target.max())
    if not high > low:
        raise ValueError(f"{lms_path}: the train LMS are constant ({low}); nothing to learn")
    target = normalize_lms(target, low, high).astype(np.float32)[:, None]
    return GANData(condition, target, labels, lms_range=(low, high), extra={**extra, "lms_frames": int(lms.shape[2])})


def run(args: argparse.Namespace) -> None:
    from crossmodal import manifests
    from crossmodal.training import pick_device, set_threads

    started = time.perf_counter()
    set_threads(args.threads)
    settings = GANSettings(**{f.name: bool(getattr(args, f.name)) if f.type in ("bool", bool) else getattr(args, f.name)
                              for f in dataclasses.fields(GANSettings)})
    windows = manifests.read(args.windows, "windows")
    data = load_pairs(windows, args.encodings, settings.kind, args.lms, args.instrument, settings.resize)
    device = pick_device(args.device)
    out = Path(args.out)
    log.info("%s: %s GAN, wrong pairs %s, %d train pairs, %d epochs on %s", out.parent.name, settings.kind,
             settings.wrong, len(data.labels), settings.epochs, device)
    reset_if_changed(out.parent, {
        "settings": dataclasses.asdict(settings), "instrument": args.instrument,
        "inputs": input_stamp(args.windows, args.encodings, args.lms),
    })
    trainer = GANTrainer(out.parent, data, settings, device)
    trainer.train()
    trainer.save_final(out)
    log.info("train-gan %s done in %.1f s", out.parent.name, time.perf_counter() - started)
