"""results/pitch_agreement.csv: do generated outputs keep the pitch of their input?

For voiced test-split windows, a pitch judge (crossmodal.pitch.judges) reads the pitch of what
a model generated from the window's input, and Spearman's rank correlation with the window's
true pitch says how well the output follows it:

* every pose-oriented S2I model, and S2I-C, on the images generated from an instrument's sounds,
  read by the image judge on that instrument's scale (S2I-C per instrument the judge reads), and
  compared with the pitch the judge learnt: by default the F0 at the window's image (the first
  frame, whose pose the generator is trained to draw; ``frame_f0_hz``);
* I2S on the LMS generated from each window's image, read by the sound judge, against the
  window's median F0 (``f0_hz``: an LMS covers the whole window), per instrument and over all
  ("all" also rewards getting the instrument's register right, not only the pitch).

Beside it, per row: ``real_spearman``, the same judge on the real outputs (real frames, real
LMS: the ceiling, and the check that the judge works); ``shuffled_spearman``, the generated
outputs against a seeded shuffle of the true pitches (the floor a generator that ignores its
input reaches); ``spearman_ci_low/high``, a 95% bootstrap interval over tracks. Noise is seeded
per window as in every evaluation (crossmodal.evaluation.generate).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

from crossmodal.evaluation import stats
from crossmodal.pitch import MIN_VOICED_FRACTION, hz_to_semitones

log = logging.getLogger(__name__)

COLUMNS = ("model", "instrument", "n", "tracks", "spearman", "spearman_ci_low", "spearman_ci_high",
           "real_spearman", "shuffled_spearman")


def agreement_row(model: str, instrument: str, judged: np.ndarray, true: np.ndarray, real_judged: np.ndarray,
                  groups: np.ndarray, seed: int = 0, n_boot: int = stats.N_BOOT) -> dict:
    """One row of the table from per-window arrays [n]: the judge's reading of the generated
    outputs, the true pitch, the judge's reading of the real outputs, the track of each window."""
    judged, true, real_judged = (np.asarray(a, dtype=np.float64) for a in (judged, true, real_judged))
    if not (judged.shape == true.shape == real_judged.shape == np.shape(groups)):
        raise ValueError(f"{model} {instrument}: arrays of unequal length "
                         f"({judged.size}, {true.size}, {real_judged.size}, {np.size(groups)})")
    shuffled = true[np.random.default_rng([seed, 97]).permutation(true.size)]
    low, high = stats.bootstrap_ci(stats.spearman, groups, judged, true, n_boot=n_boot, seed=seed)
    return {"model": model, "instrument": instrument, "n": int(true.size), "tracks": int(len(set(groups))),
            "spearman": stats.spearman(judged, true), "spearman_ci_low": low, "spearman_ci_high": high,
            "real_spearman": stats.spearman(real_judged, true), "shuffled_spearman": stats.spearman(judged, shuffled)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from crossmodal.evaluation.inputs import add_runtime_arguments

    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--pitch", required=True, help="pitch.parquet")
    parser.add_argument("--sound-encodings", required=True, help="sound encodings S2I-C and the pose models take")
    parser.add_argument("--image-judge", help="the image pitch judge's model.pt (needed with --pose, --s2i-c)")
    parser.add_argument("--pose", nargs=2, action="append", default=[], metavar=("INSTRUMENT", "MODEL"),
                        help="a pose S2I model and its instrument; repeat")
    parser.add_argument("--s2i-c", help="S2I-C's model.pt (judged per instrument that has an image judge)")
    parser.add_argument("--i2s", help="I2S's model.pt")
    parser.add_argument("--image-encodings", help="image encodings I2S takes")
    parser.add_argument("--sound-judge", help="the sound pitch judge's model.pt (for I2S)")
    parser.add_argument("--lms", help="the real LMS store (for I2S's real_spearman and the LMS length)")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--min-voiced", type=float, default=MIN_VOICED_FRACTION)
    parser.add_argument("--n-boot", type=int, default=stats.N_BOOT, help="bootstrap draws per interval")
    add_runtime_arguments(parser)
    parser.add_argument("--out", required=True, help="output: pitch_agreement.csv")


def _judged_images(judge, instrument, generator, encodings, ids, seed, device, batch_size) -> np.ndarray:
    from crossmodal.evaluation.generate import iter_images

    out = [judge(images, instrument) for images in iter_images(generator, encodings[ids], ids, seed, device, batch_size)]
    return np.concatenate(out) if out else np.zeros(0)


def run(args: argparse.Namespace) -> None:
    from crossmodal import store
    from crossmodal.evaluation.generate import iter_lms
    from crossmodal.evaluation.inputs import load_generator, open_encodings
    from crossmodal.manifests import read_windows
    from crossmodal.pitch.judges import PitchJudge
    from crossmodal.pitch.windows import read_pitch, voiced_ids
    from crossmodal.training import device_from

    started = time.perf_counter()
    device = device_from(args)
    windows = read_windows(args.windows)
    pitch = read_pitch(args.pitch, len(windows))
    tracks = windows["track_id"].to_numpy()
    image_judge = PitchJudge(args.image_judge, device, args.batch_size) if args.image_judge else None
    sound_codes = open_encodings(args.sound_encodings, len(windows))
    rows = []

    def image_rows(model_name: str, instrument: str, model_path: str) -> None:
        if image_judge is None or instrument not in image_judge.instruments:
            raise ValueError(f"no --image-judge that reads {instrument}, needed to judge {model_name}")
        ids = voiced_ids(windows, pitch, args.split, instrument, args.min_voiced, image_judge.column)
        if len(ids) < 3:
            log.warning("%s: %d voiced %s windows of %s; no pitch agreement", model_name, len(ids), args.split, instrument)
            rows.append({"model": model_name, "instrument": instrument, "n": int(len(ids))})
            return
        generator, _ = load_generator(model_path, "s2i", device)
        judged = _judged_images(image_judge, instrument, generator, sound_codes, ids, args.seed, device, args.batch_size)
        real = image_judge(store.load_frames(windows.iloc[ids]), instrument)
        true = hz_to_semitones(pitch[image_judge.column].to_numpy()[ids])
        rows.append(agreement_row(model_name, instrument, judged, true, real, tracks[ids], args.seed, args.n_boot))

    for instrument, model_path in args.pose:
        image_rows("pose S2I", instrument, model_path)
    if args.s2i_c:
        for instrument in image_judge.instruments if image_judge else []:
            image_rows("S2I-C", instrument, args.s2i_c)
    if args.i2s:
        if not (args.image_encodings and args.sound_judge and args.lms):
            raise ValueError("judging I2S needs --image-encodings, --sound-judge and --lms")
        judge = PitchJudge(args.sound_judge, device, args.batch_size)
        lms = store.open_array(args.lms, rows=len(windows))
        generator, _ = load_generator(args.i2s, "i2s", device)
        ids = voiced_ids(windows, pitch, args.split, None, args.min_voiced, judge.column)
        semitones = hz_to_semitones(pitch[judge.column].to_numpy())
        codes = open_encodings(args.image_encodings, len(windows))
        judged = np.concatenate([judge(x) for x in iter_lms(generator, codes[ids], ids, args.seed, lms.shape[2],
                                                           device, args.batch_size)] or [np.zeros(0)])
        real = np.concatenate([judge(np.asarray(lms[ids[s:s + args.batch_size]], dtype=np.float32))
                               for s in range(0, len(ids), args.batch_size)] or [np.zeros(0)])
        names = windows["instrument"].to_numpy()[ids]
        for instrument in ["all", *sorted(set(names))]:
            mask = np.ones(len(ids), bool) if instrument == "all" else names == instrument
            if mask.sum() >= 3:
                rows.append(agreement_row("I2S", instrument, judged[mask], semitones[ids][mask], real[mask],
                                          tracks[ids][mask], args.seed, args.n_boot))
    if not rows:
        raise ValueError("nothing to judge: give --pose, --s2i-c or --i2s")
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    store.write_csv(args.out, table)
    log.info("pitch agreement (%.1f s):\n%s", time.perf_counter() - started, table.to_string(index=False))
