"""Train one audio classifier of Table 1 (a representation, a conv depth, a seed) and test it.

Trains on the train split's windows with their instrument labels (13 classes,
urmp.INSTRUMENT_NAMES, on Sub-URMP; a paired-folders dataset's own classes, see
manifests.class_names), then classifies every window. Writes into --out-dir: ``model.pt``
(weights + how to rebuild the model), ``result.json`` (test and train accuracy, per-class
counts, confusion matrix), ``confusion.csv`` (test split; rows true, columns predicted),
``metrics.csv`` (per epoch) and ``checkpoint.pt`` (resume; not a workflow output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from crossmodal import training
from crossmodal.config import add_device_arguments, none_or, section_defaults
from crossmodal.evaluation.metrics import accuracy, confusion_matrix
from crossmodal.models import ENCODING_DIM
from crossmodal.models.sound import AudioClassifier, build_audio_classifier
from crossmodal.sound.data import LabelledStore, confusion_frame, load_labelled, row_statistics
from crossmodal.sound.features import REPRESENTATIONS
from crossmodal.store import write_csv, write_json
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
    """``audio_classifier:`` settings one model depends on (see the config schema)."""

    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 1e-3
    channels: tuple[int, ...] = (4, 8, 16, 32, 32, 32)
    fc_units: int = 256
    dropout: tuple[float, float] = (0.7, 0.8)
    dropout_is: str = "keep_probability"
    l2: float = 0.015
    batch_norm: bool = True
    max_freq_bins: int | None = 128
    standardise: str = "per_bin"


def build_classifier(in_shape: tuple[int, int], conv_layers: int, settings: ClassifierSettings,
                     n_classes: int = len(INSTRUMENT_NAMES)) -> AudioClassifier:
    return build_audio_classifier(in_shape, conv_layers, dataclasses.asdict(settings), n_classes)


@torch.no_grad()
def predict(model: AudioClassifier, features: np.ndarray, rows: np.ndarray, device: torch.device,
            batch: int = 256, encodings: bool = False, prepared: bool = False) -> np.ndarray:
    """Predicted labels int64 [n] (or 128-d encodings float32 [n, 128]) of ``features[rows]``;
    ``prepared``: ``features`` already went through ``model.prepare`` (:func:`pooled_inputs`)."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch):
        x = training.gather(features, rows[start : start + batch], device)
        h = x if prepared else model.prepare(x)
        z = model.embed(h) if encodings else model.logits_prepared(h).argmax(1)
        out.append(z.float().cpu().numpy() if encodings else z.cpu().numpy())
    if not out:
        return np.zeros((0, ENCODING_DIM), np.float32) if encodings else np.zeros(0, np.int64)
    return np.concatenate(out)


