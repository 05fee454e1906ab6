"""Train the stacked convolution-deconvolution sound autoencoder of Sec. 5.1 (S2I-A's encoder).

Greedy layer-wise on the train split's LMS windows: stack 1 for --epochs-per-stack epochs,
then stack 2 on stack 1's (frozen) output, and so on; stack 4 flattens its (F-8) x (T-8) input
(120 x 36) to 128 through an FC layer. Each stack minimises the MSE of reconstructing its own
input. Writes --out-dir/model.pt and metrics.csv (checkpoint.pt to resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from crossmodal import training
from crossmodal.config import add_device_arguments, section_defaults
from crossmodal.models.sound import AUTOENCODER_FITS, SoundAutoencoder
from crossmodal.sound.data import LabelledStore, load_labelled, row_statistics

log = logging.getLogger(__name__)


def train_autoencoder(
    store: LabelledStore,
    out_dir: str | Path,
    seed: int,
    fit: str,
    channels: tuple[int, int, int],
    epochs_per_stack: int,
    batch_size: int,
    learning_rate: float,
    standardise: str,
    device: torch.device,
    amp: bool = True,
    inputs: tuple[str | Path, ...] = (),
) -> SoundAutoencoder:
    """Trains (or resumes) the autoencoder in ``out_dir``; writes model.pt there.

    ``inputs`` (the manifest and the feature store) enter the run fingerprint.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    in_shape = tuple(int(s) for s in store.features.shape[1:])
    training.seed_everything(seed)
    model = SoundAutoencoder(in_shape, channels=channels, fit=fit)
    mean, std = row_statistics(store.features, store.train, standardise)
    model.standardise.fit(torch.from_numpy(mean), torch.from_numpy(std))
    n_stacks = SoundAutoencoder.N_STACKS
    optimizers = {f"stack{k + 1}": training.adam(model.stack_parameters(k), lr=learning_rate) for k in range(n_stacks)}
    settings = {"fit": fit, "channels": list(channels), "epochs_per_stack": epochs_per_stack, "batch_size": batch_size,
                "learning_rate": learning_rate, "standardise": standardise}
    # epochs_per_stack decides which stack each epoch trains, so it is part of the fingerprint.
    fingerprint = training.run_fingerprint(settings, inputs, in_shape=in_shape, n_train=len(store.train), amp=amp)
    run = training.TrainingRun(out_dir, {"autoencoder": model}, optimizers, total_epochs=n_stacks * epochs_per_stack,
                               seed=seed, device=device, amp=amp, fingerprint=fingerprint)
    for epoch in run.epochs():
        stack = epoch // epochs_per_stack
        model.train()
        loss_sum, seen = 0.0, 0
        for idx in run.batches(len(store.train), batch_size, epoch):
            x = training.gather(store.features, store.train[idx], run.device)
            with run.autocast():
                with torch.no_grad():
                    h = model.stack_input(stack, model.prepare(x))
                loss = model.stack_loss(stack, h.float())
            run.step(loss, f"stack{stack + 1}")
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
        run.end_epoch(epoch, {"stack": stack + 1, "mse": loss_sum / seen})
    extra = {"kind": "sound_autoencoder", "in_shape": list(in_shape), "settings": json.dumps(settings), "seed": seed,
             "seconds": time.perf_counter() - started}
    run.save_final(out_dir / "model.pt", extra=extra)
    return model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = section_defaults("autoencoder")
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--features", required=True, help="LMS store lms.npy [N, F, T]")
    parser.add_argument("--out-dir", required=True, help="folder for model.pt and metrics.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", choices=AUTOENCODER_FITS, default=d["fit"])
    parser.add_argument("--channels", type=int, nargs=3, default=d["channels"])
    parser.add_argument("--epochs-per-stack", type=int, default=d["epochs_per_stack"])
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=d["learning_rate"])
    parser.add_argument("--standardise", choices=["per_bin", "global", "none"], default=d["standardise"])
    add_device_arguments(parser)


def run(args: argparse.Namespace) -> None:
    device = training.device_from(args)
    store = load_labelled(args.windows, args.features)
    train_autoencoder(store, args.out_dir, args.seed, args.fit, tuple(args.channels), args.epochs_per_stack,
                      args.batch_size, args.learning_rate, args.standardise, device, amp=bool(args.amp),
                      inputs=(args.windows, args.features))
    log.info("wrote %s", Path(args.out_dir) / "model.pt")
