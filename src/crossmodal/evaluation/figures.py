"""The evaluation figures: Fig. 1, 8, 9, 10 and 11 of the paper, drawn from arrays and tables.

Each function takes what the figure shows (uint8 RGB images [S, S, 3], LMS [n_mels, t] in dB,
tables) and writes one PNG atomically; computing those inputs is the step modules' job.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from crossmodal.store import atomic_output  # noqa: E402

#: Colours of the methods in every figure.
METHOD_COLOURS = {"S2I-C": "tab:blue", "S2I-N": "tab:orange", "S2I-A": "tab:green",
                  "ground_truth": "tab:gray", "train": "tab:blue", "test": "tab:red"}


@contextlib.contextmanager
def _figure(path: str | os.PathLike, figsize: tuple[float, float], dpi: int = 120) -> Iterator[Figure]:
    """A new figure, written to ``path`` atomically when the block succeeds; always closed."""
    fig = plt.figure(figsize=figsize)
    try:
        yield fig
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


def _show_image(ax, image: np.ndarray | None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if image is None:
        ax.set_facecolor("#eee")
        return
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"images must be uint8 [S, S, 3], got {image.dtype} {image.shape}")
    ax.imshow(image, interpolation="nearest")


def _show_lms(ax, lms: np.ndarray | None, vmin: float | None = None, vmax: float | None = None):
    ax.set_xticks([])
    ax.set_yticks([])
    if lms is None:
        ax.set_facecolor("#eee")
        return None
    lms = np.asarray(lms)
    if lms.ndim != 2:
        raise ValueError(f"an LMS must be [n_mels, t], got shape {lms.shape}")
    return ax.imshow(lms, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                     interpolation="nearest")


def plot_generated_grid(rows: dict[str, Sequence[np.ndarray | None]], columns: Sequence[str],
                        path: str | os.PathLike, lms_row: Sequence[np.ndarray | None] | None = None,
                        lms_label: str = "I2S", title: str | None = None) -> None:
    """Fig. 1: one column per instrument; a row of generated images per model (``rows``:
    model name -> one image or None per column) and, below, a row of I2S spectrograms."""
    n_rows = len(rows) + (1 if lms_row is not None else 0)
    if n_rows == 0 or not columns:
        raise ValueError("Fig. 1 needs at least one row and one column")
    for name, images in rows.items():
        if len(images) != len(columns):
            raise ValueError(f"row {name!r} has {len(images)} images for {len(columns)} columns")
    if lms_row is not None and len(lms_row) != len(columns):
        raise ValueError(f"the LMS row has {len(lms_row)} spectrograms for {len(columns)} columns")
    size = 1.3
    with _figure(path, (size * len(columns) + 1, size * n_rows + 0.6)) as fig:
        axes = fig.subplots(n_rows, len(columns), squeeze=False)
        _draw_grid(fig, axes, rows, columns, lms_row, lms_label, title)


def _draw_grid(fig, axes, rows, columns, lms_row, lms_label, title) -> None:
    for r, (name, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            _show_image(axes[r, c], image)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    if lms_row is not None:
        for c, lms in enumerate(lms_row):
            _show_lms(axes[-1, c], lms)
        axes[-1, 0].set_ylabel(lms_label, rotation=0, ha="right", va="center")
    for c, name in enumerate(columns):
        axes[0, c].set_title(name.replace("_", " "), fontsize=9)
    if title:
        fig.suptitle(title)


def plot_accuracy_evolution(history: pd.DataFrame, path: str | os.PathLike,
                            samples: dict[int, Sequence[np.ndarray]] | None = None,
                            title: str = "S2I-C: judge accuracy on generated images") -> None:
    """Fig. 9: accuracy of the judge on images generated from train-split and test-split
    sounds at every kept checkpoint (``history``: columns epoch, train_accuracy,
    test_accuracy, in [0, 1]), with generated samples at key epochs below (``samples``:
    epoch -> images)."""
    for column in ("epoch", "train_accuracy", "test_accuracy"):
        if column not in history.columns:
            raise ValueError(f"the accuracy history has no column {column!r}")
    history = history.sort_values("epoch")
    samples = samples or {}
    n_strip = max((len(v) for v in samples.values()), default=0)
    with _figure(path, (8, 3.6 + (1.1 * n_strip if samples else 0))) as fig:
        _draw_evolution(fig, history, samples, n_strip, title)


def _draw_evolution(fig, history, samples, n_strip, title) -> None:
    grid = fig.add_gridspec(1 + (1 if samples else 0), 1, hspace=0.3,
                            height_ratios=[3.2] + ([1.1 * n_strip] if samples else []))
    ax = fig.add_subplot(grid[0])
    for split, label in (("train", "(a) sounds of the train split"), ("test", "(b) sounds of the test split")):
        ax.plot(history["epoch"], 100 * history[f"{split}_accuracy"], marker="o", ms=3,
                color=METHOD_COLOURS[split], label=label)
    for epoch in samples:
        ax.axvline(epoch, color="#bbb", lw=0.8, zorder=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    if samples:
        strip = grid[1].subgridspec(n_strip, len(samples), wspace=0.05, hspace=0.05)
        for c, (epoch, images) in enumerate(sorted(samples.items())):
            for r in range(n_strip):
                sub = fig.add_subplot(strip[r, c])
                _show_image(sub, images[r] if r < len(images) else None)
                if r == 0:
                    sub.set_title(f"epoch {epoch}", fontsize=8)


def plot_human_eval(table: pd.DataFrame, path: str | os.PathLike,
                    methods: Sequence[str] = ("S2I-C", "S2I-N", "S2I-A", "ground_truth")) -> None:
    """Fig. 8: for each method, the number of votes for each score 0..3, and the mean scores
    in the upper right. ``table``: human_eval.score_table (rows with instrument "all" used)."""
    overall = table[table["instrument"] == "all"].set_index("method")
    missing = [m for m in methods if m not in overall.index]
    if missing:
        raise ValueError(f"the score table has no overall row for {missing}")
    with _figure(path, (6.5, 3.8)) as fig:
        _draw_votes(fig.subplots(), overall, methods)


def _draw_votes(ax, overall: pd.DataFrame, methods: Sequence[str]) -> None:
    scores = [0, 1, 2, 3]
    width = 0.8 / len(methods)
    top = 1
    for i, method in enumerate(methods):
        votes = [int(overall.loc[method, f"votes_{s}"]) for s in scores]
        top = max(top, *votes)
        ax.bar(np.array(scores) + (i - (len(methods) - 1) / 2) * width, votes, width,
               color=METHOD_COLOURS.get(method), label=method.replace("_", " "))
    ax.set_xticks(scores)
    ax.set_xlabel("score (Table 4)")
    ax.set_ylabel("vote number")
    ax.set_ylim(0, 1.6 * top)  # room above the bars for the legend and the averages
    lines = [f"{m.replace('_', ' ')}: {overall.loc[m, 'mean_score']:.2f}" for m in methods]
    ax.text(0.98, 0.97, "Average score\n" + "\n".join(lines), transform=ax.transAxes,
            ha="right", va="top", fontsize=8, bbox={"facecolor": "white", "edgecolor": "#999"})
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Human evaluation of generated images")


def plot_pose(rows: Sequence[tuple], path: str | os.PathLike) -> None:
    """Fig. 10: for each (label, real frames, generated images[, captions]), a row of the real
    frames of a sequence of sounds and, under it, the images generated from those sounds, each
    with its caption (e.g. the sound's pitch and a pitch judge's reading) when given."""
    if not rows:
        raise ValueError("Fig. 10 needs at least one sequence")
    n_cols = max(max(len(row[1]), len(row[2])) for row in rows)
    captioned = any(len(row) > 3 and row[3] for row in rows)
    with _figure(path, (1.1 * n_cols + 1.2, (2.6 if captioned else 2.2) * len(rows))) as fig:
        # Captions sit under the generated rows: room for two lines before the next real row.
        axes = fig.subplots(2 * len(rows), n_cols, squeeze=False, gridspec_kw={"hspace": 0.6 if captioned else 0.2})
        for r, (label, real, fake, *rest) in enumerate(rows):
            captions = rest[0] if rest and rest[0] else []
            for c in range(n_cols):
                _show_image(axes[2 * r, c], real[c] if c < len(real) else None)
                _show_image(axes[2 * r + 1, c], fake[c] if c < len(fake) else None)
                if c < len(captions):
                    axes[2 * r + 1, c].set_xlabel(captions[c], fontsize=6)
            axes[2 * r, 0].set_ylabel(f"{label}\nreal", rotation=0, ha="right", va="center", fontsize=8)
            axes[2 * r + 1, 0].set_ylabel("generated", rotation=0, ha="right", va="center", fontsize=8)
        fig.suptitle("Pose-oriented S2I: generated poses for a sequence of sounds")


def plot_spectrogram_triples(triples: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
                             path: str | os.PathLike) -> None:
    """Fig. 11: rows of (label, real image, real LMS, generated LMS); both LMS of a row share
    one colour scale so their energies compare."""
    if not triples:
        raise ValueError("Fig. 11 needs at least one triple")
    with _figure(path, (6.5, 1.7 * len(triples) + 0.4)) as fig:
        axes = fig.subplots(len(triples), 3, squeeze=False)
        for r, (label, image, real, fake) in enumerate(triples):
            _show_image(axes[r, 0], image)
            low = float(min(np.min(real), np.min(fake)))
            high = float(max(np.max(real), np.max(fake)))
            _show_lms(axes[r, 1], real, low, high)
            _show_lms(axes[r, 2], fake, low, high)
            axes[r, 0].set_ylabel(label.replace("_", " "), rotation=0, ha="right", va="center", fontsize=8)
        for c, name in enumerate(("real image", "real LMS", "generated LMS")):
            axes[0, c].set_title(name, fontsize=9)