@torch.no_grad()
def pooled_inputs(model: AudioClassifier, features: np.ndarray, device: torch.device,
                  chunk: int = 256) -> np.ndarray | None:
    """``model.prepare`` of every window, float32 [N, 1, F / pool, T] in memory, computed once,
    when the model pools frequency (the STFT's 1025 bins to 128); None when it does not.

    ``prepare`` has no trainable parameters, so training and testing on these rows give the
    same numbers bit for bit as preparing every batch, without standardising and pooling the
    whole store again each epoch (13 s of a 60 s demo STFT job) or rereading an 8x larger
    memory-mapped store (full URMP: ~15 GB for the STFT, ~1.8 GB pooled). Computed on
    ``device``, as the batches would be, ``chunk`` windows at a time.
    """
    if model.freq_pool == 1:
        return None
    n_rows, n_frames = model.in_shape
    out = np.empty((len(features), 1, n_rows // model.freq_pool, n_frames), dtype=np.float32)
    for start in range(0, len(features), chunk):
        x = training.gather(features, np.arange(start, min(start + chunk, len(features))), device)
        out[start : start + len(x)] = model.prepare(x).cpu().numpy()
    return out


def train_classifier(
    store: LabelledStore,
    rep: str,
    conv_layers: int,
    seed: int,
    settings: ClassifierSettings,
    out_dir: str | Path,
    device: torch.device,
    amp: bool = True,
    inputs: tuple[str | Path, ...] = (),
) -> tuple[AudioClassifier, dict[str, Any]]:
    """Trains (or resumes) one classifier in ``out_dir``; returns it and its result record.

    ``inputs`` (the manifest and the feature store) enter the run fingerprint: a checkpoint
    written before one of them changed is not resumed.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    in_shape = tuple(int(s) for s in store.features.shape[1:])
    training.seed_everything(seed)
    model = build_classifier(in_shape, conv_layers, settings, len(store.classes))
    mean, std = row_statistics(store.features, store.train, settings.standardise)
    model.standardise.fit(torch.from_numpy(mean), torch.from_numpy(std))
    optimizer = training.adam(model.parameters(), lr=settings.learning_rate)
    fingerprint = training.run_fingerprint(dataclasses.asdict(settings), inputs, rep=rep, conv_layers=conv_layers,
                                           in_shape=in_shape, n_train=len(store.train), n_test=len(store.test), amp=amp)
    run = training.TrainingRun(out_dir, {"classifier": model}, {"classifier": optimizer},
                               total_epochs=settings.epochs, seed=seed, device=device, amp=amp,
                               fingerprint=fingerprint)
    labels = store.labels
    pooled = pooled_inputs(model, store.features, run.device)
    prepared = pooled is not None
    inputs = pooled if prepared else store.features
    forward = model.logits_prepared if prepared else model
    for epoch in run.epochs():
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for idx in run.batches(len(store.train), settings.batch_size, epoch):
            rows = store.train[idx]
            x = training.gather(inputs, rows, run.device)
            y = training.gather(labels, rows, run.device)
            with run.autocast():
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), y) + settings.l2 * model.l2_penalty()
            run.step(loss, "classifier")
            loss_sum += loss.item() * len(rows)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(rows)
        test_acc = accuracy(predict(model, inputs, store.test, run.device, prepared=prepared), labels[store.test])
        run.end_epoch(epoch, {"loss": loss_sum / seen, "train_accuracy_dropout": correct / seen, "test_accuracy": test_acc})

    test_pred = predict(model, inputs, store.test, run.device, prepared=prepared)
    train_pred = predict(model, inputs, store.train, run.device, prepared=prepared)
    matrix = confusion_matrix(test_pred, labels[store.test], len(store.classes))
    per_class = {
        name: {"test_windows": int(matrix[i].sum()), "correct": int(matrix[i, i]),
               "accuracy": float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else None}
        for i, name in enumerate(store.classes)
    }
    result = {
        "representation": rep,
        "conv_layers": conv_layers,
        "seed": seed,
        "test_accuracy": accuracy(test_pred, labels[store.test]),
        "train_accuracy": accuracy(train_pred, labels[store.train]),
        "n_train": int(len(store.train)),
        "n_test": int(len(store.test)),
        "epochs": settings.epochs,
        "in_shape": list(in_shape),
        "per_class": per_class,
        "confusion": matrix.tolist(),
        # [right, windows] per test track: Table 1's intervals resample tracks (evaluation.stats).
        "test_tracks": _track_tallies(test_pred == labels[store.test], store.windows["track_id"].to_numpy()[store.test]),
        "instruments": list(store.classes),
        "settings": dataclasses.asdict(settings),
        "seconds": time.perf_counter() - started,
    }
    extra = {"kind": "audio_classifier", "representation": rep, "conv_layers": conv_layers, "in_shape": list(in_shape),
             "settings": json.dumps(dataclasses.asdict(settings)), "test_accuracy": result["test_accuracy"],
             "train_accuracy": result["train_accuracy"], "seed": seed, "class_names": list(store.classes)}
    run.save_final(out_dir / "model.pt", extra=extra)
    return model, result


def _track_tallies(hit: np.ndarray, tracks: np.ndarray) -> dict[str, list[int]]:
    """{track: [right, windows]} of the test windows (bool ``hit`` [n], ``tracks`` [n])."""
    return {str(t): [int(hit[tracks == t].sum()), int((tracks == t).sum())] for t in np.unique(tracks)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = section_defaults("audio_classifier")
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--features", required=True, help="representation store <rep>.npy [N, F, T]")
    parser.add_argument("--rep", required=True, choices=REPRESENTATIONS, help="its representation (for the record)")
    parser.add_argument("--conv-layers", type=int, required=True, help="conv layers (Table 1: 3 or 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", required=True, help="folder for model.pt, result.json, confusion.csv, metrics.csv")
    parser.add_argument("--epochs", type=int, default=d["epochs"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"])
    parser.add_argument("--channels", type=int, nargs="+", default=d["channels"])
    parser.add_argument("--fc-units", type=int, default=d["fc_units"])
    parser.add_argument("--dropout", type=float, nargs=2, default=d["dropout"])
    parser.add_argument("--dropout-is", choices=["keep_probability", "drop_rate"], default=d["dropout_is"])
    parser.add_argument("--l2", type=float, default=d["l2"])
    parser.add_argument("--batch-norm", type=int, choices=[0, 1], default=int(d["batch_norm"]))
    parser.add_argument("--max-freq-bins", type=none_or(int), default=d["max_freq_bins"], help="none keeps every bin")
    parser.add_argument("--standardise", choices=["per_bin", "global", "none"], default=d["standardise"])
    add_device_arguments(parser)


def settings_from_args(args: argparse.Namespace) -> ClassifierSettings:
    return ClassifierSettings(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        channels=tuple(args.channels), fc_units=args.fc_units, dropout=tuple(args.dropout),
        dropout_is=args.dropout_is, l2=args.l2, batch_norm=bool(args.batch_norm),
        max_freq_bins=args.max_freq_bins, standardise=args.standardise,
    )


def run(args: argparse.Namespace) -> None:
    device = training.device_from(args)
    store = load_labelled(args.windows, args.features)
    out_dir = Path(args.out_dir)
    _, result = train_classifier(store, args.rep, args.conv_layers, args.seed, settings_from_args(args),
                                 out_dir, device, amp=bool(args.amp), inputs=(args.windows, args.features))
    write_csv(out_dir / "confusion.csv", confusion_frame(np.array(result["confusion"]), store.classes), index=True)
    write_json(out_dir / "result.json", result)
    log.info("%s, %d conv layers, seed %d: test accuracy %.2f%% (%d windows), %.1f s",
             args.rep, args.conv_layers, args.seed, 100 * result["test_accuracy"], result["n_test"], result["seconds"])
