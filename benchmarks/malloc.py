"""CPU time of demo-sized S2I-C training steps under glibc's default malloc against the
thresholds every workflow job runs with (crossmodal.config.MALLOC_TUNABLES).

By default glibc hands a freed block above its moving mmap threshold back to the kernel, and
a training's next batch faults those pages in again. Each measurement is a fresh process (the
same interpreter) running ``--steps`` GAN steps (GANTrainer.step: a D update on real, wrong and
fake pairs, then a G update) at the demo's widths on random in-memory pairs, one thread; the
two settings alternate, median of --repeats runs each. The weights do not depend on the
setting (the clean `all` runs of both gave byte-identical models, README).

    .venv/bin/python benchmarks/malloc.py [--steps 60] [--repeats 3]
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


def child(steps: int) -> None:
    """Runs the steps in this process; prints its CPU s, minor page faults and wall s as JSON."""
    import numpy as np
    import torch

    from crossmodal.gan.train import GANData, GANSettings, GANTrainer

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n = 3600  # about the demo's train pairs
    data = GANData(encodings=rng.standard_normal((n, 128), dtype=np.float32),
                   targets=rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8),
                   labels=np.arange(n) % 13)
    settings = GANSettings(kind="s2i", wrong="other_instrument", batch_size=32, z_dim=16, ngf=16, ndf=16,
                           learning_rate_g=1e-3, learning_rate_d=1e-3, ema_decay=0.995, seed=0)
    with tempfile.TemporaryDirectory() as out:
        trainer = GANTrainer(out, data, settings, torch.device("cpu"))
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for step in range(steps):
            idx = rng.choice(n, settings.batch_size, replace=False)
            encoding, real, wrong = trainer.fetch(idx, rng)
            trainer.step(encoding, real, wrong, torch.randn(len(idx), settings.z_dim), step=step)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
                      "system_s": after.ru_stime - before.ru_stime,
                      "faults": after.ru_minflt - before.ru_minflt, "wall_s": wall}))


def measure(steps: int, tunables: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    done = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.steps)
        return 0
    settings = {"glibc default": None, "MALLOC_TUNABLES": MALLOC_TUNABLES}
    runs: dict[str, list[dict]] = {name: [] for name in settings}
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        for name, tunables in settings.items():
            runs[name].append(measure(args.steps, tunables))
    print(f"\n{args.steps} S2I-C steps (batch 32, ngf 16, ndf 16, one thread), median of {args.repeats} runs each")
    print(f"{'malloc':<16} {'CPU s':>7} {'system s':>9} {'page faults':>12} {'wall s':>7}   CPU s of each run")
    median = {}
    for name, results in runs.items():
        median[name] = {key: statistics.median(r[key] for r in results) for key in results[0]}
        m = median[name]
        print(f"{name:<16} {m['cpu_s']:7.2f} {m['system_s']:9.2f} {m['faults']:12,.0f} {m['wall_s']:7.2f}   "
              + " ".join(f"{r['cpu_s']:.2f}" for r in results))
    default, tuned = median["glibc default"], median["MALLOC_TUNABLES"]
    print(f"CPU time with MALLOC_TUNABLES / glibc default = {tuned['cpu_s'] / default['cpu_s']:.2f}; "
          f"page faults {tuned['faults'] / default['faults']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
