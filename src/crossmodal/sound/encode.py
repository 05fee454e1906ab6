"""Encode every window's sound as the 128-d vector a GAN is conditioned on (S2I-C or S2I-A).

--kind classifier: the audio classifier's 128-unit FC layer (its model.pt from Table 1's LMS
4-layer job); --kind autoencoder: the stacked autoencoder's FC output. Writes --out, float32
[N, 128], row i = window_id i, and --summary, a JSON record of the model and how well it does
on each split (classifier: accuracy; autoencoder: reconstruction MSE of the standardised input
on up to 1024 windows per split).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from crossmodal import training
from crossmodal.config import add_device_arguments
from crossmodal.evaluation.metrics import accuracy
from crossmodal.models import ENCODING_DIM
from crossmodal.models.sound import load_audio_classifier, load_sound_autoencoder
from crossmodal.sound.classifier import predict
from crossmodal.sound.data import load_labelled
from crossmodal.store import save_array, write_json

log = logging.getLogger(__name__)


@torch.no_grad()
def encode_all(model: torch.nn.Module, features: np.ndarray, device: torch.device, batch: int = 256) -> np.ndarray:
    """``model.encode`` of every row of ``features`` [N, F, T] -> float32 [N, 128]."""
    model.eval()
    out = np.empty((len(features), ENCODING_DIM), dtype=np.float32)
    for start in range(0, len(features), batch):
        x = torch.from_numpy(np.array(features[start : start + batch], dtype=np.float32)).to(device)
        out[start : start + len(x)] = model.encode(x).float().cpu().numpy()
    return out


#: Windows per split the autoencoder's reconstruction error is measured on (evenly spaced).
MSE_WINDOWS = 1024


@torch.no_grad()
def reconstruction_mse(model, features: np.ndarray, rows: np.ndarray, device: torch.device, batch: int = 256) -> float:
    """Mean squared error of the full autoencoder (every stack encoded, then decoded) on at most
    MSE_WINDOWS evenly spaced windows of ``rows``, in standardised units."""
    if len(rows) > MSE_WINDOWS:
        rows = rows[np.linspace(0, len(rows) - 1, MSE_WINDOWS).round().astype(int)]
    total, count = 0.0, 0
    for start in range(0, len(rows), batch):
        x = training.gather(features, rows[start : start + batch], device)
        target = model.prepare(x)
        total += float(F.mse_loss(model(x), target, reduction="sum"))
        count += target.numel()
    return total / count if count else float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=["classifier", "autoencoder"], help="which sound encoder")
    parser.add_argument("--model", required=True, help="its model.pt")
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--features", required=True, help="the store the model reads (lms.npy)")
    parser.add_argument("--out", required=True, help="encodings .npy, float32 [N, 128]")
    parser.add_argument("--summary", required=True, help="JSON record of the model and its accuracy / error")
    add_device_arguments(parser, amp=False)


def run(args: argparse.Namespace) -> None:
    device = training.device_from(args)
    store = load_labelled(args.windows, args.features)
    if args.kind == "classifier":
        model, extra = load_audio_classifier(args.model, device)
    else:
        model, extra = load_sound_autoencoder(args.model, device)
    if tuple(extra["in_shape"]) != tuple(store.features.shape[1:]):
        raise ValueError(f"{args.model}: trained on {tuple(extra['in_shape'])} inputs, {args.features} holds "
                         f"{tuple(store.features.shape[1:])}; rerun its training")
    encodings = encode_all(model, store.features, device)
    summary = {"kind": args.kind, "model": str(args.model), "features": str(args.features),
               "windows": len(encodings), "dim": ENCODING_DIM,
               **{k: v for k, v in extra.items() if k not in {"kind", "settings"}}}
    if args.kind == "classifier":
        for split, rows in (("train", store.train), ("test", store.test)):
            summary[f"{split}_accuracy"] = accuracy(predict(model, store.features, rows, device), store.labels[rows])
        log.info("sound classifier: test accuracy %.2f%% (paper 80%%)", 100 * summary["test_accuracy"])
    else:
        for split, rows in (("train", store.train), ("test", store.test)):
            summary[f"{split}_mse"] = reconstruction_mse(model, store.features, rows, device)
        log.info("sound autoencoder: reconstruction MSE train %.4f, test %.4f", summary["train_mse"], summary["test_mse"])
    save_array(args.out, encodings)
    write_json(Path(args.summary), summary)
    log.info("wrote %s %s", args.out, encodings.shape)
