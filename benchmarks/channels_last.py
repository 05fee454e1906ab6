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

import numpy as np
import torch
from train_step import measure, random_gan_data

from crossmodal.gan.train import GANSettings, GANTrainer

N_PAIRS = 3600  # about the demo's train pairs


def demo_trainer(kind: str, out: str) -> GANTrainer:
    """A GAN trainer with the demo config's settings for ``kind`` on random pairs."""
    learning_rate = 1e-3 if kind == "s2i" else 5e-4
    settings = GANSettings(kind=kind, wrong="other_instrument", batch_size=32, z_dim=16, ngf=16, ndf=16,
                           learning_rate_g=learning_rate, learning_rate_d=learning_rate, ema_decay=0.995,
                           balance=0.5, seed=0)
    return GANTrainer(out, random_gan_data(kind, N_PAIRS), settings, torch.device("cpu"))


def seconds_per_step(trainer: GANTrainer, steps: int, rng: np.random.Generator) -> float:
    """Mean seconds of ``steps`` steps (batch fetch included), after two untimed ones that build
    oneDNN's primitives for the current layout."""
    batch, z_dim = trainer.settings.batch_size, trainer.settings.z_dim

    def batches():
        while True:
            yield trainer.fetch(rng.choice(N_PAIRS, batch, replace=False), rng)

    timed = measure(batches(), lambda b: trainer.step(*b, torch.randn(batch, z_dim)), trainer.device, steps, warmup=2)
    return timed["step_ms"] / 1000


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
                    times[name].append(seconds_per_step(trainer, args.steps, rng))
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            print(f"{kind} {name}: median {medians[name]:.3f} s/step over {len(t)} rounds "
                  f"({', '.join(f'{x:.3f}' for x in t)})")
        print(f"{kind} channels-last / NCHW step time = {medians['channels_last'] / medians['nchw']:.2f}")


if __name__ == "__main__":
    main()
