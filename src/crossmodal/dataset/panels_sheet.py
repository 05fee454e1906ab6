"""A contact sheet of the crops: one image per track, so every player crop is checked at a glance.

Each cell is the track's first voiced window (the first whose RMS reaches ``voiced_db`` dBFS,
so the player is usually playing rather than waiting for a cue; the loudest window when none
does), titled with the track id and the instrument. On full URMP that is all 149 crops on one
page: a piece whose panels are off (``data.panels`` corrects it) shows as a cut-off player.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.store import atomic_output

log = logging.getLogger(__name__)

#: RMS (dBFS) from which a window counts as voiced: -40 dBFS is an RMS of 0.01.
VOICED_DB = -40.0
#: Windows whose RMS is computed at a time while looking for the first voiced one.
SCAN_BATCH = 256


def first_voiced(audio: np.ndarray, starts: np.ndarray, win: int, voiced_db: float = VOICED_DB) -> tuple[int, float]:
    """(position in ``starts`` of the first window whose RMS reaches ``voiced_db``, its RMS in dBFS).

    ``audio`` float32 [samples] (a memmap is read only as far as needed), ``starts`` the windows'
    first samples, ``win`` their length. The loudest window when none is voiced.
    """
    if len(starts) == 0:
        raise ValueError("a track without windows has no crop to show")
    threshold = 10 ** (voiced_db / 20)
    best, best_rms = 0, -1.0
    for first in range(0, len(starts), SCAN_BATCH):
        chunk = starts[first:first + SCAN_BATCH]
        view = np.lib.stride_tricks.sliding_window_view(audio, win)[chunk]
        rms = np.sqrt(np.mean(np.square(view, dtype=np.float64), axis=1))
        voiced = np.flatnonzero(rms >= threshold)
        if len(voiced):
            return first + int(voiced[0]), float(20 * np.log10(rms[voiced[0]]))
        if rms.max() > best_rms:
            best, best_rms = first + int(np.argmax(rms)), float(rms.max())
    return best, float(20 * np.log10(max(best_rms, 1e-10)))


def sheet_cells(windows: pd.DataFrame, voiced_db: float = VOICED_DB) -> pd.DataFrame:
    """One row per track (manifest order): track_id, instrument, window_index, frames_path, rms_db, voiced."""
    cells = []
    for track, mine in windows.groupby("track_id", sort=False):
        audio = np.load(mine["audio_path"].iloc[0], mmap_mode="r")
        win = int((mine["audio_stop"] - mine["audio_start"]).iloc[0])
        pos, rms_db = first_voiced(audio, mine["audio_start"].to_numpy(), win, voiced_db)
        row = mine.iloc[pos]
        if rms_db < voiced_db:
            log.warning("%s: no window reaches %.0f dBFS; showing the loudest (%.1f dBFS)", track, voiced_db, rms_db)
        cells.append({"track_id": track, "instrument": row["instrument"], "window_index": int(row["window_index"]),
                      "start_s": float(row["start_s"]), "frames_path": row["frames_path"], "rms_db": rms_db,
                      "voiced": rms_db >= voiced_db})
    return pd.DataFrame(cells)


def draw_sheet(cells: pd.DataFrame):
    """A matplotlib Figure: a grid with one titled image per row of ``cells``, empty cells hidden."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cells)
    cols = max(1, min(n, math.ceil(math.sqrt(n * 1.3))))
    rows = math.ceil(n / cols)
    height = 1.5 * rows + 0.4
    fig, axes = plt.subplots(rows, cols, figsize=(1.25 * cols, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    frames_cache: dict[str, np.ndarray] = {}
    for ax, cell in zip(axes.flat, cells.itertuples(index=False)):
        if cell.frames_path not in frames_cache:
            frames_cache[cell.frames_path] = np.load(cell.frames_path, mmap_mode="r")
        frames = frames_cache[cell.frames_path]
        ax.imshow(np.asarray(frames[cell.window_index]), interpolation="nearest")
        ax.set_title(f"{cell.track_id}\n{cell.instrument.replace('_', ' ')} @ {cell.start_s:.1f} s"
                     + ("" if cell.voiced else " (quiet)"), fontsize=6)
    fig.suptitle(f"Crops: the first voiced window of each of {n} tracks", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))  # room for the title above the first row
    return fig


def plot_sheet(cells: pd.DataFrame, path: Path) -> None:
    """Writes the contact sheet as a PNG."""
    import matplotlib.pyplot as plt

    fig = draw_sheet(cells)
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, type=Path, help="windows.parquet")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--voiced-db", type=float, default=VOICED_DB, help="RMS (dBFS) of a voiced window (default -40)")


def run(args: argparse.Namespace) -> None:
    windows = manifests.read(args.windows, "windows")
    if windows.empty:
        raise ValueError(f"{args.windows}: holds no window")
    cells = sheet_cells(windows, args.voiced_db)
    plot_sheet(cells, args.out)
    log.info("wrote %s: %d tracks, %d without a voiced window", args.out, len(cells), int((~cells["voiced"]).sum()))
