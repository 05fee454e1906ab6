"""Sub-URMP chunks: how many needed downmixing, resampling, padding or trimming (one CSV).

Gathers every track's summary row (``results/manifests/pieces/<track>.csv``, from ``ingest-suburmp``) into one table, a row per
track and a final ``total`` row, and logs the totals: a release whose chunks are not the 0.5 s
they should be shows here rather than in the results.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from crossmodal.store import write_csv

log = logging.getLogger(__name__)

COUNTS = ("chunks", "downmixed", "resampled", "padded", "trimmed")


def summarise(rows: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-track rows, then a total row (counts summed, the extreme chunk lengths)."""
    table = pd.concat(rows, ignore_index=True)
    total = {"track_id": "total", **{c: int(table[c].sum()) for c in COUNTS},
             "rates_hz": " ".join(sorted({r for v in table["rates_hz"].astype(str) for r in v.split()}, key=int)),
             "channels": " ".join(sorted({c for v in table["channels"].astype(str) for c in v.split()}, key=int)),
             "shortest_s": table["shortest_s"].min(), "longest_s": table["longest_s"].max()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="CSV to write")
    parser.add_argument("reports", nargs="+", type=Path, help="every track's summary CSV")


def run(args: argparse.Namespace) -> None:
    rows = []
    for path in args.reports:
        try:
            rows.append(pd.read_csv(path))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"{path}: cannot read it as CSV ({err})") from err
    table = summarise(rows)
    write_csv(args.out, table)
    total = table.iloc[-1]
    log.info("%d chunks of %d tracks: %d downmixed, %d resampled, %d padded, %d trimmed (rates %s Hz, %s channel(s), "
             "%.4f-%.4f s)", total["chunks"], len(table) - 1, total["downmixed"], total["resampled"], total["padded"],
             total["trimmed"], total["rates_hz"], total["channels"], total["shortest_s"], total["longest_s"])
