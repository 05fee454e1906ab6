"""Numbers that judge the generators (Sec. 5.2.2, 5.2.3, 5.4) and the checkpoint to report.

The paper judges generated images with the image classifier Gamma and generated LMS with the
sound classifier: the share of samples that the judge puts in the class of the sound (or image)
that conditioned them. Beyond the paper, a Frechet distance between the judge's 128-d
encodings of real and generated samples (an FID-like number that uses the project's own
encoder) measures how close the two distributions are, not only whether the class is right.

Everything here is numpy in, numbers out; the judges come in as plain callables so this module
does not depend on torch.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg

from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)

#: The splits every judge is asked about, in table order.
SPLITS = ("train", "test")


def _as_labels(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be one label per sample (1-d), got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {values.dtype}")
    return values.astype(np.int64, copy=False)


def _check_pair(predictions: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictions = _as_labels("predictions", predictions)
    labels = _as_labels("labels", labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.size} predictions for {labels.size} labels")
    return predictions, labels


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of samples whose predicted class is their label; NaN when there are no samples.

    predictions, labels: int [n].
    """
    predictions, labels = _check_pair(predictions, labels)
    if labels.size == 0:
        return float("nan")
    return float(np.mean(predictions == labels))


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: row = true label, column = predicted class."""
    predictions, labels = _check_pair(predictions, labels)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} hold a class outside 0..{n_classes - 1}")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """float64 [n_classes]: accuracy on the samples of each class; NaN for a class absent from
    ``labels`` (no samples is not the same as all wrong)."""
    matrix = confusion_matrix(predictions, labels, n_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


@dataclass(frozen=True)
class JudgeScores:
    """How well a judge recognises the class of generated samples."""

    accuracy: float
    per_class: np.ndarray   # float64 [n_classes], NaN where no sample of the class
    confusion: np.ndarray   # int64 [n_classes, n_classes], row = conditioning class
    predictions: np.ndarray  # int64 [n]
    n: int


def judge_predictions(judge: Callable[[np.ndarray], np.ndarray], samples: np.ndarray,
                      batch_size: int = 256) -> np.ndarray:
    """The judge's class for every sample, asked batch by batch.

    judge: maps a batch [b, ...] to class scores [b, n_classes] (argmax taken) or labels [b].
    samples: [n, ...] (images or LMS, in whatever form the judge takes). Returns int64 [n].
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = []
    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        answer = np.asarray(judge(batch))
        if answer.ndim == 2:
            answer = answer.argmax(axis=1)
        if answer.shape != (len(batch),):
            raise ValueError(f"the judge answered shape {answer.shape} for a batch of {len(batch)}")
        out.append(answer.astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def judge_accuracy(judge: Callable[[np.ndarray], np.ndarray], samples: np.ndarray,
                   labels: np.ndarray, n_classes: int, batch_size: int = 256) -> JudgeScores:
    """Accuracy of the judge on generated samples (Table 5, Sec. 5.4): a sample counts as right
    when the judge puts it in the class of the input that conditioned it (``labels``, int [n])."""
    labels = _as_labels("labels", labels)
    if len(samples) != labels.size:
        raise ValueError(f"{len(samples)} samples for {labels.size} labels")
    predictions = judge_predictions(judge, samples, batch_size)
    return JudgeScores(
        accuracy=accuracy(predictions, labels),
        per_class=per_class_accuracy(predictions, labels, n_classes),
        confusion=confusion_matrix(predictions, labels, n_classes),
        predictions=predictions,
        n=int(labels.size),
    )


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and covariance [d, d] (unbiased) of features [n, d], in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be [n, d], got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {features.shape[0]}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features hold NaN or infinite values")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance_from_statistics(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                                     sigma2: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2):
    ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).

    The product of two covariances estimated from few samples can be singular, and sqrtm of a
    nearly singular matrix can come out non-finite or with round-off imaginary parts: a
    non-finite root is retried with ``eps`` added to both diagonals; imaginary parts are dropped
    when they are round-off (small next to the real part), else it is an error.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics do not match: means {mu1.shape}, {mu2.shape}; "
                         f"covariances {sigma1.shape}, {sigma2.shape}")
    with warnings.catch_warnings():
        # Singular products are expected with fewer samples than dimensions; handled below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(mu1.size) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        scale = max(1.0, float(np.abs(covmean.real).max()))
        if np.abs(covmean.imag).max() > 1e-3 * scale:
            raise ValueError(f"the covariance product has a matrix square root with a large "
                             f"imaginary part ({np.abs(covmean.imag).max():.3g})")
        covmean = covmean.real
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))  # tiny negative values are round-off of a zero distance


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID-like distance between two sets of encodings, float [n_a, d] and [n_b, d] (d = 128
    for the project's encoders): the Frechet distance of Gaussians fitted to each set."""
    mu1, sigma1 = feature_statistics(features_a)
    mu2, sigma2 = feature_statistics(features_b)
    return frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2)


