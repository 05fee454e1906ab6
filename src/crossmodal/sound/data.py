"""What the sound steps share: a feature store with its labels and split, input statistics."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.store import open_array
from crossmodal.urmp import INSTRUMENT_NAMES


@dataclass
class LabelledStore:
    """A representation store with the manifest's labels and split; rows = window_id."""

    windows: pd.DataFrame
    features: np.ndarray          # memmap [N, F, T]
    labels: np.ndarray            # int64 [N], index into ``classes``
    train: np.ndarray             # int64 window ids of the train split
    test: np.ndarray              # int64 window ids of the test split
    classes: tuple[str, ...] = INSTRUMENT_NAMES  # manifests.class_names: what the labels index


def load_labelled(windows_path: str | os.PathLike, features_path: str | os.PathLike) -> LabelledStore:
    windows = manifests.read_windows(windows_path)
    features = open_array(features_path, rows=len(windows))
    if features.ndim != 3:
        raise ValueError(f"{features_path}: expected [N, F, T] features, found shape {features.shape}")
    split = windows["split"].to_numpy()
    train = np.flatnonzero(split == "train")
    test = np.flatnonzero(split == "test")
    if len(train) == 0:
        raise ValueError(f"{windows_path}: no window is in the train split")
    return LabelledStore(windows, features, windows["label"].to_numpy().astype(np.int64), train, test,
                         manifests.class_names(windows, str(windows_path)))


def row_statistics(features: np.ndarray, rows: np.ndarray, mode: str, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std [F] of ``features[rows]`` [n, F, T] per frequency row ('per_bin'), over
    everything ('global', repeated F times) or 0 and 1 ('none'); float64 sums, chunked."""
    n_rows = features.shape[1]
    if mode == "none":
        return np.zeros(n_rows, np.float32), np.ones(n_rows, np.float32)
    total = np.zeros(n_rows)
    squares = np.zeros(n_rows)
    count = 0
    rows = np.sort(rows)
    for start in range(0, len(rows), chunk):
        block = np.asarray(features[rows[start : start + chunk]], dtype=np.float64)
        total += block.sum(axis=(0, 2))
        squares += np.square(block).sum(axis=(0, 2))
        count += block.shape[0] * block.shape[2]
    if mode == "global":
        total, squares, count = np.full(n_rows, total.sum()), np.full(n_rows, squares.sum()), count * n_rows
    elif mode != "per_bin":
        raise ValueError(f"standardisation {mode!r} is not per_bin, global or none")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def confusion_frame(matrix: np.ndarray, classes: tuple[str, ...] = INSTRUMENT_NAMES) -> pd.DataFrame:
    names = list(classes[: len(matrix)])
    frame = pd.DataFrame(matrix, index=pd.Index(names, name="true"), columns=names)
    return frame
