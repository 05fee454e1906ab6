"""Table 4's results and Fig. 8 from the raters' score files and the page's key.

Reads every ``*.csv`` that raters saved from the human-evaluation page (or the files given),
unblinds them with the key, and writes the mean score per method (overall and per instrument)
and the vote histogram of Fig. 8.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from crossmodal.evaluation import figures, human_eval
from crossmodal.store import write_csv

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, type=Path, help="key.csv written with the page")
    parser.add_argument("--scores", nargs="*", type=Path, default=[], help="score CSV files")
    parser.add_argument("--scores-dir", type=Path, help="folder whose *.csv files are score files")
    parser.add_argument("--table", required=True, type=Path, help="output: table4_human_eval.csv")
    parser.add_argument("--fig8", required=True, type=Path, help="output: fig8_human_eval.png")


def read_key(path: Path) -> pd.DataFrame:
    try:
        key = pd.read_csv(path, dtype={"set_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise human_eval.HumanEvalError(f"{path}: cannot read the key: {err}") from err
    missing = [c for c in human_eval.KEY_COLUMNS if c not in key.columns]
    if missing:
        raise human_eval.HumanEvalError(f"{path}: missing column(s) {missing}")
    return key


def run(args: argparse.Namespace) -> None:
    paths = list(args.scores) + (human_eval.score_files(args.scores_dir) if args.scores_dir else [])
    if not paths:
        raise human_eval.HumanEvalError(
            f"no score files: put the CSV files raters saved in {args.scores_dir or '--scores-dir'}")
    scores = human_eval.read_scores(paths)
    table = human_eval.score_table(scores, read_key(args.key))
    log.info("%d scores from %d raters in %d files", len(scores), scores["rater"].nunique(), len(paths))
    write_csv(args.table, table)
    figures.plot_human_eval(table, args.fig8)
