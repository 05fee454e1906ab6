"""Export the ingested pairs in the released Sub-URMP layout, for other people's code.

Writes ``img/{train,validation}/<instrument>/<instrument>NN_<ms>.jpg`` and
``chunk/{train,validation}/<instrument>/<instrument>NN_<ms>.wav`` from the windows manifest,
whatever the source was (demo, URMP, download, Sub-URMP): NN numbers each instrument's tracks
from 00 in the manifest's order, ``ms`` is the window's end in milliseconds as in the release
(500, 600, ... for windows starting at 0, 0.1, ...), ``test`` is written as ``validation``.
Images are the stored S x S frames as JPEG (quality 95); chunks the stored window audio as
16-bit mono WAV at the store's rate. ``manifest.csv`` maps every pair to its window_id, track
and time.

This is the one place where a file per window is the point (80,805 pairs make 161,610 files on
full URMP), so it is opt-in. The folder is built beside the target and put in its place at the
end (store.atomic_directory): a failed export leaves no half-written tree.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, store
from crossmodal.dataset import suburmp
from crossmodal.dataset.extract import to_ms

log = logging.getLogger(__name__)

JPEG_QUALITY = 95
#: Windows read from a track's arrays at a time (bounds memory on 4-minute URMP tracks).
BATCH = 512


def export_names(windows: pd.DataFrame, window_ms: int) -> pd.DataFrame:
    """Per window: split folder, recording name ``<instrument>NN``, ``ms`` and file stem.

    NN numbers each instrument's tracks from 00 in order of first appearance; ms is the window
    end, round(start_s * 1000) + window_ms. ValueError when a track repeats an ms.
    """
    order = windows.drop_duplicates("track_id")[["track_id", "instrument"]]
    number = order.groupby("instrument").cumcount()
    width = max(2, len(str(int(number.max())))) if len(number) else 2
    recording = dict(zip(order["track_id"], order["instrument"] + number.map(lambda n: f"{n:0{width}d}")))
    ms = np.rint(windows["start_s"].to_numpy() * 1000).astype(np.int64) + window_ms
    names = pd.DataFrame({
        "split_folder": windows["split"].map(suburmp.SPLIT_FOLDERS).to_numpy(),
        "recording": windows["track_id"].map(recording).to_numpy(),
        "ms": ms,
    }, index=windows.index)
    names["stem"] = names["recording"] + "_" + names["ms"].astype(str)
    dup = names[names.duplicated(["recording", "ms"])]
    if len(dup):
        row = dup.index[0]
        raise ValueError(f"track {windows.at[row, 'track_id']} has two windows ending at {names.at[row, 'ms']} ms")
    return names


def _write_jpeg(path: Path, image: np.ndarray) -> None:
    """Inside the export's atomic folder (store.atomic_directory), so written in place."""
    from PIL import Image

    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def _write_wav(path: Path, samples: np.ndarray, sr: int) -> None:
    """Inside the export's atomic folder (store.atomic_directory), so written in place."""
    import soundfile

    soundfile.write(str(path), samples, sr, subtype="PCM_16", format="WAV")


def _export_batch(batch: pd.DataFrame, names: pd.DataFrame, staging: Path, sr: int) -> list[dict]:
    """Writes one batch of a track's windows as JPEG + WAV pairs; their manifest.csv rows."""
    frames = store.load_frames(batch)
    audio = store.load_window_audio(batch)
    peak = float(np.abs(audio).max(initial=0.0))
    if peak > 1.0:
        log.warning("%s: audio peaks at %.3f; 16-bit chunks clip it", batch["track_id"].iloc[0], peak)
    rows = []
    for i, (row, name) in enumerate(zip(batch.itertuples(index=False), names.itertuples(index=False))):
        rel = Path(name.split_folder) / row.instrument
        image = Path(suburmp.IMAGE_DIR) / rel / f"{name.stem}.jpg"
        chunk = Path(suburmp.CHUNK_DIR) / rel / f"{name.stem}.wav"
        _write_jpeg(staging / image, frames[i])
        _write_wav(staging / chunk, audio[i], sr)
        rows.append({
            "image": image.as_posix(), "chunk": chunk.as_posix(), "window_id": int(row.window_id),
            "track_id": row.track_id, "window_index": int(row.window_index), "start_s": float(row.start_s),
            "end_ms": int(name.ms), "instrument": row.instrument, "label": int(row.label),
            "split": name.split_folder,
        })
    return rows


def export(windows: pd.DataFrame, out: Path, window_s: float, sr: int) -> pd.DataFrame:
    """Writes the tree under ``out`` (replacing it) and returns its manifest.csv table."""
    out = Path(out)
    window_ms = to_ms(window_s, "window")
    if (window_ms * sr) % 1000 or window_ms * sr // 1000 != int((windows["audio_stop"] - windows["audio_start"]).iloc[0]):
        raise ValueError(f"windows of {window_s} s at {sr} Hz do not match the stored audio spans "
                         f"({int((windows['audio_stop'] - windows['audio_start']).iloc[0])} samples); "
                         f"pass the dataset's window and sr")
    names = export_names(windows, window_ms)
    with store.atomic_directory(out) as staging:
        for split_folder, instrument in names.assign(instrument=windows["instrument"])[["split_folder", "instrument"]] \
                .drop_duplicates().itertuples(index=False):
            for sub in (suburmp.IMAGE_DIR, suburmp.CHUNK_DIR):
                (staging / sub / split_folder / instrument).mkdir(parents=True, exist_ok=True)
        rows = []
        for track, mine in windows.groupby("track_id", sort=False):
            for first in range(0, len(mine), BATCH):
                batch = mine.iloc[first:first + BATCH]
                rows += _export_batch(batch, names.loc[batch.index], staging, sr)
            log.info("%s -> %s: %d pairs", track, names.loc[mine.index[0], "recording"], len(mine))
        manifest = pd.DataFrame(rows)
        store.write_csv(staging / "manifest.csv", manifest)
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, type=Path, help="windows.parquet")
    parser.add_argument("--out", required=True, type=Path, help="folder to write (replaced), e.g. results/suburmp")
    parser.add_argument("--window", type=float, default=0.5, help="window length, s (the dataset's)")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate of the stored audio, Hz (the dataset's)")


def run(args: argparse.Namespace) -> None:
    windows = manifests.read(args.windows, "windows")
    if windows.empty:
        raise ValueError(f"{args.windows}: holds no window")
    manifest = export(windows, args.out, args.window, args.sr)
    counts = manifest.groupby("split").size().to_dict()
    log.info("wrote %d pairs (%s) in the Sub-URMP layout to %s", len(manifest), counts, args.out)
