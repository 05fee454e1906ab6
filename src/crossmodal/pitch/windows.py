"""The pitch of every window: median voiced F0, the share of voiced frames, and the F0 at the
window's image (pitch.parquet).

From the track's URMP F0s file when it has one (``time<TAB>F0`` lines, 10 ms apart, F0 0 where
the player is silent; the demo writes them too): the frames whose time falls in the window's
``[start_s, start_s + window)``. Tracks without one (Sub-URMP, INIS, paired folders) get an
estimate from their audio: librosa's YIN on the whole track once (10 ms hop, 27.5 Hz - 2.1 kHz)
with a frame voiced when its RMS is within 40 dB of the track's loudest frame. pYIN would give
its own voicing but takes ~2.5 s per second of audio on one core (hours on URMP); YIN takes
~0.03 s. ``f0_source`` says which a window got, so an estimate is never taken for an annotation.

A window with no voiced frame has ``f0_hz`` null, never a filled-in value.

``frame_f0_hz`` is the F0 of the one F0 frame nearest the window's image (``frame_time_s``, the
first video frame of the window, as the paper pairs them), null when that frame is unvoiced: the
pitch whose pose the image shows. In a window holding two notes it is the first one's, where
``f0_hz`` is the one sounding longest.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.pitch import MIN_VOICED_FRACTION

log = logging.getLogger(__name__)

#: The estimate's settings: 10 ms hop (URMP's F0 grid), A0 .. C7, voicing gate in dB.
YIN_SR = 22050
YIN_HOP = 220
YIN_FRAME = 2048
YIN_FMIN, YIN_FMAX = 27.5, 2100.0
VOICING_DB = 40.0


class PitchError(ValueError):
    """An F0 file or a track's audio cannot give the windows' pitch; names the file."""


def read_f0s(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """URMP F0s file -> (times s [n], F0 Hz [n], 0 = unvoiced)."""
    path = Path(path)
    try:
        table = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except FileNotFoundError as err:
        raise PitchError(f"{path}: F0 file named in the tracks manifest does not exist") from err
    except ValueError as err:
        raise PitchError(f"{path}: not an F0s file of 'time F0' number pairs: {err}") from err
    if table.size == 0:
        raise PitchError(f"{path}: F0 file holds no frame")
    if table.shape[1] != 2:
        raise PitchError(f"{path}: F0 lines must hold 2 numbers (time, F0), found {table.shape[1]}")
    times, f0 = table[:, 0], table[:, 1]
    if np.any(np.diff(times) <= 0) or np.any(f0 < 0) or not np.all(np.isfinite(table)):
        raise PitchError(f"{path}: times must increase and F0 must be finite and >= 0")
    return times, f0


def window_pitch(times: np.ndarray, f0: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per window [start, stop) (s): (median voiced F0 Hz, NaN when none; voiced share of frames).

    times, f0: a track's F0 frames (sorted times, F0 0 = unvoiced); starts, stops: [n] windows.
    """
    lo = np.searchsorted(times, starts, side="left")
    hi = np.searchsorted(times, stops, side="left")
    out_f0 = np.full(len(starts), np.nan)
    voiced_share = np.zeros(len(starts))
    for i, (a, b) in enumerate(zip(lo, hi)):
        if b <= a:
            continue
        frames = f0[a:b]
        voiced = frames[frames > 0]
        voiced_share[i] = voiced.size / frames.size
        if voiced.size:
            out_f0[i] = float(np.median(voiced))
    return out_f0, voiced_share


def pitch_at(times: np.ndarray, f0: np.ndarray, at: np.ndarray) -> np.ndarray:
    """F0 (Hz) of the F0 frame nearest each time in ``at`` (s), NaN where that frame is unvoiced."""
    if times.size == 0:
        return np.full(len(at), np.nan)
    right = np.clip(np.searchsorted(times, at), 0, times.size - 1)
    left = np.clip(right - 1, 0, times.size - 1)
    nearest = np.where(np.abs(times[left] - at) <= np.abs(times[right] - at), left, right)
    values = f0[nearest]
    return np.where(values > 0, values, np.nan)


def voiced_ids(windows: pd.DataFrame, pitch: pd.DataFrame, split: str, instruments=None,
               min_voiced: float = MIN_VOICED_FRACTION, column: str = "f0_hz") -> np.ndarray:
    """window_ids that pitch is learnt from or judged on: windows of ``split`` (and of
    ``instruments``, a name or a list, when given) with at least ``min_voiced`` of their F0
    frames voiced and a pitch in ``column`` (``f0_hz`` or ``frame_f0_hz``)."""
    keep = (windows["split"] == split) & pitch[column].notna() & (pitch["voiced_fraction"] >= min_voiced)
    if instruments is not None:
        keep &= windows["instrument"].isin([instruments] if isinstance(instruments, str) else list(instruments))
    return windows.loc[keep, "window_id"].to_numpy()


