"""results/scorecard.csv: every number the paper reports, beside ours, its interval and its data.

One row per number: Table 2's pair counts (and INIS's Table 3 totals), Table 1's ten cells, the sound classifier's and the
image classifier's (Gamma's) test accuracy, Table 5's six accuracies, the I2S accuracy, and the
human evaluation's mean scores of Sec. 5.2.1 / Fig. 8 once raters' scores exist. Columns: item,
paper, ours, ci_low, ci_high (95%, bootstrap over tracks, where the source table has one),
unit, source, note. ``source`` names the data behind ``ours`` (demo, URMP, Sub-URMP, INIS), so
a number measured on the built-in demo is never read as a reproduction of the paper.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal.store import write_csv

log = logging.getLogger(__name__)

COLUMNS = ("item", "paper", "ours", "ci_low", "ci_high", "unit", "source", "note")

#: data.source -> what the scorecard calls the data.
SOURCE_NAMES = {"demo": "demo", "local": "URMP", "download": "URMP", "suburmp": "Sub-URMP", "sub_urmp": "Sub-URMP",
                "inis": "INIS"}

#: Table 2's totals (Sub-URMP pairs; the per-instrument cells sum to these).
PAPER_TABLE2 = {"train": 71230, "test": 9575, "total": 80805}
#: Table 3's totals over INIS's five classes.
PAPER_TABLE3 = {"complete_songs": 77, "train_pairs": 4461, "test_pairs": 1905}
#: Sec. 5.1: the LMS sound classifier (the S2I-C encoder) on real test LMS; Sec. 3.4: the image classifier.
PAPER_SOUND_CLASSIFIER = 80.0
PAPER_IMAGE_CLASSIFIER = 95.0


def _read(path: str | Path | None, required: tuple[str, ...]) -> pd.DataFrame | None:
    if path is None:
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path}: cannot read it for the scorecard: {err}") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: lacks column(s) {missing} the scorecard reads")
    return frame


def _one(frame: pd.DataFrame, path, **where) -> pd.Series | None:
    rows = frame
    for column, value in where.items():
        rows = rows[rows[column].astype(str) == str(value)]
    if len(rows) > 1:
        raise ValueError(f"{path}: {len(rows)} rows for {where}, expected one")
    return rows.iloc[0] if len(rows) else None


def _ci(row: pd.Series | None, scale: float) -> tuple[float, float]:
    if row is None or "ci_low" not in row.index:
        return float("nan"), float("nan")
    return float(row["ci_low"]) * scale, float(row["ci_high"]) * scale


def _row(item, paper, ours, ci=(float("nan"), float("nan")), unit="%", note="") -> dict:
    return {"item": item, "paper": paper, "ours": ours, "ci_low": ci[0], "ci_high": ci[1], "unit": unit, "note": note}


def table2_rows(table2: pd.DataFrame, path) -> list[dict]:
    total = _one(table2, path, instrument="total")
    notes = {"test": "80,805 - 71,230 in the text (and the release); the printed test row sums to 8,915"}
    return [_row(f"Table 2: {split} pairs", PAPER_TABLE2[split], float(total[split]) if total is not None else np.nan,
                 unit="pairs", note=notes.get(split, "")) for split in ("train", "test", "total")]


def table3_rows(table3: pd.DataFrame, path, source: str) -> list[dict]:
    total = _one(table3, path, **{"class": "all"})
    return [{**_row(f"Table 3 (INIS): {column.replace('_', ' ')}", paper,
                    float(total[column]) if total is not None else np.nan, unit="count"), "source": source}
            for column, paper in PAPER_TABLE3.items()]


def table1_rows(table1: pd.DataFrame, path) -> list[dict]:
    from crossmodal.sound.features import PAPER_NAMES
    from crossmodal.evaluation.paper import PAPER_TABLE1

    rows = []
    for layers, cells in PAPER_TABLE1.items():
        mine = _one(table1, path, conv_layers=layers)
        for rep, paper in cells.items():
            name = PAPER_NAMES[rep]
            ours = float(mine[name]) if mine is not None and name in mine.index else np.nan
            ci = ((float(mine[f"{name}_ci_low"]), float(mine[f"{name}_ci_high"]))
                  if mine is not None and f"{name}_ci_low" in mine.index else (np.nan, np.nan))
            rows.append(_row(f"Table 1: {name}, {layers} conv layers", paper, ours, ci))
    mine = _one(table1, path, conv_layers=4)
    ours = float(mine["LMS"]) if mine is not None and "LMS" in mine.index else np.nan
    rows.append(_row("Sound classifier (LMS, 4 conv; S2I-C's encoder): test accuracy", PAPER_SOUND_CLASSIFIER, ours,
                     note="Sec. 5.1; = Table 1's LMS 4-layer cell"))
    return rows


def image_classifier_rows(accuracy: pd.DataFrame, path) -> list[dict]:
    mine = _one(accuracy, path, split="test", instrument="all")
    return [_row("Image classifier (Gamma): test accuracy", PAPER_IMAGE_CLASSIFIER,
                 100 * float(mine["accuracy"]) if mine is not None else np.nan, _ci(mine, 100),
                 note="Sec. 3.4: paper says more than 95%")]


def table5_rows(table5: pd.DataFrame, path) -> list[dict]:
    from crossmodal.evaluation.paper import PAPER_TABLE5

    rows = []
    for (method, split), paper in PAPER_TABLE5.items():
        mine = _one(table5, path, method=method, split=split, instrument="all")
        note = ""
        if mine is not None and "above_chance" in mine.index and pd.notna(mine["above_chance"]):
            note = (f"{int(mine['above_chance'])} of {int(mine['instruments'])} instruments above chance; "
                    f"worst {mine['worst_instrument']} {100 * float(mine['worst_accuracy']):.1f}%")
        rows.append(_row(f"Table 5: {method}, {split} sounds", 100 * paper,
                         100 * float(mine["accuracy"]) if mine is not None else np.nan, _ci(mine, 100), note=note))
    return rows


def i2s_rows(i2s: pd.DataFrame, path) -> list[dict]:
    from crossmodal.evaluation.paper import PAPER_I2S_ACCURACY

    rows = []
    for split, paper in PAPER_I2S_ACCURACY.items():
        mine = _one(i2s, path, method="I2S", split=split, instrument="all")
        real = _one(i2s, path, method="real", split=split, instrument="all")
        note = f"the same classifier on real LMS: {100 * float(real['accuracy']):.1f}%" if real is not None else ""
        if mine is not None and "above_chance" in mine.index and pd.notna(mine["above_chance"]):
            note += (f"; {int(mine['above_chance'])} of {int(mine['instruments'])} instruments above chance, "
                     f"worst {mine['worst_instrument']} {100 * float(mine['worst_accuracy']):.1f}%")
        rows.append(_row(f"I2S: sound classifier on generated LMS ({split} images)", 100 * paper,
                         100 * float(mine["accuracy"]) if mine is not None else np.nan, _ci(mine, 100), note=note))
    return rows


def human_rows(table4: pd.DataFrame | None, path) -> list[dict]:
    from crossmodal.evaluation.human_eval import PAPER_MEAN_SCORE

    rows = []
    for method, paper in PAPER_MEAN_SCORE.items():
        mine = _one(table4, path, method=method, instrument="all") if table4 is not None else None
        ours = float(mine["mean_score"]) if mine is not None else np.nan
        note = "" if mine is not None else "no rater scores yet"
        rows.append(_row(f"Human evaluation (Fig. 8): {method} mean score", paper, ours, unit="score 0-3", note=note))
    return rows


def scorecard(source: str, table1=None, table2=None, table5=None, i2s=None, image_accuracy=None, table4=None,
              table3=None, inis_source: str = "INIS", paths: dict | None = None) -> pd.DataFrame:
    """The scorecard from the tables (DataFrames as the steps write them; None: not made).
    ``source`` names the Sub-URMP side's data, ``inis_source`` the INIS side's (Table 3)."""
    paths = paths or {}
    rows = []
    if table2 is not None:
        rows += table2_rows(table2, paths.get("table2"))
    if table3 is not None:
        rows += table3_rows(table3, paths.get("table3"), inis_source)
    if table1 is not None:
        rows += table1_rows(table1, paths.get("table1"))
    if image_accuracy is not None:
        rows += image_classifier_rows(image_accuracy, paths.get("image_accuracy"))
    if table5 is not None:
        rows += table5_rows(table5, paths.get("table5"))
    if i2s is not None:
        rows += i2s_rows(i2s, paths.get("i2s"))
    rows += human_rows(table4, paths.get("table4"))
    frame = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    frame["source"] = frame["source"].astype(object).fillna(SOURCE_NAMES.get(source, source))
    for column in ("ours", "ci_low", "ci_high"):
        frame[column] = frame[column].astype(float).round(2)
    return frame.reindex(columns=list(COLUMNS))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True, help="the data behind the numbers: data.source (demo, local, "
                                                        "download, suburmp, inis) or a name")
    parser.add_argument("--table1", help="table1.csv")
    parser.add_argument("--table2", help="table2.csv")
    parser.add_argument("--table5", help="table5.csv")
    parser.add_argument("--i2s", help="i2s_accuracy.csv")
    parser.add_argument("--image-accuracy", help="the image classifier's accuracy.csv")
    parser.add_argument("--table4", help="table4_human_eval.csv (once raters' scores exist)")
    parser.add_argument("--table3", help="INIS's table3.csv")
    parser.add_argument("--inis-source", default="INIS", help="the data behind Table 3: INIS or 'INIS demo'")
    parser.add_argument("--out", required=True, help="output: scorecard.csv")
    parser.add_argument("--markdown", help="also write the table as Markdown (for the README / report)")


def to_markdown(card: pd.DataFrame) -> str:
    """The scorecard as a Markdown table (NaN as blank)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:g}"
        return str(value).replace("|", "/")

    lines = ["| " + " | ".join(card.columns) + " |", "|" + "---|" * len(card.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in card.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    from crossmodal.store import write_text

    paths = {k: getattr(args, k) for k in ("table1", "table2", "table5", "i2s", "image_accuracy", "table4", "table3")}
    card = scorecard(
        args.source,
        table1=_read(args.table1, ("conv_layers",)),
        table2=_read(args.table2, ("instrument", "train", "test", "total")),
        table5=_read(args.table5, ("method", "split", "instrument", "accuracy")),
        i2s=_read(args.i2s, ("method", "split", "instrument", "accuracy")),
        image_accuracy=_read(args.image_accuracy, ("split", "instrument", "accuracy")),
        table4=_read(args.table4, ("method", "instrument", "mean_score")),
        table3=_read(args.table3, ("class", *PAPER_TABLE3)),
        inis_source=args.inis_source,
        paths=paths,
    )
    write_csv(args.out, card)
    if args.markdown:
        write_text(args.markdown, to_markdown(card))
    log.info("scorecard (%d numbers of the paper, data: %s):\n%s", len(card), card["source"].iloc[0],
             card.to_string(index=False))
