"""Seconds per GAN step with the networks' conv weights channels-last (NHWC, what
crossmodal.models.gan.build_gan gives) against the default NCHW layout, for S2I and I2S at the
demo's widths.

Each GAN trainer is built once on random in-memory pairs (about the demo's train pairs), one
thread; the two layouts alternate on the same trainer (``module.to(memory_format=...)``),
--repeats rounds of --steps steps each, and the medians are compared. A step is
GANTrainer.step: a D update on real, wrong and fake pairs, then a G update. The layout changes
only the order of float sums inside oneDNN's convolutions, not what is computed.

    .venv/bin/python benchmarks/channels_last.py [--steps 10] [--repeats 6]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from crossmodal.gan.train import GANData, GANSettings, GANTrainer

N_PAIRS = 3600  # about the demo's train pairs


def demo_trainer(kind: str, out: str) -> GANTrainer:
    """A GAN trainer with the demo config's settings for ``kind`` on random pairs."""
    rng = np.random.default_rng(0)
    encodings = rng.standard_normal((N_PAIRS, 128), dtype=np.float32)
    labels = np.arange(N_PAIRS) % 13
    if kind == "s2i":
        data = GANData(encodings, rng.integers(0, 256, (N_PAIRS, 64, 64, 3), dtype=np.uint8), labels)
        learning_rate = 1e-3
    else:
        lms = rng.uniform(-1, 1, (N_PAIRS, 1, 128, 34)).astype(np.float32)
        data = GANData(encodings, lms, labels, lms_range=(-80.0, 0.0))
        learning_rate = 5e-4
    settings = GANSettings(kind=kind, wrong="other_instrument", batch_size=32, z_dim=16, ngf=16, ndf=16,
                           learning_rate_g=learning_rate, learning_rate_d=learning_rate, ema_decay=0.995,
                           balance=0.5, seed=0)
    return GANTrainer(out, data, settings, torch.device("cpu"))


def seconds_per_step(trainer: GANTrainer, steps: int, rng: np.random.Generator) -> float:
    batch, z_dim = trainer.settings.batch_size, trainer.settings.z_dim
    start = time.perf_counter()
    for step in range(steps):
        idx = rng.choice(N_PAIRS, batch, replace=False)
        encoding, real, wrong = trainer.fetch(idx, rng)
        trainer.step(encoding, real, wrong, torch.randn(batch, z_dim), step=step)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per round")
    parser.add_argument("--repeats", type=int, default=6, help="rounds per layout (alternating)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    layouts = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
    rng = np.random.default_rng(1)
    for kind in ("s2i", "i2s"):
        with tempfile.TemporaryDirectory() as out:
            trainer = demo_trainer(kind, out)
            times: dict[str, list[float]] = {name: [] for name in layouts}
            for _ in range(args.repeats):
                for name, layout in layouts.items():
                    trainer.generator.to(memory_format=layout)
                    trainer.discriminator.to(memory_format=layout)
                    seconds_per_step(trainer, 2, rng)  # warm-up: oneDNN primitives for the layout
                    times[name].append(seconds_per_step(trainer, args.steps, rng))
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{kind} {name}: median {medians[name]:.3f} s/step over {len(t)} rounds "
                  f"({', '.join(f'{x:.3f}' for x in t)})")
        print(f"{kind} channels-last / NCHW step time = {medians['channels_last'] / medians['nchw']:.2f}")


if __name__ == "__main__":
    main()
