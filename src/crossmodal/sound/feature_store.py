"""Compute one sound representation (STFT, MS, LMS, CQT or MFCC) of every window into its store.

Reads each window's 0.5 s of audio from the per-track arrays named in the windows manifest and
writes ``<rep>.npy``, float32 [N, F, T], row i = window_id i, in batches of --chunk windows.
"""

from __future__ import annotations

import argparse
import logging

import torch
from tqdm import tqdm

from crossmodal.config import none_or, section_defaults
from crossmodal.manifests import read_windows
from crossmodal.sound import features
from crossmodal.store import create_array, load_window_audio

log = logging.getLogger(__name__)

_TYPES = {
    "n_fft": int, "hop_length": int, "n_mels": int, "fmin": float, "fmax": none_or(float),
    "htk": lambda t: t.lower() in {"1", "true", "yes"}, "mel_norm": none_or(str), "ref": float,
    "amin": float, "top_db": none_or(float), "n_mfcc": int, "cqt_fmin": float, "cqt_n_bins": int,
    "cqt_bins_per_octave": int,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = section_defaults("features")
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    parser.add_argument("--rep", required=True, choices=features.REPRESENTATIONS, help="representation")
    parser.add_argument("--out", required=True, help="output store <rep>.npy")
    parser.add_argument("--sr", type=int, default=section_defaults("dataset")["audio_sr"], help="sample rate of the window audio")
    for key, kind in _TYPES.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind, default=defaults[key],
                            help="(default %(default)s)")
    parser.add_argument("--chunk", type=int, default=defaults["chunk_windows"], help="windows per batch")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")


def params_from_args(args: argparse.Namespace) -> features.FeatureParams:
    return features.FeatureParams(sr=args.sr, **{key: getattr(args, key) for key in _TYPES})


def compute_store(windows, rep: str, params: features.FeatureParams, out: str, chunk: int) -> tuple[int, ...]:
    """Fills ``out`` with ``rep`` of every window of ``windows`` (manifest rows in window_id order)."""
    n_samples = int((windows["audio_stop"] - windows["audio_start"]).iloc[0]) if len(windows) else 0
    shape = (len(windows), *features.feature_shape(rep, n_samples, params))
    with create_array(out, shape) as store:
        for start in tqdm(range(0, len(windows), chunk), desc=rep, unit="chunk", mininterval=2.0):
            audio = load_window_audio(windows.iloc[start : start + chunk])
            store[start : start + len(audio)] = features.compute(rep, audio, params)
    return shape


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(max(1, args.threads))
    windows = read_windows(args.windows)
    params = params_from_args(args)
    shape = compute_store(windows, args.rep, params, args.out, args.chunk)
    log.info("wrote %s: %s %s", args.out, args.rep, shape)
