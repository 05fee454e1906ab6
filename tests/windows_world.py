"""The tiny windows world several test modules need: per-track frames and audio arrays laid out
as extraction writes them, and a windows manifest over them (the `windows_world` fixture of
conftest.py; sound_fixtures.py builds its instrument tones on it).

Each caller makes its own arrays (random, shaded, tones: whatever its test needs, from its own
random stream); this module writes them and the manifest rows that index them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.urmp import INSTRUMENT_NAMES

SR = 44100
WINDOW = 22050   # 0.5 s at 44.1 kHz
STRIDE = 4410    # 0.1 s


@dataclass
class Track:
    """One player's arrays: ``frames`` uint8 [n, S, S, 3] (one per window), ``audio`` float32
    [samples] with at least WINDOW + (n - 1) * STRIDE samples."""

    track_id: str
    instrument: str
    split: str
    frames: np.ndarray
    audio: np.ndarray
    piece: str = "01_Piece"
    take_id: str | None = None   # default: the track's own take
    folder: str | None = None    # under the root; default tracks/<track_id>


def audio_length(n_windows: int) -> int:
    """Samples a track needs for ``n_windows`` windows."""
    return WINDOW + (n_windows - 1) * STRIDE


def write_windows(root: Path, tracks: Iterable[Track], manifest: str = "windows.parquet") -> pd.DataFrame:
    """Saves every track's frames.npy and audio.npy and writes the windows manifest
    ``root/manifest`` (window k of a track starts at k * 0.1 s; window_id = row); returns it."""
    root = Path(root)
    rows = []
    for track in tracks:
        n = len(track.frames)
        if len(track.audio) < audio_length(n):
            raise ValueError(f"{track.track_id}: {len(track.audio)} samples for {n} windows")
        folder = root / (track.folder or f"tracks/{track.track_id}")
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "frames.npy", track.frames)
        np.save(folder / "audio.npy", track.audio)
        for k in range(n):
            rows.append({
                "window_id": len(rows), "track_id": track.track_id, "window_index": k, "start_s": k * STRIDE / SR,
                "frame_index": 3 * k, "frame_time_s": k * STRIDE / SR, "audio_start": k * STRIDE,
                "audio_stop": k * STRIDE + WINDOW, "piece": track.piece, "instrument": track.instrument,
                "label": INSTRUMENT_NAMES.index(track.instrument), "take_id": track.take_id or track.track_id,
                "split": track.split, "frames_path": str(folder / "frames.npy"),
                "audio_path": str(folder / "audio.npy"),
            })
    windows = pd.DataFrame(rows).astype({"window_index": "int32", "frame_index": "int32", "label": "int16"})
    path = root / manifest
    path.parent.mkdir(parents=True, exist_ok=True)
    manifests.write(windows, path, "windows")
    return windows
