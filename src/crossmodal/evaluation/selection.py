"""Which windows an evaluation looks at: seeded subsets, a few per instrument, a sequence."""

from __future__ import annotations

import numpy as np
import pandas as pd


def split_ids(windows: pd.DataFrame, split: str, max_windows: int | None, seed: int) -> np.ndarray:
    """window_ids of ``split``, sorted; a seeded random subset of ``max_windows`` of them when
    the split has more (None or 0: all)."""
    ids = windows.loc[windows["split"] == split, "window_id"].to_numpy()
    if max_windows and len(ids) > max_windows:
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        ids = np.sort(rng.choice(ids, size=max_windows, replace=False))
    return ids


def per_instrument(windows: pd.DataFrame, split: str, k: int, seed: int,
                   instruments: list[str] | None = None) -> dict[str, np.ndarray]:
    """For each instrument with windows in ``split`` (or those named, in that order): ``k``
    window_ids drawn without replacement (fewer when it has fewer), in window order.

    Draws are seeded per instrument, so adding an instrument does not change another's picks.
    """
    part = windows[windows["split"] == split]
    names = instruments if instruments is not None else sorted(part["instrument"].unique())
    picks = {}
    for name in names:
        ids = part.loc[part["instrument"] == name, "window_id"].to_numpy()
        if len(ids) == 0:
            continue
        rng = np.random.default_rng([seed, sum(map(ord, name))])
        picks[name] = np.sort(rng.choice(ids, size=min(k, len(ids)), replace=False))
    return picks


def sequence(windows: pd.DataFrame, instrument: str, split: str, length: int, step: int) -> np.ndarray:
    """window_ids of a sequence of sounds of one player: ``length`` windows ``step`` apart
    (step 5 = 0.5 s at the paper's stride), from the middle of the instrument's longest track
    in ``split``. Empty when the instrument has no window there."""
    part = windows[(windows["split"] == split) & (windows["instrument"] == instrument)]
    if part.empty:
        return np.zeros(0, dtype=np.int64)
    track = part.groupby("track_id").size().sort_values(ascending=False, kind="stable").index[0]
    rows = part[part["track_id"] == track].sort_values("window_index")
    span = (length - 1) * step + 1
    start = max(0, (len(rows) - span) // 2)
    return rows["window_id"].to_numpy()[start:start + span:step][:length]
