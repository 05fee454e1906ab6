"""CPU time of demo-sized work under glibc's default malloc, under fixed thresholds alone, and
under the settings every workflow job runs with (crossmodal.config.MALLOC_TUNABLES).

By default glibc hands a freed block above its moving mmap threshold back to the kernel, and
a training's next batch faults those pages in again. Fixed thresholds keep blocks up to 32 MiB
(the most glibc accepts); MALLOC_TUNABLES also keeps larger ones (``mmap_max=0``). Each
measurement is a fresh process (the same interpreter), one thread, running either
``--work s2i``: ``--steps`` GAN steps (GANTrainer.step: a D update on real, wrong and fake
pairs, then a G update) at the demo's widths on random in-memory pairs, or ``--work gamma``:
the demo's image classifier (the judge Gamma) over ``--steps`` batches of 256 random images,
as Table 5 runs it. The settings alternate, median of --repeats runs each. Results do not
depend on the setting (the clean `all` runs gave byte-identical models and tables, README).

    .venv/bin/python benchmarks/malloc.py [--work s2i|gamma] [--steps 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from crossmodal.config import MALLOC_TUNABLES


#: MALLOC_TUNABLES without the setting that keeps blocks above 32 MiB (the previous commit's).
THRESHOLDS_ONLY = MALLOC_TUNABLES.replace(":glibc.malloc.mmap_max=0", "")
assert THRESHOLDS_ONLY != MALLOC_TUNABLES, "MALLOC_TUNABLES no longer sets mmap_max=0"


def child(work: str, steps: int) -> None:
    """Runs the work in this process; prints its CPU s, minor page faults and wall s as JSON."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as out:
        run = gamma_batches(steps, rng) if work == "gamma" else s2i_steps(steps, rng, out)
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        run()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
                      "system_s": after.ru_stime - before.ru_stime,
                      "faults": after.ru_minflt - before.ru_minflt, "wall_s": wall}))


def gamma_batches(steps: int, rng):
    """The work: ``steps`` batches of 256 images through the demo's Gamma, as evaluation.judges
    runs it."""
    import numpy as np

    from crossmodal.models.image import ImageClassifier, predict

    model = ImageClassifier(channels=(16, 16, 32, 32, 64, 64), pool="max").eval()
    images = rng.integers(0, 256, (256 * steps, 64, 64, 3), dtype=np.uint8)
    return lambda: predict(model, images, batch_size=256)


def s2i_steps(steps: int, rng, out: str):
    """The work: ``steps`` S2I-C training steps at the demo's widths on random pairs."""
    import numpy as np
    import torch

    from crossmodal.gan.train import GANData, GANSettings, GANTrainer

    n = 3600  # about the demo's train pairs
    data = GANData(encodings=rng.standard_normal((n, 128), dtype=np.float32),
                   targets=rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
                   labels=np.arange(n) % 13)
    settings = GANSettings(kind="s2i", wrong="other_instrument", batch_size=32, z_dim=16, ngf=16, ndf=16,
                           learning_rate_g=1e-3, learning_rate_d=1e-3, ema_decay=0.995, seed=0)
    trainer = GANTrainer(out, data, settings, torch.device("cpu"))

    def run() -> None:
        for step in range(steps):
            idx = rng.choice(n, settings.batch_size, replace=False)
            encoding, real, wrong = trainer.fetch(idx, rng)
            trainer.step(encoding, real, wrong, torch.randn(len(idx), settings.z_dim), step=step)

    return run


def measure(work: str, steps: int, tunables: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    done = subprocess.run([sys.executable, __file__, "--child", "--work", work, "--steps", str(steps)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", choices=["s2i", "gamma"], default="s2i")
    parser.add_argument("--steps", type=int, default=60, help="GAN steps, or Gamma batches of 256 images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.work, args.steps)
        return 0
    settings = {"glibc default": None, "thresholds only": THRESHOLDS_ONLY, "MALLOC_TUNABLES": MALLOC_TUNABLES}
    runs: dict[str, list[dict]] = {name: [] for name in settings}
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        for name, tunables in settings.items():
            runs[name].append(measure(args.work, args.steps, tunables))
    what = ("S2I-C steps (batch 32, ngf 16, ndf 16" if args.work == "s2i"
            else "Gamma batches (256 images, the demo's widths")
    print(f"\n{args.steps} {what}, one thread), median of {args.repeats} runs each")
    print(f"{'malloc':<16} {'CPU s':>7} {'system s':>9} {'page faults':>12} {'wall s':>7}   CPU s of each run")
    median = {}
    for name, results in runs.items():
        median[name] = {key: statistics.median(r[key] for r in results) for key in results[0]}
        m = median[name]
        print(f"{name:<16} {m['cpu_s']:7.2f} {m['system_s']:9.2f} {m['faults']:12,.0f} {m['wall_s']:7.2f}   "
              + " ".join(f"{r['cpu_s']:.2f}" for r in results))
    default, tuned = median["glibc default"], median["MALLOC_TUNABLES"]
    for name in ("glibc default", "thresholds only"):
        base = median[name]
        print(f"CPU time with MALLOC_TUNABLES / {name} = {tuned['cpu_s'] / base['cpu_s']:.2f}; "
              f"page faults {tuned['faults'] / max(base['faults'], 1):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
