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
from tqdm import tqdm

from crossmodal.evaluation import metrics
from crossmodal.evaluation.inputs import (
    add_runtime_arguments,
    device_from,
    load_generator,
    open_encodings,
    read_windows,
)
from crossmodal.evaluation.selection import split_ids
from crossmodal.store import write_csv
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)

#: The paper's Table 5 (accuracy of Gamma on generated images).
PAPER_TABLE5: dict[tuple[str, str], float] = {
    ("S2I-C", "train"): 0.8737, ("S2I-C", "test"): 0.7556,
    ("S2I-A", "train"): 0.1063, ("S2I-A", "test"): 0.1095,
    ("S2I-N", "train"): 0.1262, ("S2I-N", "test"): 0.1232,
}
SPLITS = ("train", "test")
#: Real frames are read and judged this many windows at a time (bounds memory on full URMP).
CHUNK = 4096


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags every S2I evaluation step shares."""
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--judge", required=True, help="the image classifier Gamma (image-encoder's model .pt)")
    parser.add_argument("--max-windows", type=int, default=0,
                        help="judge a seeded random subset of this many windows per split (0: all)")
    add_runtime_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--gan", nargs=3, action="append", required=True, metavar=("NAME", "MODEL", "ENCODINGS"),
                        help="an S2I model to judge: its name (S2I-C), model.pt and the sound encodings it is "
                             "conditioned on (.npy [N, 128]); repeat per model")
    parser.add_argument("--out", required=True, help="output: table5.csv")


def judge_real(judge, windows: pd.DataFrame, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gamma on the real frames of ``ids``: (predictions int [n], encodings [n, 128])."""
    from crossmodal import store

    predictions, codes = [], []
    for start in range(0, len(ids), CHUNK):
        frames = store.load_frames(windows.iloc[ids[start:start + CHUNK]])
        logits, code = judge(frames)
        predictions.append(logits.argmax(1))
        codes.append(code)
    if not predictions:
        return np.zeros(0, np.int64), np.zeros((0, 128), np.float32)
    return np.concatenate(predictions), np.concatenate(codes)


def judge_generated(judge, generator, encodings: np.ndarray, ids: np.ndarray, seed: int, device,
                    batch_size: int, label: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Gamma on images generated from the sounds of ``ids``: (predictions [n], encodings [n, 128])."""
    from crossmodal.evaluation.generate import iter_images

    predictions, codes = [], []
    batches = iter_images(generator, encodings[ids], ids, seed, device, batch_size)
    for images in tqdm(batches, total=-(-len(ids) // batch_size), desc=label, leave=False, disable=None):
        logits, code = judge(images)
        predictions.append(logits.argmax(1))
        codes.append(code)
    if not predictions:
        return np.zeros(0, np.int64), np.zeros((0, 128), np.float32)
    return np.concatenate(predictions), np.concatenate(codes)


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
    return metrics.frechet_distance(real, fake)


def score_rows(method: str, split: str, labels: np.ndarray, predictions: np.ndarray, fid: float,
               paper: float = float("nan")) -> list[dict]:
    """Table rows: one over all instruments, one per instrument present in ``labels``."""
    per_class = metrics.per_class_accuracy(predictions, labels, len(INSTRUMENT_NAMES))
    rows = [{"method": method, "split": split, "instrument": "all", "n": int(labels.size),
             "accuracy": metrics.accuracy(predictions, labels), "fid": fid, "paper_accuracy": paper}]
    for label in np.unique(labels):
        rows.append({"method": method, "split": split, "instrument": INSTRUMENT_NAMES[label],
                     "n": int((labels == label).sum()), "accuracy": float(per_class[label]),
                     "fid": float("nan"), "paper_accuracy": float("nan")})
    return rows


def run(args: argparse.Namespace) -> None:
    from crossmodal.evaluation.judges import ImageJudge

    started = time.perf_counter()
    device = device_from(args)
    windows = read_windows(args.windows)
    judge = ImageJudge(args.judge, device, args.batch_size)
    labels_all = windows["label"].to_numpy().astype(np.int64)
    rows = []
    for split in SPLITS:
        ids = split_ids(windows, split, args.max_windows, args.seed)
        if len(ids) == 0:
            log.warning("no %s windows: Table 5 has no %s rows", split, split)
            continue
        labels = labels_all[ids]
        real_pred, real_codes = judge_real(judge, windows, ids)
        rows += score_rows("real", split, labels, real_pred, float("nan"))
        log.info("Gamma on %d real %s frames: %.2f%%", len(ids), split, 100 * metrics.accuracy(real_pred, labels))
        for name, model_path, encodings_path in args.gan:
            generator, _ = load_generator(model_path, "s2i", device)
            encodings = open_encodings(encodings_path, len(windows))
            pred, codes = judge_generated(judge, generator, encodings, ids, args.seed, device, args.batch_size,
                                          f"{name} {split}")
            fid = fid_or_nan(real_codes, codes)
            rows += score_rows(name, split, labels, pred, fid, PAPER_TABLE5.get((name, split), float("nan")))
            log.info("%s, %s sounds: Gamma accuracy %.2f%% (paper %.2f%%), FID %.2f", name, split,
                     100 * metrics.accuracy(pred, labels), 100 * PAPER_TABLE5.get((name, split), float("nan")), fid)
    if not rows:
        raise ValueError(f"{args.windows}: no window in either split")
    write_csv(args.out, pd.DataFrame(rows))
    log.info("eval-table5 done in %.1f s", time.perf_counter() - started)
