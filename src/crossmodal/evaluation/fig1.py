"""Fig. 1: one generated image per instrument for each S2I model, and I2S spectrograms.

One test-split window per instrument (seeded pick) is the input of every row: its sound
conditions S2I-C, S2I-A and S2I-N (same noise for all three), its image conditions I2S. Beyond
the paper, the window's real frame is shown on top so the generations can be compared with
what the sound came with. The INIS side draws Fig. 7 with this step: ground-truth images over
S2I-A's generations, a few per class (--per-class, no I2S).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from crossmodal.evaluation import figures
from crossmodal.evaluation.generate import generate_images, generate_lms
from crossmodal.evaluation.inputs import add_runtime_arguments, load_generator, open_encodings
from crossmodal.evaluation.selection import per_instrument
from crossmodal.manifests import read_windows

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--gan", nargs=3, action="append", default=[], metavar=("NAME", "MODEL", "ENCODINGS"),
                        help="an S2I model, its model.pt and sound encodings; repeat (rows in this order)")
    parser.add_argument("--i2s", nargs=2, metavar=("MODEL", "ENCODINGS"), help="the I2S model and image encodings")
    parser.add_argument("--lms", help="the real LMS store: I2S output is resized to its frames (default 44)")
    parser.add_argument("--split", default="test", choices=["train", "test"], help="split the inputs come from")
    parser.add_argument("--per-class", type=int, default=1, help="windows per instrument (columns each)")
    parser.add_argument("--real-label", default="real frame", help="name of the row of real images")
    parser.add_argument("--title", help="figure title")
    add_runtime_arguments(parser)
    parser.add_argument("--out", required=True, help="output: fig1_generated.png")


def run(args: argparse.Namespace) -> None:
    from crossmodal import store
    from crossmodal.training import device_from

    device = device_from(args)
    windows = read_windows(args.windows)
    picks = per_instrument(windows, args.split, args.per_class, args.seed)
    if not picks:
        raise ValueError(f"{args.windows}: no {args.split} window for Fig. 1")
    columns = [name for name, chosen in picks.items() for _ in chosen]
    ids = np.concatenate(list(picks.values())).astype(np.int64)
    rows = {args.real_label: list(store.load_frames(windows.iloc[ids]))}
    for name, model_path, encodings_path in args.gan:
        generator, _ = load_generator(model_path, "s2i", device)
        encodings = open_encodings(encodings_path, len(windows))
        rows[name] = list(generate_images(generator, encodings[ids], ids, args.seed, device))
    lms_row = None
    if args.i2s:
        generator, _ = load_generator(args.i2s[0], "i2s", device)
        encodings = open_encodings(args.i2s[1], len(windows))
        frames = store.open_array(args.lms).shape[2] if args.lms else 44
        lms_row = list(generate_lms(generator, encodings[ids], ids, args.seed, frames, device))
    figures.plot_generated_grid(rows, columns, args.out, lms_row=lms_row, lms_label="I2S (LMS)", title=args.title)
    log.info("Fig. 1 from %s windows %s", args.split, ids.tolist())
