"""Confidence intervals from a bootstrap over tracks, and the per-instrument summary.

Windows of one track are not independent: 0.5 s windows 0.1 s apart overlap, and one player's
sound, framing and pose recur in all of them. Resampling windows would treat 1,000 windows of
ten players as 1,000 independent draws and give intervals far too narrow. Here the resampled
unit is the track: each bootstrap draw takes as many tracks as there are, with replacement,
with all their windows, and recomputes the statistic (percentile interval).

Everything is numpy in, numbers out; the draws are seeded, so an interval is reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.stats

#: Bootstrap draws per interval and the interval's level, unless a caller says otherwise.
N_BOOT = 1000
LEVEL = 0.95


def _group_index(groups: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the distinct groups, the row indices of each) for group labels [n]."""
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be one label per sample (1-d), got shape {groups.shape}")
    names, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(names)))[:-1]
    return names, np.split(order, bounds)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite bootstrap values; NaN when fewer than half are finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < values.size / 2:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(statistic: Callable[..., float], groups: np.ndarray, *arrays: np.ndarray,
                 n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """``level`` percentile interval of ``statistic(*arrays)`` when whole groups are resampled.

    groups: the track of every sample [n]; arrays: per-sample arrays [n, ...] passed, row-subset
    by the draw, to ``statistic``. Each draw picks len(distinct groups) groups with replacement.
    With a single group there is nothing to resample: (NaN, NaN).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    for array in arrays:
        if len(array) != len(groups):
            raise ValueError(f"an array of {len(array)} samples for {len(groups)} group labels")
    names, members = _group_index(groups)
    if len(names) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng([seed, 1729])
    values = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(names), size=len(names))
        idx = np.concatenate([members[p] for p in picks])
        values[b] = statistic(*(np.asarray(a)[idx] for a in arrays))
    return _interval(values, level)


def accuracy_ci(correct: np.ndarray, groups: np.ndarray, n_boot: int = N_BOOT, level: float = LEVEL,
                seed: int = 0) -> tuple[float, float]:
    """Interval of an accuracy (mean of ``correct`` bool [n]) resampling tracks ``groups`` [n].

    The same as ``bootstrap_ci(np.mean, groups, correct)``, computed from per-track counts:
    a draw is a multinomial count of each track, so thousands of draws cost one matrix product.
    """
    correct = np.asarray(correct, dtype=np.float64)
    if correct.shape != np.shape(groups):
        raise ValueError(f"{correct.size} outcomes for {np.size(groups)} group labels")
    _, members = _group_index(groups)
    return accuracy_ci_counts(np.array([correct[m].sum() for m in members]), np.array([len(m) for m in members]),
                              n_boot, level, seed)


def accuracy_ci_counts(hits: np.ndarray, sizes: np.ndarray, n_boot: int = N_BOOT, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float]:
    """:func:`accuracy_ci` from per-track tallies: right answers ``hits`` [tracks] of ``sizes``
    [tracks] windows (what a step keeps when it does not keep every window's answer)."""
    hits, sizes = np.asarray(hits, dtype=np.float64), np.asarray(sizes, dtype=np.float64)
    if hits.shape != sizes.shape or hits.ndim != 1:
        raise ValueError(f"hits {hits.shape} and sizes {sizes.shape} must be one count per track")
    if len(hits) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng([seed, 1729])
    weights = rng.multinomial(len(hits), np.full(len(hits), 1 / len(hits)), size=n_boot)
    return _interval((weights @ hits) / (weights @ sizes), level)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation; 0 when either side is constant (ranks carry no order, so
    nothing agrees), NaN with fewer than 3 pairs."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-d arrays of one length, got {x.shape} and {y.shape}")
    if x.size < 3:
        return float("nan")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(scipy.stats.spearmanr(x, y).statistic)


def instrument_summary(per_instrument: pd.Series, chance: float) -> dict[str, object]:
    """How many instruments beat ``chance`` and which is worst, from accuracy per instrument
    (index = instrument name; NaN = no sample, left out)."""
    scores = per_instrument.dropna()
    if scores.empty:
        return {"instruments": 0, "above_chance": 0, "worst_instrument": "", "worst_accuracy": float("nan")}
    worst = scores.idxmin()
    return {"instruments": int(scores.size), "above_chance": int((scores > chance).sum()),
            "worst_instrument": str(worst), "worst_accuracy": float(scores[worst])}


def ci_columns(low_high: Sequence[float]) -> dict[str, float]:
    """{"ci_low": .., "ci_high": ..}: how every table names an interval."""
    low, high = low_high
    return {"ci_low": float(low), "ci_high": float(high)}