def best_and_last_checkpoint(history: pd.DataFrame, metric: str = "test_accuracy",
                             higher_is_better: bool = True) -> pd.DataFrame:
    """The checkpoint with the best ``metric`` (by default the judge's accuracy on images from
    test-split sounds) and the last one, as two rows of ``history`` with a ``checkpoint`` column
    ("best", "last") in front. A tie goes to the earliest epoch; NaN scores never win.

    history: one row per kept checkpoint, with an ``epoch`` column and ``metric``.
    """
    for column in ("epoch", metric):
        if column not in history.columns:
            raise ValueError(f"checkpoint history has no column {column!r} "
                             f"(columns: {list(history.columns)})")
    ordered = history.sort_values("epoch", kind="stable").reset_index(drop=True)
    scores = ordered[metric].astype(float)
    if scores.notna().sum() == 0:
        raise ValueError(f"no checkpoint has a value for {metric!r}")
    best = (scores if higher_is_better else -scores).idxmax()  # first maximum: earliest epoch
    rows = ordered.loc[[best, len(ordered) - 1]].copy()
    rows.insert(0, "checkpoint", ["best", "last"])
    return rows.reset_index(drop=True)


def fid_or_nan(real: np.ndarray, fake: np.ndarray) -> float:
    """The Frechet distance, or NaN when a set is too small for a covariance.

    With fewer samples than dimensions (128) the covariances are singular and the distance is
    biased upwards; it still ranks models judged on the same windows, but says so in the log.
    """
    if len(real) < 2 or len(fake) < 2:
        return float("nan")
    if min(len(real), len(fake)) <= real.shape[1]:
        log.warning("Frechet distance from %d samples of %d dimensions: biased, compare only on the same windows",
                    min(len(real), len(fake)), real.shape[1])
    return frechet_distance(real, fake)


def score_rows(method: str, split: str, labels: np.ndarray, predictions: np.ndarray, fid: float,
               paper: float = float("nan"), classes: tuple[str, ...] = INSTRUMENT_NAMES,
               groups: np.ndarray | None = None, seed: int = 0) -> list[dict]:
    """Table rows: one over all instruments, one per instrument present in ``labels``
    (``classes``: what the labels index, manifests.class_names).

    With ``groups`` (the track of every sample), every row gets a 95% interval resampling
    tracks (ci_low, ci_high; evaluation.stats), and the "all" row how many instruments beat
    chance (1 / len(classes)) and the worst one."""
    from crossmodal.evaluation import stats

    per_class = per_class_accuracy(predictions, labels, len(classes))
    rows = [{"method": method, "split": split, "instrument": "all", "n": int(labels.size),
             "accuracy": accuracy(predictions, labels), "fid": fid, "paper_accuracy": paper}]
    for label in np.unique(labels):
        rows.append({"method": method, "split": split, "instrument": classes[label],
                     "n": int((labels == label).sum()), "accuracy": float(per_class[label]),
                     "fid": float("nan"), "paper_accuracy": float("nan")})
    if groups is not None:
        correct = np.asarray(predictions) == np.asarray(labels)
        groups = np.asarray(groups)
        rows[0].update(stats.ci_columns(stats.accuracy_ci(correct, groups, seed=seed)))
        for row, label in zip(rows[1:], np.unique(labels)):
            mine = labels == label
            row.update(stats.ci_columns(stats.accuracy_ci(correct[mine], groups[mine], seed=seed)))
        by_instrument = pd.Series({row["instrument"]: row["accuracy"] for row in rows[1:]}, dtype=float)
        rows[0].update(stats.instrument_summary(by_instrument, chance=1 / len(classes)))
    return rows
