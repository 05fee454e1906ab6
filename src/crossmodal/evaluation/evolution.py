"""Fig. 9: how Gamma's accuracy on generated images evolves over training (Sec. 5.2.3).

Every checkpoint a GAN kept (checkpoints/epoch_XXXX.pt, and model.pt for the last epoch) is
judged on images generated from train-split and from test-split sounds, as Table 5 does. The
paper sees the accuracy rise until about epoch 35 and then collapse, so the checkpoint with the
best test-sound accuracy is reported beside the last one (which Table 5 uses). Selecting on
test sounds is optimistic for that checkpoint's number; it is shown to locate the peak.

Outputs: the history CSV (epoch, train_accuracy, test_accuracy, train_fid, test_fid,
n_train, n_test, weights), Fig. 9 with generated samples at key epochs (the first, best and
last kept ones, plus any asked for), and the best/last CSV (the history's two rows with a
``checkpoint`` column).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from crossmodal.evaluation import figures, metrics
from crossmodal.evaluation.generate import generate_images
from crossmodal.evaluation.inputs import add_s2i_arguments, kept_checkpoints, load_generator, open_encodings
from crossmodal.evaluation.metrics import SPLITS, fid_or_nan
from crossmodal.evaluation.selection import per_instrument, split_ids
from crossmodal.manifests import read_windows
from crossmodal.store import write_csv

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_s2i_arguments(parser)
    parser.add_argument("--name", default="S2I-C", help="the model's name in the figure")
    parser.add_argument("--model", required=True, help="the GAN's model.pt (its checkpoints/ folder is read)")
    parser.add_argument("--encodings", required=True, help="the sound encodings it is conditioned on (.npy [N, 128])")
    parser.add_argument("--sample-epochs", type=int, nargs="*", default=[],
                        help="epochs whose samples Fig. 9 shows besides the first, best and last kept")
    parser.add_argument("--samples", type=int, default=4, help="generated images shown per key epoch")
    parser.add_argument("--history", required=True, help="output: accuracy at every kept checkpoint (CSV)")
    parser.add_argument("--figure", required=True, help="output: fig9_accuracy_evolution.png")
    parser.add_argument("--best", required=True, help="output: the best and the last checkpoint (CSV)")


def key_epochs(history: pd.DataFrame, best_epoch: int, asked: list[int]) -> list[int]:
    """The epochs whose samples are shown: first, best and last kept, and those asked for that
    were kept (an asked epoch without a checkpoint is skipped with a warning)."""
    kept = set(history["epoch"].astype(int))
    missing = sorted(set(asked) - kept)
    if missing:
        log.warning("no kept checkpoint for sample epoch(s) %s; kept: %s", missing, sorted(kept))
    return sorted({int(history["epoch"].min()), int(best_epoch), int(history["epoch"].max()), *(set(asked) & kept)})


def run(args: argparse.Namespace) -> None:
    from crossmodal.evaluation.judges import ImageJudge, judge_generated, judge_real
    from crossmodal.training import device_from

    started = time.perf_counter()
    device = device_from(args)
    windows = read_windows(args.windows)
    judge = ImageJudge(args.judge, device, args.batch_size)
    encodings = open_encodings(args.encodings, len(windows))
    labels_all = windows["label"].to_numpy().astype(np.int64)
    _, extra = load_generator(args.model, "s2i", device)
    checkpoints = kept_checkpoints(args.model, int(extra.get("settings", {}).get("epochs", 0)) or None)
    splits = {}
    for split in SPLITS:
        ids = split_ids(windows, split, args.max_windows, args.seed)
        if len(ids):
            splits[split] = (ids, labels_all[ids], judge_real(judge, windows, ids)[1])
    if not splits:
        raise ValueError(f"{args.windows}: no window in either split")
    rows = []
    for epoch, weights in checkpoints:
        generator, _ = load_generator(args.model, "s2i", device, weights=weights)
        row = {"epoch": epoch}
        for split in SPLITS:
            if split not in splits:
                row.update({f"{split}_accuracy": np.nan, f"{split}_fid": np.nan, f"n_{split}": 0})
                continue
            ids, labels, real_codes = splits[split]
            pred, codes = judge_generated(judge, generator, encodings, ids, args.seed, device, args.batch_size,
                                          f"epoch {epoch} {split}")
            row.update({f"{split}_accuracy": metrics.accuracy(pred, labels),
                        f"{split}_fid": fid_or_nan(real_codes, codes), f"n_{split}": len(ids)})
        row["weights"] = str(weights)
        log.info("%s epoch %d: accuracy train %.2f%%, test %.2f%%", args.name, epoch,
                 100 * row["train_accuracy"], 100 * row["test_accuracy"])
        rows.append(row)
    history = pd.DataFrame(rows)
    metric = "test_accuracy" if history["test_accuracy"].notna().any() else "train_accuracy"
    best = metrics.best_and_last_checkpoint(history, metric)
    best_epoch = int(best.loc[best["checkpoint"] == "best", "epoch"].iloc[0])

    sample_split = "test" if "test" in splits else "train"
    picks = per_instrument(windows, sample_split, 1, args.seed)
    sample_ids = np.array([ids[0] for ids in picks.values()][:args.samples], dtype=np.int64)
    samples = {}
    for epoch in key_epochs(history, best_epoch, args.sample_epochs):
        weights = dict(checkpoints)[epoch]
        generator, _ = load_generator(args.model, "s2i", device, weights=weights)
        samples[epoch] = list(generate_images(generator, encodings[sample_ids], sample_ids, args.seed, device))

    write_csv(args.history, history)
    write_csv(args.best, best)
    figures.plot_accuracy_evolution(history, args.figure, samples=samples,
                                    title=f"{args.name}: Gamma's accuracy on generated images")
    log.info("eval-evolution: %d checkpoints, best epoch %d (%s %.2f%%), last %d, in %.1f s", len(history),
             best_epoch, metric, 100 * float(best[metric].iloc[0]), int(history["epoch"].max()),
             time.perf_counter() - started)
