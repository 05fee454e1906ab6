"""Samples from the trained generators, reproducible per window.

Every generated sample is a function of (model, window, seed): the noise z of a window is drawn
from a generator seeded with (seed, window_id), so the same window gets the same z in every
model (S2I-C, S2I-N and S2I-A are compared on the same sound *and* the same noise), in every
batch size, and in every run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

#: Windows generated per forward pass.
DEFAULT_BATCH = 256


def window_noise(window_ids: np.ndarray, z_dim: int, seed: int) -> np.ndarray:
    """float32 [n, z_dim]: standard normal noise, row i seeded by (seed, window_ids[i])."""
    ids = np.asarray(window_ids, dtype=np.int64)
    out = np.empty((ids.size, z_dim), dtype=np.float32)
    for i, window_id in enumerate(ids):
        out[i] = np.random.default_rng([seed, int(window_id)]).standard_normal(z_dim, dtype=np.float32)
    return out


def images_to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output [N, 3, S, S] in [-1, 1] -> uint8 RGB [N, S, S, 3] (what a user sees and
    what the judge is given: the inverse of models.image.images_to_tensor, rounded)."""
    x = ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def _generate(generator: torch.nn.Module, encodings: np.ndarray, window_ids: np.ndarray, seed: int,
              device: torch.device | str, batch_size: int) -> Iterator[torch.Tensor]:
    """Raw generator outputs batch by batch, each window's noise seeded by (seed, window_id), so
    every model sees the same noise for a sound whatever the batch size (shared by S2I and I2S)."""
    if len(encodings) != len(window_ids):
        raise ValueError(f"{len(encodings)} encodings for {len(window_ids)} windows")
    generator.eval()
    for start in range(0, len(window_ids), batch_size):
        ids = window_ids[start:start + batch_size]
        z = torch.from_numpy(window_noise(ids, generator.z_dim, seed)).to(device)
        code = torch.as_tensor(np.ascontiguousarray(encodings[start:start + batch_size]), dtype=torch.float32).to(device)
        yield generator(code, z)


@torch.no_grad()
def iter_images(generator: torch.nn.Module, encodings: np.ndarray, window_ids: np.ndarray, seed: int,
                device: torch.device | str = "cpu", batch_size: int = DEFAULT_BATCH) -> Iterator[np.ndarray]:
    """Batches of generated images, uint8 [b, S, S, 3], for encodings float [n, 128] (the
    conditioning sounds) of windows ``window_ids`` [n], in order."""
    for out in _generate(generator, encodings, window_ids, seed, device, batch_size):
        yield images_to_uint8(out)


def generate_images(generator: torch.nn.Module, encodings: np.ndarray, window_ids: np.ndarray, seed: int,
                    device: torch.device | str = "cpu", batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """All generated images at once, uint8 [n, S, S, 3] (for the few a figure shows)."""
    batches = list(iter_images(generator, encodings, window_ids, seed, device, batch_size))
    return np.concatenate(batches) if batches else np.zeros((0, 64, 64, 3), np.uint8)


@torch.no_grad()
def iter_lms(generator: torch.nn.Module, encodings: np.ndarray, window_ids: np.ndarray, seed: int,
             frames: int, device: torch.device | str = "cpu", batch_size: int = DEFAULT_BATCH) -> Iterator[np.ndarray]:
    """Batches of generated LMS in the features' units (dB), float32 [b, 128, frames]: the I2S
    output [b, 1, 128, 34] mapped back from [-1, 1] and resized to ``frames`` (44 = 0.5 s)."""
    for out in _generate(generator, encodings, window_ids, seed, device, batch_size):
        yield generator.to_lms(out, frames).float().cpu().numpy()


def generate_lms(generator: torch.nn.Module, encodings: np.ndarray, window_ids: np.ndarray, seed: int,
                 frames: int, device: torch.device | str = "cpu", batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """All generated LMS at once, float32 [n, 128, frames]."""
    batches = list(iter_lms(generator, encodings, window_ids, seed, frames, device, batch_size))
    return np.concatenate(batches) if batches else np.zeros((0, 128, frames), np.float32)
