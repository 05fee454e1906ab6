"""Fig. 10: pose-oriented S2I generation for a sequence of one player's sounds (Sec. 5.3).

For each pose model (one per instrument, trained with wrong pairs of the same instrument,
Eq. 6), a sequence of windows of one test-split player (``--length`` windows ``--step``
windows apart) is shown as its real frames and, below, the images generated from those
sounds. The noise is the same for the whole row, so what changes along it comes from the
sound alone. An instrument without test windows falls back to its train windows (said in the
row label).
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from crossmodal.evaluation import figures
from crossmodal.evaluation.generate import images_to_uint8, window_noise
from crossmodal.evaluation.inputs import add_runtime_arguments, load_generator, open_encodings
from crossmodal.evaluation.selection import sequence
from crossmodal.manifests import read_windows

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--encodings", required=True, help="the sound encodings the pose models are conditioned on")
    parser.add_argument("--gan", nargs=2, action="append", required=True, metavar=("INSTRUMENT", "MODEL"),
                        help="a pose S2I model and its instrument; repeat per instrument (rows in this order)")
    parser.add_argument("--length", type=int, default=8, help="sounds per sequence")
    parser.add_argument("--step", type=int, default=5, help="windows between two shown sounds (5 = 0.5 s)")
    parser.add_argument("--pitch", help="pitch.parquet: with --pitch-judge, each generated image is captioned "
                                        "with its sound's pitch and the image pitch judge's reading")
    parser.add_argument("--pitch-judge", help="the image pitch judge (crossmodal pitch-judge) of the pose instruments")
    add_runtime_arguments(parser)
    parser.add_argument("--out", required=True, help="output: fig10_pose.png")


@torch.no_grad()
def generate_with_one_noise(generator, encodings: np.ndarray, seed: int, noise_id: int, device) -> np.ndarray:
    """uint8 [n, S, S, 3] from encodings [n, 128], all with the noise of window ``noise_id``."""
    z = torch.from_numpy(np.repeat(window_noise(np.array([noise_id]), generator.z_dim, seed), len(encodings), 0))
    code = torch.as_tensor(np.ascontiguousarray(encodings), dtype=torch.float32)
    return images_to_uint8(generator(code.to(device), z.to(device)))


def run(args: argparse.Namespace) -> None:
    from crossmodal import store
    from crossmodal.training import device_from

    device = device_from(args)
    windows = read_windows(args.windows)
    encodings = open_encodings(args.encodings, len(windows))
    pitch, judge = None, None
    if args.pitch and args.pitch_judge:
        from crossmodal.pitch import hz_to_semitones
        from crossmodal.pitch.judges import PitchJudge
        from crossmodal.pitch.windows import read_pitch

        judge = PitchJudge(args.pitch_judge, device, args.batch_size)
        pitch = hz_to_semitones(read_pitch(args.pitch, len(windows))[judge.column].to_numpy())  # what it learnt
    rows = []
    for instrument, model_path in args.gan:
        split = "test"
        ids = sequence(windows, instrument, split, args.length, args.step)
        if len(ids) == 0:
            split = "train"
            ids = sequence(windows, instrument, split, args.length, args.step)
            log.warning("%s has no test windows; Fig. 10 shows train-split sounds", instrument)
        if len(ids) == 0:
            raise ValueError(f"{args.windows}: no window of {instrument} for Fig. 10")
        generator, _ = load_generator(model_path, "s2i", device)
        generated = generate_with_one_noise(generator, encodings[ids], args.seed, int(ids[0]), device)
        real = store.load_frames(windows.iloc[ids])
        track = windows.at[int(ids[0]), "track_id"]
        label = f"{instrument.replace('_', ' ')}\n{track}" + ("" if split == "test" else "\n(train sounds)")
        captions = None
        if judge is not None and instrument in judge.instruments:
            from crossmodal.pitch import note_name

            readings = judge(generated, instrument)
            captions = [f"sound {note_name(pitch[w])}\njudge {note_name(r)}" for w, r in zip(ids, readings)]
        rows.append((label, list(real), list(generated), captions))
        log.info("%s: %d sounds of %s (%s split)", instrument, len(ids), track, split)
    figures.plot_pose(rows, args.out)
