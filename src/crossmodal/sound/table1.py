"""Table 1: test accuracy of the audio classifier per representation and conv depth.

Gathers the ``result.json`` of every (representation, conv layers, seed) model into
``table1.csv`` (rows: conv layers; columns MS, LMS, CQT, MFCC, STFT in percent, the mean over
seeds; with several seeds also ``<REP>_std`` (sample standard deviation) and ``seeds``; when the
results hold per-track tallies, ``<REP>_ci_low`` / ``<REP>_ci_high``, a 95% interval resampling
test tracks, the seeds' tallies pooled),
``table1_per_class.csv`` (one row per model and instrument: test windows, accuracy mean over
seeds) and, with --confusion-dir, ``<dir>/<rep>_<layers>/confusion.csv`` (test split, summed
over seeds; rows true instrument, columns predicted).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal.sound.data import confusion_frame
from crossmodal.sound.features import PAPER_NAMES, REPRESENTATIONS
from crossmodal.store import write_csv

log = logging.getLogger(__name__)


def read_results(paths: list[str | Path]) -> list[dict]:
    results = []
    for path in paths:
        try:
            record = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable classifier result: {err}") from err
        missing = {"representation", "conv_layers", "seed", "test_accuracy", "per_class", "confusion"} - set(record)
        if missing:
            raise ValueError(f"{path}: classifier result lacks {sorted(missing)}")
        results.append(record)
    return results


def table1(results: list[dict]) -> pd.DataFrame:
    """Rows = conv layers, columns = representations in the paper's order (percent, 2 decimals)."""
    frame = pd.DataFrame([{"rep": r["representation"], "conv_layers": int(r["conv_layers"]), "seed": int(r["seed"]),
                           "accuracy": 100.0 * float(r["test_accuracy"])} for r in results])
    duplicated = frame.duplicated(["rep", "conv_layers", "seed"])
    if duplicated.any():
        raise ValueError(f"two results for the same model: {frame[duplicated].to_dict('records')}")
    reps = [rep for rep in REPRESENTATIONS if rep in set(frame["rep"])]
    grouped = frame.groupby(["conv_layers", "rep"])["accuracy"]
    mean = grouped.mean().unstack("rep")[reps]
    table = mean.rename(columns=PAPER_NAMES).round(2)
    seeds = grouped.count().unstack("rep")[reps]
    if (seeds.to_numpy() > 1).any():
        std = grouped.std(ddof=1).unstack("rep")[reps].round(2)
        table = table.join(std.rename(columns={r: f"{PAPER_NAMES[r]}_std" for r in reps}))
        table["seeds"] = seeds.max(axis=1)
    table = table.reset_index()
    if results and all("test_tracks" in r for r in results):
        table = table.merge(intervals(results), on="conv_layers", how="left")
    return table


def intervals(results: list[dict]) -> pd.DataFrame:
    """Per conv depth, ``<REP>_ci_low`` and ``<REP>_ci_high`` (percent): a 95% bootstrap interval
    over test tracks of the accuracy, from the tracks' [right, windows] tallies summed over seeds."""
    from crossmodal.evaluation.stats import accuracy_ci_counts

    pooled: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for r in results:
        cell = pooled.setdefault((int(r["conv_layers"]), r["representation"]), {})
        for track, (hits, size) in r["test_tracks"].items():
            cell[track] = cell.get(track, np.zeros(2)) + (hits, size)
    rows: dict[int, dict] = {}
    for (layers, rep), tallies in pooled.items():
        counts = np.array(list(tallies.values()))
        low, high = accuracy_ci_counts(counts[:, 0], counts[:, 1])
        row = rows.setdefault(layers, {"conv_layers": layers})
        row[f"{PAPER_NAMES[rep]}_ci_low"], row[f"{PAPER_NAMES[rep]}_ci_high"] = round(100 * low, 2), round(100 * high, 2)
    return pd.DataFrame(list(rows.values()))


def per_class_table(results: list[dict]) -> pd.DataFrame:
    """One row per (representation, conv layers, instrument): test windows and accuracy % (mean over seeds)."""
    rows = []
    for r in results:
        for instrument, counts in r["per_class"].items():
            if counts["test_windows"]:
                rows.append({"representation": PAPER_NAMES[r["representation"]], "conv_layers": int(r["conv_layers"]),
                             "instrument": instrument, "seed": int(r["seed"]), "test_windows": counts["test_windows"],
                             "accuracy": 100.0 * counts["correct"] / counts["test_windows"]})
    frame = pd.DataFrame(rows, columns=["representation", "conv_layers", "instrument", "seed", "test_windows", "accuracy"])
    out = (frame.groupby(["representation", "conv_layers", "instrument"], sort=False)
           .agg(test_windows=("test_windows", "max"), accuracy=("accuracy", "mean"), seeds=("seed", "count"))
           .reset_index())
    order = {PAPER_NAMES[r]: i for i, r in enumerate(REPRESENTATIONS)}
    out = out.sort_values(["conv_layers", "representation", "instrument"], key=lambda c: c.map(order) if c.name == "representation" else c)
    out["accuracy"] = out["accuracy"].round(2)
    return out.reset_index(drop=True)


def summed_confusions(results: list[dict]) -> dict[str, np.ndarray]:
    """``<rep>_<layers>`` -> confusion matrix of the test split summed over seeds."""
    out: dict[str, np.ndarray] = {}
    for r in results:
        key = f"{r['representation']}_{int(r['conv_layers'])}"
        matrix = np.asarray(r["confusion"], dtype=np.int64)
        out[key] = out[key] + matrix if key in out else matrix
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="result.json of every classifier")
    parser.add_argument("--out", required=True, help="table1.csv")
    parser.add_argument("--per-class", required=True, help="table1_per_class.csv")
    parser.add_argument("--confusion-dir", help="write <dir>/<rep>_<layers>/confusion.csv (summed over seeds)")


def run(args: argparse.Namespace) -> None:
    results = read_results(args.results)
    table = table1(results)
    write_csv(args.out, table)
    write_csv(args.per_class, per_class_table(results))
    if args.confusion_dir:
        for key, matrix in summed_confusions(results).items():
            write_csv(Path(args.confusion_dir) / key / "confusion.csv", confusion_frame(matrix), index=True)
    log.info("Table 1 (test accuracy %%):\n%s", table.to_string(index=False))
