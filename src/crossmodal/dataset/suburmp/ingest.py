"""Ingest one Sub-URMP recording: its images and chunks -> frames.npy, audio.npy, windows.parquet.

The same three per-track outputs as ``extract`` (so every later stage runs unchanged), plus a
one-row summary CSV saying what the chunks needed (``results/manifests/pieces/<track>.csv``,
where the URMP path writes each piece's extraction summary: a recording is its own piece).
Window k is the recording's k-th pair in ``ms`` order; ``ms`` is the window's end, so it starts
at ``(ms - window) / 1000`` s.

- Images are decoded (any size, converted to RGB) and made S x S with the same fit rule as
  URMP panels (``crossmodal.dataset.panels.fit_square``, ``dataset.panel_fit``).
- Chunks are probed and decoded one by one, downmixed to mono, resampled to ``sr`` (the URMP
  path's soxr resampler) and padded with zeros or trimmed to exactly one window. audio.npy holds
  the chunks back to back: window k is ``[k * win_samples, (k + 1) * win_samples)``, which is
  what windows.parquet's audio_start/audio_stop say (the release's windows overlap in time, so
  its chunks cannot be laid on one time line without choosing between copies).
- frame_index is k (the images are not frames of one video file) and frame_time_s the window
  start (the release's image is the window's first frame).

A file that cannot be decoded stops the job naming it, and no output is left.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, media
from crossmodal.dataset import suburmp
from crossmodal.dataset.extract import read_sound, resample, to_mono, to_ms
from crossmodal.dataset.panels import PANEL_FITS, fit_square
from crossmodal.store import atomic_outputs

log = logging.getLogger(__name__)

OUTPUTS = ("frames.npy", "audio.npy", "windows.parquet")


@dataclass
class ChunkReport:
    """What the chunks of one track needed to become one window each at ``sr``."""

    chunks: int = 0
    downmixed: int = 0
    resampled: int = 0
    padded: int = 0
    trimmed: int = 0
    rates: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()
    shortest_s: float = float("inf")
    longest_s: float = 0.0

    def row(self, track_id: str) -> dict:
        return {
            "track_id": track_id, "chunks": self.chunks, "downmixed": self.downmixed,
            "resampled": self.resampled, "padded": self.padded, "trimmed": self.trimmed,
            "rates_hz": " ".join(map(str, self.rates)), "channels": " ".join(map(str, self.channels)),
            "shortest_s": self.shortest_s, "longest_s": self.longest_s,
        }


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """float32 [m] -> [n]: zeros appended, or the end cut off."""
    if len(y) >= n:
        return y[:n]
    return np.pad(y, (0, n - len(y)))


def load_chunk(path: Path, window_ms: int, sr: int, report: ChunkReport) -> np.ndarray:
    """One chunk as float32 [window_ms * sr / 1000] mono at ``sr``; counts what it needed in ``report``.

    A chunk counts as padded (trimmed) when it holds fewer (more) samples than one window at its
    own rate; MediaError naming the file when it cannot be decoded or is empty.
    """
    samples, sr_in = read_sound(path)
    report.chunks += 1
    report.rates = tuple(sorted({*report.rates, sr_in}))
    report.channels = tuple(sorted({*report.channels, samples.shape[1]}))
    seconds = len(samples) / sr_in
    report.shortest_s, report.longest_s = min(report.shortest_s, seconds), max(report.longest_s, seconds)
    expected = round(window_ms * sr_in / 1000)
    report.padded += len(samples) < expected
    report.trimmed += len(samples) > expected
    report.downmixed += samples.shape[1] > 1
    report.resampled += sr_in != sr
    y = resample(to_mono(samples), sr_in, sr)
    return fit_length(y, window_ms * sr // 1000)


def load_image(path: Path, image_size: int, fit: str) -> np.ndarray:
    """The image as uint8 [S, S, 3] RGB by ``fit``; MediaError naming the file when it is unreadable.

    A JPEG is decoded at the smallest power-of-two reduction that keeps both sides at least 2 S
    (libjpeg's DCT scaling, an area average): a 1080p image decodes in 12 ms instead of 43, which
    on the release's 80,805 images is a quarter of an hour of CPU instead of an hour.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("RGB", (2 * image_size, 2 * image_size))
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise media.MediaError(f"{path}: not a readable image ({err})") from err
    return fit_square(rgb, image_size, fit)


def ingest_track(track_id: str, images_dir: Path, chunks_dir: Path, number: int, window_s: float, sr: int,
                 image_size: int, fit: str, unpaired: str = "error") -> tuple[np.ndarray, np.ndarray, pd.DataFrame, dict]:
    """(frames uint8 [n, S, S, 3], audio float32 [n * win], track_windows table, summary row) of
    recording NN = ``number`` of an instrument folder pair."""
    window_ms = to_ms(window_s, "window")
    if (window_ms * sr) % 1000:
        raise ValueError(f"a {window_ms} ms window at {sr} Hz is not a whole number of samples")
    if fit not in PANEL_FITS:
        raise ValueError(f"panel fit {fit!r} is not one of {', '.join(PANEL_FITS)}")
    for folder in (images_dir, chunks_dir):
        if not Path(folder).is_dir():
            raise suburmp.SubURMPLayoutError(f"{folder}: missing (it held {track_id}'s files when tracks were scanned)")
    counts = suburmp.PairCounts()
    found = suburmp.pair_folder(Path(images_dir), Path(chunks_dir), unpaired, counts, only=number)
    if len(found) != 1:
        raise suburmp.SubURMPLayoutError(
            f"{images_dir}: holds {len(found)} recordings numbered {number:02d} ({', '.join(found) or 'none'}); "
            f"expected exactly one"
        )
    recording, pairs = next(iter(found.items()))
    if counts.total:
        log.warning("%s: skipped %d unpaired file(s) of %s", track_id, counts.total, recording)
    win = window_ms * sr // 1000
    n = len(pairs)
    frames = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    audio = np.empty(n * win, dtype=np.float32)
    report = ChunkReport()
    for k, (_, image, chunk) in enumerate(pairs):
        frames[k] = load_image(image, image_size, fit)
        audio[k * win:(k + 1) * win] = load_chunk(chunk, window_ms, sr, report)
    ms = np.array([p[0] for p in pairs], dtype=np.int64)
    starts_s = (ms - window_ms) / 1000
    if (starts_s < 0).any():
        first = pairs[int(np.argmax(starts_s < 0))][1]
        raise suburmp.SubURMPLayoutError(f"{first}: its window end ({ms.min()} ms) is before one window ({window_ms} ms)")
    offsets = np.arange(n, dtype=np.int64) * win
    windows = pd.DataFrame({
        "track_id": track_id,
        "window_index": np.arange(n, dtype=np.int32),
        "start_s": starts_s,
        "frame_index": np.arange(n, dtype=np.int32),
        "frame_time_s": starts_s,
        "audio_start": offsets,
        "audio_stop": offsets + win,
    })
    log.info("%s: %d pairs of %s; chunks at %s Hz, %s channel(s), %.3f-%.3f s: %d downmixed, %d resampled, "
             "%d padded, %d trimmed to %d samples", track_id, n, recording, "/".join(map(str, report.rates)),
             "/".join(map(str, report.channels)), report.shortest_s, report.longest_s, report.downmixed,
             report.resampled, report.padded, report.trimmed, win)
    return frames, audio, windows, report.row(track_id)


def write_outputs(out_dir: Path, frames: np.ndarray, audio: np.ndarray, windows: pd.DataFrame, row: dict,
                  summary: Path) -> None:
    """frames.npy, audio.npy and windows.parquet in ``out_dir``, then the summary CSV: all four or none."""
    paths = [Path(out_dir) / name for name in OUTPUTS] + [Path(summary)]
    with atomic_outputs(paths) as (frames_tmp, audio_tmp, windows_tmp, csv_tmp):
        np.save(frames_tmp, frames)
        np.save(audio_tmp, audio)
        manifests.write(windows, windows_tmp, "track_windows")
        pd.DataFrame([row]).to_csv(csv_tmp, index=False, lineterminator="\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--track-id", required=True, help="the track, e.g. suburmp_violin00")
    parser.add_argument("--images", required=True, type=Path, help="img/<split>/<instrument> folder")
    parser.add_argument("--chunks", required=True, type=Path, help="chunk/<split>/<instrument> folder")
    parser.add_argument("--number", required=True, type=int, help="the recording's NN (piece_number), e.g. 0 for violin00")
    parser.add_argument("--window", type=float, default=0.5, help="window length, s (default 0.5)")
    parser.add_argument("--sr", type=int, default=44100, help="audio sample rate, Hz (default 44100)")
    parser.add_argument("--image-size", type=int, default=64, help="image side, px (default 64)")
    parser.add_argument("--panel-fit", choices=PANEL_FITS, default="stretch", help="how an image becomes square")
    parser.add_argument("--unpaired", choices=suburmp.UNPAIRED_POLICIES, default="error",
                        help="an image without its chunk or the reverse: stop, or skip it")
    parser.add_argument("--out-dir", required=True, type=Path, help="folder for frames.npy, audio.npy, windows.parquet")
    parser.add_argument("--summary", required=True, type=Path, help="one-row CSV: what the chunks needed")


def run(args: argparse.Namespace) -> None:
    frames, audio, windows, row = ingest_track(args.track_id, args.images, args.chunks, args.number, args.window,
                                               args.sr, args.image_size, args.panel_fit, args.unpaired)
    write_outputs(args.out_dir, frames, audio, windows, row, args.summary)
