"""What the sound steps share: the windows manifest with its stores, the split, statistics."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crossmodal import manifests
from crossmodal.config import validate_config
from crossmodal.store import open_array
from crossmodal.urmp import INSTRUMENT_NAMES


def section_defaults(section: str) -> dict[str, Any]:
    """The schema's defaults of one config section (the CLI's defaults, so both agree)."""
    return validate_config({})[section]


def none_or(kind):
    """argparse type: ``none`` -> None, else ``kind(text)``."""
    def parse(text: str):
        return None if text.lower() in {"none", "null"} else kind(text)
    parse.__name__ = kind.__name__
    return parse


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = section_defaults("training")
    parser.add_argument("--device", default=defaults["device"], help="auto, cpu, cuda or cuda:N (default %(default)s)")
    parser.add_argument("--amp", type=int, choices=[0, 1], default=int(defaults["amp"]), help="mixed precision on CUDA (1/0)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")


@dataclass
class LabelledStore:
    """A representation store with the manifest's labels and split; rows = window_id."""

    windows: pd.DataFrame
    features: np.ndarray          # memmap [N, F, T]
    labels: np.ndarray            # int64 [N], index into INSTRUMENT_NAMES
    train: np.ndarray             # int64 window ids of the train split
    test: np.ndarray              # int64 window ids of the test split


def read_windows(path: str | os.PathLike) -> pd.DataFrame:
    windows = manifests.read(path, "windows")
    if not np.array_equal(windows["window_id"].to_numpy(), np.arange(len(windows))):
        raise manifests.ManifestError(f"{path}: window_id is not the row number 0..N-1")
    return windows


def load_labelled(windows_path: str | os.PathLike, features_path: str | os.PathLike) -> LabelledStore:
    windows = read_windows(windows_path)
    features = open_array(features_path, rows=len(windows))
    if features.ndim != 3:
        raise ValueError(f"{features_path}: expected [N, F, T] features, found shape {features.shape}")
    split = windows["split"].to_numpy()
    train = np.flatnonzero(split == "train")
    test = np.flatnonzero(split == "test")
    if len(train) == 0:
        raise ValueError(f"{windows_path}: no window is in the train split")
    return LabelledStore(windows, features, windows["label"].to_numpy().astype(np.int64), train, test)


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


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int = len(INSTRUMENT_NAMES)) -> np.ndarray:
    """int64 [n_classes, n_classes]; row = true instrument, column = predicted."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def confusion_frame(matrix: np.ndarray) -> pd.DataFrame:
    names = list(INSTRUMENT_NAMES[: len(matrix)])
    frame = pd.DataFrame(matrix, index=pd.Index(names, name="true"), columns=names)
    return frame
