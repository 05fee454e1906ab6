"""Reading what the evaluation steps judge: encodings, generators, kept checkpoints; step flags."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import numpy as np

from crossmodal.config import add_device_arguments


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every evaluation step that runs a network shares (device flags: config.add_device_arguments)."""
    parser.add_argument("--batch-size", type=int, default=256, help="samples per forward pass")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of the windows picked")
    add_device_arguments(parser, amp=False)


def add_s2i_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every S2I evaluation step shares."""
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--judge", required=True, help="the image classifier Gamma (image-encoder's model .pt)")
    parser.add_argument("--max-windows", type=int, default=0,
                        help="judge a seeded random subset of this many windows per split (0: all)")
    add_runtime_arguments(parser)


def open_encodings(path: str | os.PathLike, n_windows: int) -> np.ndarray:
    """A store of 128-d encodings, float32 [N, D] memory-mapped, row = window_id."""
    from crossmodal import store

    encodings = store.open_array(path, rows=n_windows)
    if encodings.ndim != 2:
        raise ValueError(f"{path}: expected encodings [N, D], found shape {encodings.shape}")
    return encodings


def load_generator(path: str | os.PathLike, kind: str, device, weights: str | os.PathLike | None = None):
    """The generator of a train-gan model file (optionally with a kept checkpoint's weights),
    in eval mode; refuses a model of the other kind (s2i or i2s)."""
    from crossmodal.models.gan import load_gan

    generator, _, extra = load_gan(path, weights=weights, device=device)
    if extra.get("kind") != kind:
        raise ValueError(f"{path}: is a {extra.get('kind')} GAN, this step needs {kind}")
    return generator, extra


CHECKPOINT_RE = re.compile(r"^epoch_(\d+)\.pt$")


def kept_checkpoints(model_path: str | os.PathLike, final_epoch: int | None) -> list[tuple[int, Path]]:
    """(epoch, weights file) of every checkpoint kept beside a GAN's model.pt
    (checkpoints/epoch_XXXX.pt), sorted, with model.pt itself as ``final_epoch`` when no kept
    checkpoint has that epoch."""
    model_path = Path(model_path)
    found = {}
    folder = model_path.parent / "checkpoints"
    if folder.is_dir():
        for path in folder.iterdir():
            match = CHECKPOINT_RE.match(path.name)
            if match:
                found[int(match[1])] = path
    if final_epoch is not None and final_epoch not in found:
        found[final_epoch] = model_path
    if not found:
        raise ValueError(f"{model_path}: no kept checkpoints in {folder} and no final epoch known")
    return sorted(found.items())
