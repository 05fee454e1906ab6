"""Table 2 (image/sound pairs per instrument and split) and Fig. 6 (an example per instrument).

Table 2 of the paper counts the Sub-URMP pairs per instrument in the training and testing sets;
here the rows are instruments (in label order) and a final total row, the columns train, test
and total. Fig. 6 shows one example frame per instrument: the middle window of the instrument's
first track, so the player is usually playing rather than waiting for a cue.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, urmp
from crossmodal.store import atomic_output, write_csv

log = logging.getLogger(__name__)


def table2(windows: pd.DataFrame) -> pd.DataFrame:
    """Pairs per instrument: columns instrument, train, test, total; rows in label order + total."""
    counts = (
        windows.groupby(["instrument", "split"]).size().unstack("split", fill_value=0)
        .reindex(columns=["train", "test"], fill_value=0)
    )
    order = [name for name in urmp.INSTRUMENT_NAMES if name in counts.index]
    counts = counts.loc[order]
    counts.loc["total"] = counts.sum()
    counts["total"] = counts["train"] + counts["test"]
    return counts.rename_axis(index="instrument", columns=None).reset_index()


def example_windows(windows: pd.DataFrame) -> pd.DataFrame:
    """One row per instrument (label order): the middle window of its first track."""
    rows = []
    for name in urmp.INSTRUMENT_NAMES:
        mine = windows[windows["instrument"] == name]
        if mine.empty:
            continue
        track = mine[mine["track_id"] == mine["track_id"].iloc[0]]
        rows.append(track.iloc[len(track) // 2])
    return pd.DataFrame(rows)


def write_table2(table: pd.DataFrame, path: Path) -> None:
    write_csv(path, table)


def plot_fig6(examples: pd.DataFrame, path: Path) -> None:
    """A grid of the example frames, each titled with its instrument, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(examples)
    cols = min(n, 7)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, row) in zip(axes.flat, examples.iterrows()):
        frames = np.load(row["frames_path"], mmap_mode="r")
        ax.imshow(np.asarray(frames[int(row["window_index"])]))
        ax.set_title(row["instrument"].replace("_", " "), fontsize=9)
    fig.suptitle("Sub-URMP examples (Fig. 6)", fontsize=10)
    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, type=Path, help="windows.parquet")
    parser.add_argument("--table2", required=True, type=Path, help="CSV to write")
    parser.add_argument("--fig6", required=True, type=Path, help="PNG to write")


def run(args: argparse.Namespace) -> None:
    windows = manifests.read(args.windows, "windows")
    if windows.empty:
        raise ValueError(f"{args.windows}: holds no window")
    table = table2(windows)
    write_table2(table, args.table2)
    log.info("Table 2:\n%s", table.to_string(index=False))
    plot_fig6(example_windows(windows), args.fig6)
    log.info("wrote %s and %s", args.table2, args.fig6)
