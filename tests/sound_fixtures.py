"""A synthetic windows manifest with per-track audio and frames, for the sound-side tests.

Each instrument plays harmonic notes with its own spectral envelope (so a classifier can tell
them apart); tracks are laid out exactly as extraction writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.urmp import INSTRUMENT_NAMES

SR = 44100
WINDOW = 22050
STRIDE = 4410


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
    """Writes tracks and a windows manifest under ``root``; returns the manifest's path."""
    rng = np.random.default_rng(seed)
    rows = []
    n_windows = (int(seconds * SR) - WINDOW) // STRIDE + 1
    for instrument in instruments:
        splits = ["train"] * tracks_per_split[0] + ["test"] * tracks_per_split[1]
        for part, split in enumerate(splits, start=1):
            track_id = f"01_Synth_{part}_{instrument[:3]}"
            folder = root / "tracks" / track_id
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "audio.npy", instrument_tone(instrument, seconds, rng))
            frames = np.full((n_windows, image_size, image_size, 3), INSTRUMENT_NAMES.index(instrument), np.uint8)
            frames[:, 0, 0, 0] = np.arange(n_windows)
            np.save(folder / "frames.npy", frames)
            for k in range(n_windows):
                rows.append({
                    "track_id": track_id, "window_index": k, "start_s": k * STRIDE / SR, "frame_index": 3 * k,
                    "frame_time_s": k * STRIDE / SR, "audio_start": k * STRIDE, "audio_stop": k * STRIDE + WINDOW,
                    "piece": "01_Synth", "instrument": instrument, "label": INSTRUMENT_NAMES.index(instrument),
                    "take_id": track_id, "split": split, "frames_path": str(folder / "frames.npy"),
                    "audio_path": str(folder / "audio.npy"),
                })
    frame = pd.DataFrame(rows)
    frame.insert(0, "window_id", np.arange(len(frame)))
    path = root / "manifests" / "windows.parquet"
    manifests.write(frame, path, "windows")
    return path
