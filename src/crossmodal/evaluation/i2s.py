"""I2S evaluation (Sec. 5.4): the sound classifier's accuracy on generated LMS, Fig. 11, WAVs.

Every window's image encoding (with noise seeded by the window) becomes an LMS; it counts as
right when the sound classifier (the LMS one that encodes sound for S2I-C, 80% on real test
LMS in the paper) puts it in the instrument of the image. The paper reports 11.17%. Beside it:
the classifier on the real LMS of the same windows, an FID-like Frechet distance between the
classifier's encodings of real and generated LMS, and per-instrument accuracy.

Fig. 11 shows (real image, real LMS, generated LMS) for test windows whose generated LMS the
classifier gets right ("good") and wrong ("bad"). Per instrument, WAV files let a user listen:
``<instrument>_generated.wav`` (Griffin-Lim of generated LMS), ``<instrument>_real_lms.wav``
(Griffin-Lim of the real LMS of the same windows, to hear what the inversion alone does) and
``<instrument>_original.wav`` (the windows' audio), each a few 0.5 s clips with short gaps.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal.config import none_or
from crossmodal.evaluation import figures, metrics
from crossmodal.evaluation.generate import iter_lms
from crossmodal.evaluation.inputs import add_runtime_arguments, load_generator, open_encodings
from crossmodal.evaluation.metrics import SPLITS, fid_or_nan, score_rows
from crossmodal.evaluation.paper import PAPER_I2S_ACCURACY
from crossmodal.evaluation.selection import per_instrument, split_ids
from crossmodal.manifests import read_windows
from crossmodal.sound import inverse
from crossmodal.store import write_csv

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--judge", required=True, help="the sound classifier's model.pt (LMS, the S2I-C encoder)")
    parser.add_argument("--model", required=True, help="the I2S GAN's model.pt")
    parser.add_argument("--encodings", required=True, help="image encodings it is conditioned on (.npy [N, 128])")
    parser.add_argument("--lms", required=True, help="the real LMS store (.npy [N, 128, 44], dB)")
    parser.add_argument("--max-windows", type=int, default=0, help="judge a seeded subset per split (0: all)")
    parser.add_argument("--examples", type=int, default=4, help="Fig. 11 rows: half good, half bad")
    parser.add_argument("--clips", type=int, default=4, help="0.5 s clips per instrument in each WAV")
    parser.add_argument("--griffin-lim-iters", type=int, default=64)
    parser.add_argument("--n-fft", type=int, default=2048, help="the features' STFT size")
    parser.add_argument("--hop-length", type=int, default=512, help="the features' hop")
    parser.add_argument("--fmin", type=float, default=0.0)
    parser.add_argument("--fmax", type=none_or(float), default=None, help="none: sr / 2")
    parser.add_argument("--htk", type=int, choices=[0, 1], default=0, help="HTK mel scale (1/0)")
    parser.add_argument("--mel-norm", default="slaney", help="slaney or none")
    parser.add_argument("--ref", type=float, default=1.0, help="the LMS dB reference power")
    parser.add_argument("--sr", type=int, default=44100)
    add_runtime_arguments(parser)
    parser.add_argument("--accuracy", required=True, help="output: i2s_accuracy.csv")
    parser.add_argument("--fig11", required=True, help="output: fig11_i2s_spectrograms.png")
    parser.add_argument("--audio-dir", required=True, help="output: folder of per-instrument WAV files")


def judge_lms(judge, generator, encodings, lms_store, ids, seed, device, batch_size):
    """(generated-LMS predictions, their encodings, real-LMS predictions, their encodings)."""
    frames = lms_store.shape[2]
    fake_pred, fake_codes, real_pred, real_codes = [], [], [], []
    batches = iter_lms(generator, encodings[ids], ids, seed, frames, device, batch_size)
    for start, fake in zip(range(0, len(ids), batch_size), batches):
        logits, codes = judge(fake)
        fake_pred.append(logits.argmax(1))
        fake_codes.append(codes)
        logits, codes = judge(np.asarray(lms_store[ids[start:start + batch_size]], dtype=np.float32))
        real_pred.append(logits.argmax(1))
        real_codes.append(codes)
    return tuple(np.concatenate(x) for x in (fake_pred, fake_codes, real_pred, real_codes))


def _spread(indices: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> list[int]:
    """``indices`` shuffled, then reordered so one of each instrument comes first."""
    pool = [int(i) for i in rng.permutation(indices)]
    first, seen = [], set()
    for i in pool:
        if labels[i] not in seen:
            first.append(i)
            seen.add(labels[i])
    return first + [i for i in pool if i not in set(first)]


def fig11_examples(ids: np.ndarray, labels: np.ndarray, predictions: np.ndarray, n: int,
                   seed: int) -> list[tuple[str, int]]:
    """Up to ``n`` (kind, window_id) rows for Fig. 11: about half "good" (the generated LMS is
    classified as the image's instrument), half "bad", each kind spread over instruments; one
    kind fills in when the other is short."""
    rng = np.random.default_rng([seed, 11])
    good = _spread(np.flatnonzero(predictions == labels), labels, rng)
    bad = _spread(np.flatnonzero(predictions != labels), labels, rng)
    n_good = min(len(good), max((n + 1) // 2, n - len(bad)))
    n_bad = min(len(bad), n - n_good)
    return [("good", int(ids[i])) for i in good[:n_good]] + [("bad", int(ids[i])) for i in bad[:n_bad]]


def run(args: argparse.Namespace) -> None:
    from crossmodal import store
    from crossmodal.evaluation.generate import generate_lms
    from crossmodal.evaluation.judges import SoundJudge
    from crossmodal.training import device_from
    from crossmodal.urmp import INSTRUMENT_NAMES

    started = time.perf_counter()
    device = device_from(args)
    windows = read_windows(args.windows)
    judge = SoundJudge(args.judge, device, args.batch_size)
    generator, _ = load_generator(args.model, "i2s", device)
    encodings = open_encodings(args.encodings, len(windows))
    lms_store = store.open_array(args.lms, rows=len(windows))
    if lms_store.ndim != 3:
        raise ValueError(f"{args.lms}: expected LMS [N, n_mels, T], found shape {lms_store.shape}")
    labels_all = windows["label"].to_numpy().astype(np.int64)
    rows, test_result = [], None
    for split in SPLITS:
        ids = split_ids(windows, split, args.max_windows, args.seed)
        if len(ids) == 0:
            continue
        labels = labels_all[ids]
        fake_pred, fake_codes, real_pred, real_codes = judge_lms(judge, generator, encodings, lms_store, ids,
                                                                 args.seed, device, args.batch_size)
        tracks = windows["track_id"].to_numpy()[ids]  # CIs resample tracks (evaluation.stats)
        rows += score_rows("real", split, labels, real_pred, float("nan"), groups=tracks, seed=args.seed)
        rows += score_rows("I2S", split, labels, fake_pred, fid_or_nan(real_codes, fake_codes),
                           PAPER_I2S_ACCURACY.get(split, float("nan")), groups=tracks, seed=args.seed)
        log.info("I2S, %s images: sound-classifier accuracy %.2f%% on generated LMS, %.2f%% on real LMS", split,
                 100 * metrics.accuracy(fake_pred, labels), 100 * metrics.accuracy(real_pred, labels))
        if split == "test" or test_result is None:
            test_result = (split, ids, labels, fake_pred)
    if not rows:
        raise ValueError(f"{args.windows}: no window in either split")

    split, ids, labels, predictions = test_result
    examples = fig11_examples(ids, labels, predictions, args.examples, args.seed)
    example_ids = np.array([w for _, w in examples], dtype=np.int64)
    generated = generate_lms(generator, encodings[example_ids], example_ids, args.seed, lms_store.shape[2], device)
    images = store.load_frames(windows.iloc[example_ids])
    triples = [(f"{kind}: {windows.at[w, 'instrument']}", images[i], np.asarray(lms_store[w]), generated[i])
               for i, (kind, w) in enumerate(examples)]

    inversion = {"sr": args.sr, "n_fft": args.n_fft, "hop_length": args.hop_length, "fmin": args.fmin,
                 "fmax": args.fmax, "htk": bool(args.htk), "mel_norm": None if args.mel_norm == "none" else args.mel_norm,
                 "ref": args.ref, "n_iter": args.griffin_lim_iters, "seed": args.seed}
    audio_dir = Path(args.audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    for name, clip_ids in per_instrument(windows, split, args.clips, args.seed).items():
        fake = generate_lms(generator, encodings[clip_ids], clip_ids, args.seed, lms_store.shape[2], device)
        originals = store.load_window_audio(windows.iloc[clip_ids])
        length = originals.shape[1]
        heard = inverse.lms_to_audio_batch(np.concatenate([fake, lms_store[clip_ids]]), length=length, **inversion)
        sounds = {"generated": list(heard[:len(fake)]), "real_lms": list(heard[len(fake):]),
                  "original": list(originals)}
        for kind, clips in sounds.items():
            audio = inverse.normalize_peak(inverse.join_clips(clips, args.sr))
            inverse.write_wav(audio_dir / f"{name}_{kind}.wav", audio, args.sr)
    log.info("wrote WAVs of %s-split windows to %s", split, audio_dir)

    write_csv(args.accuracy, pd.DataFrame(rows))
    figures.plot_spectrogram_triples(triples, args.fig11)
    log.info("eval-i2s done in %.1f s (instruments: %s)", time.perf_counter() - started,
             ", ".join(INSTRUMENT_NAMES[i] for i in np.unique(labels)))
