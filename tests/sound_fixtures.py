"""A synthetic windows manifest with per-track audio and frames, for the sound-side tests.

Each instrument plays harmonic notes with its own spectral envelope (so a classifier can tell
them apart); tracks are laid out exactly as extraction writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from windows_world import SR, STRIDE, WINDOW, Track, write_windows

from crossmodal.urmp import INSTRUMENT_NAMES


def instrument_tone(instrument: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """float32 [samples]: notes of random pitch whose harmonics decay at an instrument's own rate."""
    label = INSTRUMENT_NAMES.index(instrument)
    decay = 0.3 + 0.25 * label  # harmonic k has amplitude k ** -decay
    out = np.zeros(int(seconds * SR), dtype=np.float64)
    note = int(0.25 * SR)
    t = np.arange(note) / SR
    for start in range(0, len(out) - note + 1, note):
        f0 = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        tone = sum(k ** -decay * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 12) if k * f0 < SR / 2)
        out[start : start + note] = tone * np.hanning(note)
    out += 0.01 * rng.normal(size=len(out))
    return (0.2 * out / np.abs(out).max()).astype(np.float32)


def make_windows(root: Path, instruments=("cello", "flute", "trumpet"), tracks_per_split=(2, 1),
                 seconds: float = 2.0, image_size: int = 8, seed: int = 0) -> Path:
    """Writes tracks and a windows manifest under ``root`` (windows_world.write_windows); returns
    the manifest's path. Frames are constant per instrument, pixel (0, 0) the window index."""
    rng = np.random.default_rng(seed)
    tracks = []
    n_windows = (int(seconds * SR) - WINDOW) // STRIDE + 1
    for instrument in instruments:
        splits = ["train"] * tracks_per_split[0] + ["test"] * tracks_per_split[1]
        for part, split in enumerate(splits, start=1):
            audio = instrument_tone(instrument, seconds, rng)
            frames = np.full((n_windows, image_size, image_size, 3), INSTRUMENT_NAMES.index(instrument), np.uint8)
            frames[:, 0, 0, 0] = np.arange(n_windows)
            tracks.append(Track(f"01_Synth_{part}_{instrument[:3]}", instrument, split, frames, audio, piece="01_Synth"))
    write_windows(root, tracks, manifest="manifests/windows.parquet")
    return root / "manifests" / "windows.parquet"
