"""Table 2 (image/sound pairs per instrument and split) and Fig. 6 (an example per instrument).

Table 2 of the paper counts the Sub-URMP pairs per instrument in the training and testing sets;
here the rows are instruments (in label order) and a final total row, the columns train, test
and total. With ``data.source: suburmp`` on the full release it reproduces the release's counts
(RELEASE_TABLE2: 71,230 train / 9,575 test); the paper's printed Table 2 differs in three test
cells and its test row sums to 8,915 (PAPER_TABLE2_TEST), so both are quoted and logged beside ours. Fig. 6 shows one example frame per instrument: the middle window of the instrument's
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

#: The released Sub-URMP's pairs per instrument: (train, validation = test); shared/urmp/README.md.
RELEASE_TABLE2: dict[str, tuple[int, int]] = {
    "bassoon": (1735, 390), "cello": (9800, 1030), "clarinet": (8125, 945), "double_bass": (1270, 1180),
    "flute": (5690, 925), "horn": (5540, 525), "oboe": (4505, 390), "sax": (7615, 910),
    "trombone": (8690, 805), "trumpet": (1015, 520), "tuba": (3285, 525), "viola": (6530, 485),
    "violin": (7430, 945),
}
#: The paper's printed test row, where it differs from the release (its test row sums to 8,915).
PAPER_TABLE2_TEST: dict[str, int] = {"flute": 525, "horn": 145, "trombone": 925}


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
    log.info("the released Sub-URMP: %d train / %d test pairs; the paper's printed test row sums to %d",
             sum(t for t, _ in RELEASE_TABLE2.values()), sum(v for _, v in RELEASE_TABLE2.values()),
             sum(v for _, v in RELEASE_TABLE2.values()) + sum(PAPER_TABLE2_TEST[k] - RELEASE_TABLE2[k][1]
                                                               for k in PAPER_TABLE2_TEST))
    plot_fig6(example_windows(windows), args.fig6)
    log.info("wrote %s and %s", args.table2, args.fig6)
