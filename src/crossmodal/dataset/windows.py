"""Gather every track's windows into the windows manifest: the Sub-URMP image/sound pairs.

Each track's windows.parquet (from ``extract``) sits beside its frames.npy and audio.npy. This
step puts them in the tracks manifest's order, adds what the split and the models need (piece,
instrument, label, take, split, the array paths) and numbers the rows: window_id i is row i of
every feature and embedding array computed downstream. It refuses a set of files that does not
match the tracks manifest one to one, or whose arrays do not match their windows.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, urmp

log = logging.getLogger(__name__)


class WindowsError(ValueError):
    """Per-track windows do not match the tracks manifest or their arrays; names the file."""


def _array_shape(path: Path) -> tuple[int, ...]:
    if not path.exists():
        raise WindowsError(f"{path}: missing (it should sit beside its windows.parquet)")
    return np.load(path, mmap_mode="r").shape


def read_track_windows(path: Path) -> pd.DataFrame:
    """One track's windows, checked against its arrays, with frames_path and audio_path added."""
    path = Path(path)
    df = manifests.read(path, "track_windows")
    if df.empty:
        raise WindowsError(f"{path}: holds no window")
    ids = df["track_id"].unique()
    if len(ids) != 1:
        raise WindowsError(f"{path}: holds windows of several tracks {list(ids)}")
    if not np.array_equal(df["window_index"].to_numpy(), np.arange(len(df))):
        raise WindowsError(f"{path}: window_index is not 0..{len(df) - 1} in order")
    frames, audio = path.parent / "frames.npy", path.parent / "audio.npy"
    n_frames = _array_shape(frames)[0]
    if n_frames != len(df):
        raise WindowsError(f"{frames}: holds {n_frames} images for the {len(df)} windows of {path}")
    n_samples = _array_shape(audio)[0]
    if n_samples < df["audio_stop"].max():
        raise WindowsError(f"{audio}: holds {n_samples} samples, but {path} reaches sample {df['audio_stop'].max()}")
    return df.assign(frames_path=str(frames), audio_path=str(audio))


def gather(tracks: pd.DataFrame, per_track: list[pd.DataFrame], sources: list[str] | None = None) -> pd.DataFrame:
    """All windows (manifests.WINDOWS_SCHEMA columns) in the order of ``tracks``.

    ``per_track`` holds one table per track (as read_track_windows returns), in any order;
    ``sources`` names where each came from, for error messages.
    """
    sources = sources or [f"table {i}" for i in range(len(per_track))]
    by_track: dict[str, pd.DataFrame] = {}
    for df, source in zip(per_track, sources):
        track = df["track_id"].iloc[0]
        if track in by_track:
            raise WindowsError(f"{source}: track {track} is given twice")
        if track not in set(tracks["track_id"]):
            raise WindowsError(f"{source}: track {track} is not in the tracks manifest")
        by_track[track] = df
    absent = [t for t in tracks["track_id"] if t not in by_track]
    if absent:
        raise WindowsError(f"no windows for track(s) {absent} of the tracks manifest")
    info = tracks.set_index("track_id")
    parts = []
    for track in tracks["track_id"]:
        df = by_track[track]
        instrument = info.at[track, "instrument"]
        parts.append(df.assign(
            piece=info.at[track, "piece"],
            instrument=instrument,
            label=urmp.INSTRUMENT_NAMES.index(instrument),
            take_id=info.at[track, "take_id"],
            split=info.at[track, "split"],
        ))
    windows = pd.concat(parts, ignore_index=True)
    windows.insert(0, "window_id", np.arange(len(windows), dtype=np.int64))
    return windows[manifests.WINDOWS_SCHEMA.names]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracks", required=True, type=Path, help="tracks.parquet")
    parser.add_argument("--out", required=True, type=Path, help="windows.parquet to write")
    parser.add_argument("track_windows", nargs="+", type=Path, help="every track's windows.parquet")


def run(args: argparse.Namespace) -> None:
    tracks = manifests.read(args.tracks, "tracks")
    per_track = [read_track_windows(p) for p in args.track_windows]
    windows = gather(tracks, per_track, [str(p) for p in args.track_windows])
    manifests.write(windows, args.out, "windows")
    counts = windows.groupby("split").size().to_dict()
    log.info("wrote %d windows of %d tracks to %s (%s)", len(windows), len(tracks), args.out, counts)
