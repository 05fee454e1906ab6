"""Table 5: the image classifier Gamma's accuracy on images generated from sounds (Sec. 5.2.2).

For each S2I model (S2I-C, S2I-A, S2I-N) and each split, every window's sound encoding
(with noise seeded by the window) is turned into an image; an image counts as right when Gamma
puts it in the instrument of the sound. Beside the paper's numbers the table gives the
accuracy per instrument, Gamma's accuracy on the real frames of the same windows (the ceiling)
and an FID-like Frechet distance between Gamma's 128-d encodings of real and generated images.

Output CSV columns: method, split, instrument ("all" or a name), n, accuracy, fid,
paper_accuracy. Method "real" is Gamma on the real frames.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from crossmodal.evaluation import metrics
from crossmodal.evaluation.inputs import add_s2i_arguments, load_generator, open_encodings
from crossmodal.evaluation.metrics import SPLITS, fid_or_nan, score_rows
from crossmodal.evaluation.paper import PAPER_TABLE5
from crossmodal.evaluation.selection import split_ids
from crossmodal.manifests import read_windows
from crossmodal.store import write_csv

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_s2i_arguments(parser)
    parser.add_argument("--gan", nargs=3, action="append", required=True, metavar=("NAME", "MODEL", "ENCODINGS"),
                        help="an S2I model to judge: its name (S2I-C), model.pt and the sound encodings it is "
                             "conditioned on (.npy [N, 128]); repeat per model")
    parser.add_argument("--paper", type=int, choices=[0, 1], default=1,
                        help="1: the paper's Sub-URMP numbers in paper_accuracy; 0: none (another dataset, e.g. INIS)")
    parser.add_argument("--out", required=True, help="output: table5.csv")


def run(args: argparse.Namespace) -> None:
    from crossmodal.evaluation.judges import ImageJudge, judge_generated, judge_real
    from crossmodal.training import device_from

    started = time.perf_counter()
    device = device_from(args)
    windows = read_windows(args.windows)
    judge = ImageJudge(args.judge, device, args.batch_size)
    from crossmodal.manifests import class_names

    labels_all = windows["label"].to_numpy().astype(np.int64)
    classes = class_names(windows, str(args.windows))
    paper_table = PAPER_TABLE5 if args.paper else {}
    rows = []
    for split in SPLITS:
        ids = split_ids(windows, split, args.max_windows, args.seed)
        if len(ids) == 0:
            log.warning("no %s windows: Table 5 has no %s rows", split, split)
            continue
        labels = labels_all[ids]
        real_pred, real_codes = judge_real(judge, windows, ids)
        tracks = windows["track_id"].to_numpy()[ids]  # CIs resample tracks (evaluation.stats)
        rows += score_rows("real", split, labels, real_pred, float("nan"), classes=classes, groups=tracks,
                           seed=args.seed)
        log.info("Gamma on %d real %s frames: %.2f%%", len(ids), split, 100 * metrics.accuracy(real_pred, labels))
        for name, model_path, encodings_path in args.gan:
            generator, _ = load_generator(model_path, "s2i", device)
            encodings = open_encodings(encodings_path, len(windows))
            pred, codes = judge_generated(judge, generator, encodings, ids, args.seed, device, args.batch_size,
                                          f"{name} {split}")
            fid = fid_or_nan(real_codes, codes)
            paper = paper_table.get((name, split), float("nan"))
            rows += score_rows(name, split, labels, pred, fid, paper, classes, groups=tracks, seed=args.seed)
            log.info("%s, %s sounds: Gamma accuracy %.2f%% (paper %.2f%%), FID %.2f", name, split,
                     100 * metrics.accuracy(pred, labels), 100 * paper, fid)
    if not rows:
        raise ValueError(f"{args.windows}: no window in either split")
    write_csv(args.out, pd.DataFrame(rows))
    log.info("eval-table5 done in %.1f s", time.perf_counter() - started)
