"""Start-up cost of a training job's optimizer: torch's Adam against the project's
(crossmodal.training.adam, which builds and steps the same Adam without importing torch._dynamo).

Each measurement is a fresh process (the same interpreter, one thread): it imports torch and
crossmodal.training (untimed), then builds Adam over a small convolutional net and takes
--steps steps; timed are that build and those steps, in CPU and wall time, so the figure is the
first-use cost every training job of the workflow pays once. The two alternate, median of
--repeats runs each. The weights do not depend on the choice (tests/test_training.py compares
them bit for bit; the tiny `all` of both gave byte-identical weights, README).

    .venv/bin/python benchmarks/optimizer_start.py [--steps 5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def child(which: str, steps: int) -> None:
    """Times building ``which`` Adam and ``steps`` steps in this process; prints JSON."""
    import resource
    import time

    import torch

    from crossmodal import training

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 30 * 30, 13))
    x, y = torch.randn(32, 1, 32, 32), torch.randint(0, 13, (32,))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
    make = training.adam if which == "project" else torch.optim.Adam
    opt = make(net.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": usage.ru_utime + usage.ru_stime - cpu0, "wall": time.perf_counter() - wall0,
                      "dynamo_loaded": "torch._dynamo" in sys.modules}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["torch", "project"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps)
        return 0
    runs: dict[str, list[dict]] = {"torch": [], "project": []}
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        for which in runs:
            out = subprocess.run([sys.executable, __file__, "--child", which, "--steps", str(args.steps)],
                                 capture_output=True, text=True, check=True).stdout
            runs[which].append(json.loads(out))
    print(f"Adam built + {args.steps} steps in a fresh process, one thread, median of {args.repeats}")
    print(f"{'optimizer':<10} {'CPU s':>7} {'wall s':>7}  torch._dynamo imported")
    median = {}
    for which, rows in runs.items():
        median[which] = {k: statistics.median(r[k] for r in rows) for k in ("cpu", "wall")}
        loaded = sorted({r["dynamo_loaded"] for r in rows})
        print(f"{which:<10} {median[which]['cpu']:7.2f} {median[which]['wall']:7.2f}  {loaded}")
    print(f"project / torch: CPU {median['project']['cpu'] / median['torch']['cpu']:.2f}x, "
          f"wall {median['project']['wall'] / median['torch']['wall']:.2f}x "
          f"({median['torch']['cpu'] - median['project']['cpu']:.2f} s of CPU saved per training job)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