def estimate_f0(audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """A track's F0 frames from its sound, float [samples] at ``sr``: (times s, F0 Hz, 0 = unvoiced)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise PitchError(f"expected mono audio [samples], got shape {audio.shape}")
    y = librosa.resample(audio, orig_sr=sr, target_sr=YIN_SR) if sr != YIN_SR else audio
    if y.size < YIN_FRAME:
        y = np.pad(y, (0, YIN_FRAME - y.size))
    f0 = librosa.yin(y, fmin=YIN_FMIN, fmax=YIN_FMAX, sr=YIN_SR, frame_length=YIN_FRAME, hop_length=YIN_HOP)
    rms = librosa.feature.rms(y=y, frame_length=YIN_FRAME, hop_length=YIN_HOP)[0][: f0.size]
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = (level > level.max() - VOICING_DB) & (rms > 1e-4)
    times = librosa.frames_to_time(np.arange(f0.size), sr=YIN_SR, hop_length=YIN_HOP)
    return times, np.where(voiced, f0, 0.0)


def track_pitch(windows: pd.DataFrame, f0_path: str | None, sr: int) -> pd.DataFrame:
    """pitch rows (WINDOW_PITCH_SCHEMA) for the windows of one track."""
    if f0_path:
        times, f0 = read_f0s(f0_path)
        starts = windows["start_s"].to_numpy(np.float64)
        stops = starts + (windows["audio_stop"] - windows["audio_start"]).to_numpy() / sr
        frames = windows["frame_time_s"].to_numpy(np.float64)
        source = "annotation"
    else:
        from crossmodal import store

        audio_path = windows["audio_path"].iloc[0]
        audio = np.asarray(store.open_array(audio_path), dtype=np.float32)
        try:
            times, f0 = estimate_f0(audio, sr)
        except PitchError as err:
            raise PitchError(f"{audio_path}: {err}") from err
        starts = windows["audio_start"].to_numpy() / sr
        stops = windows["audio_stop"].to_numpy() / sr
        # the estimate runs on audio.npy's timeline: the image sits as far into the window as on the video's
        frames = starts + (windows["frame_time_s"] - windows["start_s"]).to_numpy(np.float64)
        source = "yin"
    hz, share = window_pitch(times, f0, starts, stops)
    return pd.DataFrame({"window_id": windows["window_id"].to_numpy(np.int64), "track_id": windows["track_id"].to_numpy(),
                         "f0_hz": hz, "voiced_fraction": share, "frame_f0_hz": pitch_at(times, f0, frames),
                         "f0_source": source})


def pitch_table(windows: pd.DataFrame, tracks: pd.DataFrame, sr: int) -> pd.DataFrame:
    """Pitch of every window, in window_id order. ``tracks`` needs track_id and f0_path."""
    f0_paths = dict(zip(tracks["track_id"], tracks["f0_path"]))
    missing = sorted(set(windows["track_id"]) - set(f0_paths))
    if missing:
        raise PitchError(f"windows of track(s) {missing[:5]} are not in the tracks manifest")
    parts = []
    for track, rows in windows.groupby("track_id", sort=False):
        path = f0_paths[track]
        parts.append(track_pitch(rows, path if isinstance(path, str) and path else None, sr))
    table = pd.concat(parts, ignore_index=True).sort_values("window_id", kind="stable").reset_index(drop=True)
    return table


def read_pitch(path: str | Path, n_windows: int | None = None) -> pd.DataFrame:
    """pitch.parquet, checked to have one row per window in window_id order."""
    table = manifests.read(path, "window_pitch")
    if not np.array_equal(table["window_id"].to_numpy(), np.arange(len(table))):
        raise manifests.ManifestError(f"{path}: window_id is not the row number 0..N-1")
    if n_windows is not None and len(table) != n_windows:
        raise manifests.ManifestError(f"{path}: {len(table)} rows for {n_windows} windows; rerun its rule")
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, type=Path, help="windows manifest (Parquet)")
    parser.add_argument("--tracks", required=True, type=Path, help="tracks manifest (its f0_path column)")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate of the tracks' audio.npy")
    parser.add_argument("--out", required=True, type=Path, help="output: pitch.parquet")


def run(args: argparse.Namespace) -> None:
    import pyarrow.parquet as pq

    windows = manifests.read(args.windows, "windows")
    tracks = pq.read_table(args.tracks, columns=["track_id", "f0_path"]).to_pandas()
    table = pitch_table(windows, tracks, args.sr)
    manifests.write(table, args.out, "window_pitch")
    voiced = table["f0_hz"].notna()
    log.info("pitch of %d windows (%d with a voiced frame; %s) -> %s", len(table), int(voiced.sum()),
             table["f0_source"].value_counts().to_dict(), args.out)
