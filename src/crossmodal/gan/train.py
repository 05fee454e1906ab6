"""Train one cross-modal GAN (Sec. 3.2, 5.1): S2I-C, S2I-N, S2I-A, a pose S2I, or I2S.

The loop is on one page (:class:`GANTrainer`, as pytorch/examples' dcgan), over the objective of
:mod:`crossmodal.gan.objective`. It keeps every training pair in memory (on the GPU when training
there), gathers a batch by indexing, and draws noise and wrong pairs from generators seeded by
(seed, epoch), so a job killed and resumed ends with the same weights as one that ran through.

The model is chosen by its inputs and flags: ``--kind s2i`` generates images from a sound
encoding (``--encodings`` sound_classifier.npy for S2I-C and S2I-N, sound_autoencoder.npy for
S2I-A), ``--kind i2s`` generates LMS from the image encoding (``--encodings``
image_classifier.npy, ``--lms`` the LMS store). ``--wrong`` picks the wrong pairs:
other_instrument (Eq. 5, 7), same_instrument (Eq. 6, pose) or none (S2I-N); ``--instrument``
keeps one instrument's pairs (pose S2I). Only train-split pairs are used.

Writes ``--out`` (both networks and their sizes; load with crossmodal.models.gan.load_gan)
and, in its folder, metrics.csv, checkpoint.pt (resume), checkpoints/epoch_XXXX.pt and
samples/epoch_XXXX.png every --keep-every epochs.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossmodal.config import add_device_arguments
from crossmodal.gan.objective import (
    WRONG_PAIRS,
    WrongPairSampler,
    discriminator_loss,
    generator_loss,
)
from crossmodal.models import S2I_IMAGE_SIZE
from crossmodal.models.gan import (
    AVERAGE_GENERATOR,
    I2S_SHAPE,
    RESIZE_MODES,
    build_gan,
    normalize_lms,
    resize_lms,
)
from crossmodal.models.image import images_to_tensor
from crossmodal.store import atomic_output
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ settings
@dataclass
class GANSettings:
    """Everything a GAN job is configured with (config ``gan:``; the schema says where each
    default comes from). Defaults are the demo's (2-core CPU, ~3,600 train pairs); the paper
    preset for full URMP on a GPU: epochs 100, batch 64, both step sizes 2e-4, ngf 128, ndf 64,
    I2S extra layers 2 and 12, keep_every 5."""

    kind: str = field(default="s2i", metadata={"help": "s2i: sound encoding -> image; i2s: image encoding -> LMS"})
    wrong: str = field(default="other_instrument", metadata={"help": "wrong pairs: Eq. 5/7, Eq. 6, or none (S2I-N)"})
    epochs: int = field(default=8, metadata={"help": "training epochs (paper preset 100)"})
    batch_size: int = field(default=32, metadata={"help": "pairs per batch (GAN-CLS 64)"})
    learning_rate_g: float = field(default=1e-3, metadata={"help": "generator Adam step size (GAN-CLS 2e-4)"})
    learning_rate_d: float = field(default=2e-4, metadata={"help": "discriminator Adam step size (GAN-CLS 2e-4)"})
    beta1: float = field(default=0.5, metadata={"help": "Adam beta1 (GAN-CLS 0.5)"})
    beta2: float = field(default=0.999, metadata={"help": "Adam beta2"})
    z_dim: int = field(default=100, metadata={"help": "noise size (GAN-CLS 100)"})
    condition_dim: int = field(default=64, metadata={"help": "compressed encoding size (paper 64)"})
    ngf: int = field(default=16, metadata={"help": "generator width, the 32x32 map has ngf channels (GAN-CLS 128)"})
    ndf: int = field(default=16, metadata={"help": "discriminator width (GAN-CLS 64)"})
    generator_extra_layers: int = field(default=1, metadata={"help": "I2S: extra 3x3 layers in G (paper 2)"})
    discriminator_extra_layers: int = field(default=1, metadata={"help": "I2S: extra 3x3 layers in D (paper 12)"})
    resize: str = field(default="interpolate", metadata={"help": "I2S: LMS 128x44 <-> 128x34 by interpolation or np.resize"})
    keep_every: int = field(default=1, metadata={"help": "keep a checkpoint and a sample grid every k epochs"})
    sample_columns: int = field(default=8, metadata={"help": "items per instrument in the sample grid"})
    balance: float = field(default=0.0, metadata={"help": "draw each epoch's pairs with probability ~ (pairs of "
                                                         "their instrument)^-balance, with replacement (0: every "
                                                         "pair once, as in the paper; 1: instruments equally often)"})
    ema_decay: float = field(default=0.0, metadata={"help": "decay of a moving average of G's weights that samples and "
                                                             "evaluation use (0: none, G's last weights as in the paper)"})
    amp: bool = field(default=True, metadata={"help": "mixed precision on CUDA (1/0)"})
    seed: int = field(default=0, metadata={"help": "seed of weights, batches, noise and wrong pairs"})

    def __post_init__(self) -> None:
        if self.kind not in ("s2i", "i2s"):
            raise ValueError(f"GAN kind must be s2i or i2s, got {self.kind!r}")
        if self.wrong not in WRONG_PAIRS:
            raise ValueError(f"wrong-pair mode must be one of {WRONG_PAIRS}, got {self.wrong!r}")
        for name in ("epochs", "batch_size", "z_dim", "condition_dim", "ngf", "ndf", "keep_every", "sample_columns"):
            if getattr(self, name) < (0 if name == "epochs" else 1):
                raise ValueError(f"GAN setting {name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.balance <= 1:
            raise ValueError(f"GAN setting balance must be in [0, 1], got {self.balance}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"GAN setting ema_decay must be in [0, 1), got {self.ema_decay}")

    def network_kwargs(self, encoding_dim: int) -> tuple[dict[str, Any], dict[str, Any]]:
        g = {"encoding_dim": encoding_dim, "condition_dim": self.condition_dim, "z_dim": self.z_dim, "ngf": self.ngf}
        d = {"encoding_dim": encoding_dim, "condition_dim": self.condition_dim, "ndf": self.ndf}
        if self.kind == "i2s":
            g.update(extra_layers=self.generator_extra_layers, resize=self.resize)
            d.update(extra_layers=self.discriminator_extra_layers)
        return g, d


@dataclass
class GANData:
    """The training pairs, in memory.

    ``encodings`` float32 [N, 128] (the condition); ``targets`` the data to generate: uint8
    images [N, S, S, 3] (S2I) or float32 LMS [N, 1, 128, 34] in [-1, 1] (I2S); ``labels`` int
    [N] (instrument, for the wrong pairs and the sample grid); ``lms_range`` (low, high) that
    [-1, 1] stands for (I2S).
    """

    encodings: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    lms_range: tuple[float, float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.encodings)
        if len(self.targets) != n or len(self.labels) != n:
            raise ValueError(f"GAN data: {n} encodings, {len(self.targets)} targets, {len(self.labels)} labels")
        if n == 0:
            raise ValueError("GAN data: no training pairs")


# ------------------------------------------------------------------ the loop
def _noise(n: int, z_dim: int, seed: int, epoch: int, batch: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + batch) % 2**63)
    return torch.randn(n, z_dim, generator=gen).to(device, non_blocking=True)


def sample_grid_items(labels: np.ndarray, columns: int) -> np.ndarray:
    """Fixed items for the sample grid, int [rows, columns]: per instrument, evenly spread items.

    Each instrument gets one row, or ``columns // n_instruments`` rows when there are few
    (a pose model's single instrument fills a square grid).
    """
    classes = np.unique(labels)
    rows_each = max(1, columns // len(classes))
    rows = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        picks = members[np.linspace(0, len(members) - 1, rows_each * columns).round().astype(int)]
        rows.extend(picks.reshape(rows_each, columns))
    return np.stack(rows)


def epoch_batches(labels: np.ndarray, batch_size: int, balance: float, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches of pair indices, with ``balance`` > 0: len(labels) pairs drawn with
    replacement, each with probability proportional to (pairs of its instrument)^-balance.

    The demo's instruments have 72 to 972 train pairs; drawn uniformly the rare ones get a few
    updates an epoch and the generator draws them as a frequent one (bassoon 0-3% on test sounds
    against 28-44% at balance 0.5, README). Without balance, see TrainingRun.batches.
    """
    counts = np.bincount(labels)
    weights = counts[labels].astype(np.float64) ** -balance
    order = rng.choice(len(labels), size=len(labels), replace=True, p=weights / weights.sum())
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


class GANTrainer:
    """One GAN job: builds G and D, trains them with :class:`crossmodal.training.TrainingRun`.

    ``out_dir`` receives checkpoint.pt, metrics.csv (loss_d, loss_g and the mean Sr, Sw, Sf of
    each epoch), checkpoints/epoch_XXXX.pt and samples/epoch_XXXX.png every ``keep_every``
    epochs (and after the last).
    """

    def __init__(self, out_dir: str | os.PathLike, data: GANData, settings: GANSettings, device: torch.device,
                 inputs: tuple[str | os.PathLike | None, ...] = (), instrument: str | None = None) -> None:
        from crossmodal.training import TrainingRun, adam, run_fingerprint, seed_everything

        self.out_dir = Path(out_dir)
        self.data = data
        self.settings = s = settings
        seed_everything(s.seed)
        g_kwargs, d_kwargs = s.network_kwargs(data.encodings.shape[1])
        self.generator, self.discriminator = build_gan(s.kind, g_kwargs, d_kwargs)
        self.kwargs = {"generator": g_kwargs, "discriminator": d_kwargs}
        if s.kind == "i2s":
            if data.lms_range is None:
                raise ValueError("I2S data needs lms_range, the LMS values that [-1, 1] stands for")
            self.generator.set_lms_range(*data.lms_range)
        # The moving average of G's weights (and batch-norm statistics) that samples and
        # evaluation use when ema_decay > 0: GAN training hops between modes from one epoch to
        # the next, and the average of the recent weights does not.
        self.average = copy.deepcopy(self.generator).requires_grad_(False) if s.ema_decay else None
        self.sampler = None if s.wrong == "none" else WrongPairSampler(data.labels, s.wrong)
        # A pose model's pairs are one instrument: nothing to balance, every pair once an epoch.
        self.balance = s.balance if len(np.unique(data.labels)) > 1 else 0.0
        optimizers = {
            "generator": adam(self.generator.parameters(), lr=s.learning_rate_g, betas=(s.beta1, s.beta2)),
            "discriminator": adam(self.discriminator.parameters(), lr=s.learning_rate_d, betas=(s.beta1, s.beta2)),
        }
        models = {"generator": self.generator, "discriminator": self.discriminator}
        if self.average is not None:
            models[AVERAGE_GENERATOR] = self.average
        self.run = TrainingRun(
            self.out_dir, models, optimizers,
            total_epochs=s.epochs, seed=s.seed, device=device, amp=s.amp, keep_every=s.keep_every,
            fingerprint=run_fingerprint(asdict(s), inputs, instrument=instrument, n_pairs=len(data.labels)),
        )
        self.device = self.run.device
        # Every pair stays in memory on the training device; a batch is one gather.
        self.encodings = torch.from_numpy(np.ascontiguousarray(data.encodings, dtype=np.float32)).to(self.device)
        self.targets = torch.from_numpy(np.ascontiguousarray(data.targets)).to(self.device)
        self.grid = sample_grid_items(data.labels, s.sample_columns)
        self.grid_noise = _noise(self.grid.size, s.z_dim, s.seed, -1, 0, self.device)

    def target_batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx`` of the targets as the network input: images [B, 3, S, S] or LMS [B, 1, 128, 34]."""
        rows = self.targets[idx]
        return images_to_tensor(rows) if self.settings.kind == "s2i" else rows.float()

    def fetch(self, idx: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A batch from memory: (encodings [B, 128], true data, wrong data or None) on the device."""
        index = torch.from_numpy(idx).to(self.device)
        wrong = None
        if self.sampler is not None:
            wrong = self.target_batch(torch.from_numpy(self.sampler(idx, rng)).to(self.device))
        return self.encodings[index], self.target_batch(index), wrong

    def step(self, encoding: torch.Tensor, real: torch.Tensor, wrong: torch.Tensor | None, z: torch.Tensor,
             step: int = 0) -> torch.Tensor:
        """A D step (Eq. 4) then a G step (Eq. 3) on one batch (the run's ``step``-th, counted
        from 0; it sets the moving average's warm-up).

        Returns, detached on the device (no sync per batch), [loss_d * B, loss_g * B, sum Sr,
        sum Sw, sum Sf]; Sw is 0 without wrong pairs.
        """
        run, G, D = self.run, self.generator, self.discriminator
        with run.autocast():
            fake = G(encoding, z)
            real_logits = D(real, encoding)
            fake_logits = D(fake.detach(), encoding)
            wrong_logits = D(wrong, encoding) if wrong is not None else None
            loss_d = discriminator_loss(real_logits, fake_logits, wrong_logits)
        run.step(loss_d, "discriminator")
        D.requires_grad_(False)  # G's step needs gradients through D, not of D's weights
        try:
            with run.autocast():
                loss_g = generator_loss(D(fake, encoding))
            run.step(loss_g, "generator")
        finally:
            D.requires_grad_(True)
        self.update_average(step)
        n = len(encoding)
        score = lambda logits: torch.sigmoid(logits.detach().float()).sum()
        sw = score(wrong_logits) if wrong_logits is not None else torch.zeros((), device=loss_d.device)
        return torch.stack([loss_d.detach() * n, loss_g.detach() * n, score(real_logits), sw, score(fake_logits)])

    @torch.no_grad()
    def update_average(self, step: int) -> None:
        """Moves the average generator towards G after G's ``step``-th update (no-op without one).

        The decay warms up as (1 + step) / (10 + step), so the first updates are not held back by
        the initial weights (the demo's runs are ~1,000 updates long)."""
        if self.average is None:
            return
        decay = min(self.settings.ema_decay, (1 + step) / (10 + step))
        live = self.generator.state_dict()
        for name, tensor in self.average.state_dict().items():
            if tensor.is_floating_point():
                tensor.lerp_(live[name], 1 - decay)
            else:  # batch norm's counter
                tensor.copy_(live[name])

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the pairs; returns the epoch's mean loss_d, loss_g, Sr, Sw, Sf."""
        s = self.settings
        self.generator.train()
        self.discriminator.train()
        rng = np.random.default_rng([s.seed, epoch, 7])
        sums = torch.zeros(5, device=self.device)
        seen = 0
        n_batches = -(-len(self.data.labels) // s.batch_size)
        if self.balance:
            batches = epoch_batches(self.data.labels, s.batch_size, self.balance, np.random.default_rng([s.seed, epoch, 11]))
        else:
            batches = self.run.batches(len(self.data.labels), s.batch_size, epoch)
        for b, idx in enumerate(batches):
            if len(idx) < 2:  # batch norm needs two items; drop a last batch of one
                continue
            encoding, real, wrong = self.fetch(idx, rng)
            sums += self.step(encoding, real, wrong, _noise(len(idx), s.z_dim, s.seed, epoch, b, self.device),
                              step=epoch * n_batches + b)
            seen += len(idx)
        metrics = dict(zip(("loss_d", "loss_g", "Sr", "Sw", "Sf"), (sums / max(seen, 1)).tolist()))
        if self.sampler is None:
            del metrics["Sw"]
        return metrics

    @property
    def evaluated_generator(self) -> torch.nn.Module:
        """The generator that samples and evaluation use: the average when there is one."""
        return self.generator if self.average is None else self.average

    @torch.no_grad()
    def generate(self, encodings: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The evaluated generator's output for fixed inputs, in eval mode (batch-norm running
        statistics)."""
        generator = self.evaluated_generator
        generator.eval()
        try:
            return generator(encodings.to(self.device), z.to(self.device)).float().cpu()
        finally:
            generator.train()

    def save_samples(self, path: Path) -> None:
        """The fixed-noise grid: a row per instrument, ``sample_columns`` conditions each."""
        flat = torch.from_numpy(self.grid.reshape(-1)).to(self.device)
        out = self.generate(self.encodings[flat], self.grid_noise)
        write_grid(out, self.grid.shape, path, kind=self.settings.kind)

    def train(self) -> None:
        s, run = self.settings, self.run
        for epoch in run.epochs():
            metrics = self.train_epoch(epoch)
            done = epoch + 1
            if done % s.keep_every == 0 or done == s.epochs:
                self.save_samples(self.out_dir / "samples" / f"epoch_{done:04d}.png")
            run.end_epoch(epoch, metrics)

    def save_final(self, path: str | os.PathLike, **extra: Any) -> None:
        """The rule's output: both networks' weights and what :func:`load_gan` needs to rebuild them."""
        self.run.save_final(path, extra={
            "kind": self.settings.kind, "kwargs": self.kwargs, "settings": asdict(self.settings), **self.data.extra, **extra,
        })


def write_grid(output: torch.Tensor, shape: tuple[int, int], path: Path, kind: str) -> None:
    """Saves generator outputs [rows*cols, C, H, W] in [-1, 1] as one PNG grid, atomically.

    Images are shown as RGB; spectrograms with the magma colour map, low frequencies at the bottom.
    """
    from PIL import Image

    rows, cols = shape
    x = ((output.clamp(-1, 1) + 1) / 2).numpy()
    if kind == "i2s":
        from matplotlib import colormaps

        x = colormaps["magma"](x[:, 0, ::-1, :])[..., :3]    # [n, F, T, 3], low bins at the bottom
    else:
        x = x.transpose(0, 2, 3, 1)
    n, h, w, _ = x.shape
    pad = 2
    canvas = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = x[i]
    image = Image.fromarray((canvas * 255).round().astype(np.uint8))
    with atomic_output(path) as tmp:
        image.save(tmp, format="PNG")


# ------------------------------------------------------------------ the step
_CHOICES = {"kind": ("s2i", "i2s"), "wrong": WRONG_PAIRS, "resize": RESIZE_MODES}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--encodings", required=True, help="the condition: float32 [N, 128] .npy, row = window_id")
    parser.add_argument("--lms", help="I2S: the LMS store float32 [N, 128, 44] .npy, row = window_id")
    parser.add_argument("--instrument", choices=INSTRUMENT_NAMES, help="train on this instrument's pairs only (pose S2I)")
    parser.add_argument("--out", required=True, help="output: the trained model (.pt); its folder gets the rest")
    add_device_arguments(parser, amp=False)  # --amp is a GANSettings field
    # One flag per GANSettings field, with its default.
    for f in dataclasses.fields(GANSettings):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, type=int, choices=[0, 1], default=int(f.default), help=f.metadata["help"])
        else:
            kind = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            parser.add_argument(flag, type=kind, default=f.default, choices=_CHOICES.get(f.name), help=f.metadata["help"])


def load_pairs(windows, encodings_path: str, kind: str, lms_path: str | None = None,
               instrument: str | None = None, resize: str = "interpolate") -> GANData:
    """The train-split pairs of ``windows`` (as manifests.read_windows gives it: row = window_id;
    one instrument's pairs with ``instrument``) as GANData."""
    from crossmodal import store
    from crossmodal.training import gather

    keep = (windows["split"] == "train").to_numpy().copy()
    if instrument is not None:
        keep &= (windows["instrument"] == instrument).to_numpy()
    train = windows[keep]
    if len(train) < 2:
        what = f"{instrument} windows" if instrument else "windows"
        raise ValueError(f"only {len(train)} train {what}: a GAN needs at least two pairs")
    ids = train["window_id"].to_numpy()
    encodings = store.open_array(encodings_path, rows=len(windows))
    if encodings.ndim != 2:
        raise ValueError(f"{encodings_path}: expected encodings [N, D], found shape {encodings.shape}")
    condition = gather(encodings, ids, "cpu").numpy()
    labels = train["label"].to_numpy().astype(np.int64)
    extra = {"instrument": instrument, "n_pairs": int(len(train))}
    if kind == "s2i":
        frames = store.load_frames(train)
        if frames.shape[1:3] != (S2I_IMAGE_SIZE, S2I_IMAGE_SIZE):
            raise ValueError(f"S2I generates {S2I_IMAGE_SIZE}x{S2I_IMAGE_SIZE} images; the frames are "
                             f"{frames.shape[1:3]} (set dataset.image_size: {S2I_IMAGE_SIZE})")
        return GANData(condition, frames, labels, extra=extra)
    if lms_path is None:
        raise ValueError("I2S needs --lms, the LMS store")
    lms = store.open_array(lms_path, rows=len(windows))
    if lms.ndim != 3 or lms.shape[1] != I2S_SHAPE[0]:
        raise ValueError(f"{lms_path}: expected LMS [N, {I2S_SHAPE[0]}, T], found shape {lms.shape}")
    target = resize_lms(gather(lms, ids, "cpu").numpy(), I2S_SHAPE[1], resize)
    low, high = float(target.min()), float(target.max())
    if not high > low:
        raise ValueError(f"{lms_path}: the train LMS are constant ({low}); nothing to learn")
    target = normalize_lms(target, low, high).astype(np.float32)[:, None]
    return GANData(condition, target, labels, lms_range=(low, high), extra={**extra, "lms_frames": int(lms.shape[2])})


def run(args: argparse.Namespace) -> None:
    from crossmodal import manifests
    from crossmodal.training import device_from

    started = time.perf_counter()
    device = device_from(args)
    settings = GANSettings(**{f.name: bool(getattr(args, f.name)) if f.type in ("bool", bool) else getattr(args, f.name)
                              for f in dataclasses.fields(GANSettings)})
    windows = manifests.read_windows(args.windows)
    data = load_pairs(windows, args.encodings, settings.kind, args.lms, args.instrument, settings.resize)
    out = Path(args.out)
    log.info("%s: %s GAN, wrong pairs %s, %d train pairs, %d epochs on %s", out.parent.name, settings.kind,
             settings.wrong, len(data.labels), settings.epochs, device)
    trainer = GANTrainer(out.parent, data, settings, device, inputs=(args.windows, args.encodings, args.lms),
                         instrument=args.instrument)
    trainer.train()
    trainer.save_final(out)
    log.info("train-gan %s done in %.1f s", out.parent.name, time.perf_counter() - started)
