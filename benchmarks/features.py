"""Speed of the project's batched LMS against a plain loop calling librosa once per window.

Both compute the LMS (STFT 2048/512, 128 mel bands, power_to_db with top_db per window) of the
same N windows of 0.5 s at 44.1 kHz in the same run: the project's path is
``crossmodal.sound.features.compute("lms", ...)`` in chunks of --chunk windows (the feature rule's
path); the baseline is ``librosa.power_to_db(librosa.feature.melspectrogram(y=w, ...))`` for
each window ``w``. Each is timed --repeats times, alternating (median wall and CPU time), after one
untimed warm-up window, both with --threads threads (torch's, and the BLAS librosa calls).
The goal is at least 10x, with equal values (max |difference| under 0.01 dB).

A ratio to librosa's per-call overhead says little about how close the project is to what the
hardware allows, so the same run also times the arithmetic floor on one core: the windows
already framed and windowed (not timed), then only the real FFT of every frame, the power, and a
dense product with the mel filter bank (torch, one thread), with the FLOP count of both.

The windows are synthetic notes (harmonic tones with noise) by default, or the first N windows
of a windows manifest with --windows (run from the workflow's folder: its paths are relative).

    .venv/bin/python benchmarks/features.py [--n 1000] [--chunk 256] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import librosa
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from crossmodal import manifests
from crossmodal.sound import features
from crossmodal.store import load_window_audio

SR = 44100
WINDOW = 22050


def synthetic_windows(n: int, seed: int = 0) -> np.ndarray:
    """float32 [n, 22050]: a random harmonic note with noise per window."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / SR
    out = np.empty((n, WINDOW), dtype=np.float32)
    for i in range(n):
        f0 = 55.0 * 2 ** (rng.integers(0, 48) / 12)
        decay = rng.uniform(0.3, 3.0)
        wave = sum(k ** -decay * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in range(1, 16) if k * f0 < SR / 2)
        out[i] = 0.2 * wave / np.abs(wave).max() + 0.005 * rng.normal(size=WINDOW)
    return out


def project_path(windows: np.ndarray, params: features.FeatureParams, chunk: int) -> np.ndarray:
    out = np.empty((len(windows), params.n_mels, features.n_frames(windows.shape[1], params.hop_length)), np.float32)
    for start in range(0, len(windows), chunk):
        out[start : start + chunk] = features.compute("lms", windows[start : start + chunk], params)
    return out


def librosa_loop(windows: np.ndarray, params: features.FeatureParams) -> np.ndarray:
    return np.stack([
        librosa.power_to_db(
            librosa.feature.melspectrogram(y=w, sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels),
            ref=params.ref, amin=params.amin, top_db=params.top_db,
        )
        for w in windows
    ])


def floor_inputs(windows: np.ndarray, params: features.FeatureParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames [N * T, n_fft] (centred, zero-padded, Hann-windowed) and the mel basis [n_mels, 1 + n_fft/2]."""
    pad = params.n_fft // 2
    x = torch.from_numpy(np.pad(windows, ((0, 0), (pad, pad))))
    frames = x.unfold(1, params.n_fft, params.hop_length) * torch.hann_window(params.n_fft, periodic=True)
    basis = torch.from_numpy(librosa.filters.mel(sr=params.sr, n_fft=params.n_fft, n_mels=params.n_mels).astype(np.float32))
    return frames.reshape(-1, params.n_fft).contiguous(), basis


def floor_fft(frames: torch.Tensor) -> torch.Tensor:
    """|rfft|^2 of every frame: the part no LMS computation can skip."""
    spectrum = torch.fft.rfft(frames)
    return spectrum.real.square() + spectrum.imag.square()


def floor_flops(n_frames_total: int, params: features.FeatureParams, basis: torch.Tensor) -> float:
    """FLOPs of the floor: ~2.5 n log2 n per real FFT of n points, 3 per power bin, 2 per nonzero of the mel basis."""
    bins = 1 + params.n_fft // 2
    return n_frames_total * (2.5 * params.n_fft * np.log2(params.n_fft) + 3 * bins + 2 * int((basis != 0).sum()))


def timed_alternating(fns, repeats: int):
    """Runs each function ``repeats`` times, alternating, so load from other processes hits
    both alike; returns (median wall s, median CPU s of this process, last result) per function.
    CPU time is the steadier figure on a shared machine (both paths run on --threads threads)."""
    wall = [[] for _ in fns]
    cpu = [[] for _ in fns]
    results = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start, start_cpu = time.perf_counter(), time.process_time()
            results[i] = fn()
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return [(statistics.median(w), statistics.median(c), r) for w, c, r in zip(wall, cpu, results, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="windows")
    parser.add_argument("--chunk", type=int, default=256, help="windows per batch of the project's path")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the feature rule's threads)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--windows", help="take the first --n windows of this manifest instead of synthetic ones")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.windows:
        windows = load_window_audio(manifests.read(args.windows, "windows").iloc[: args.n])
    else:
        windows = synthetic_windows(args.n)
    params = features.FeatureParams()
    project_path(windows[:1], params, 1)  # warm-up: imports, mel basis, FFT plans
    librosa_loop(windows[:1], params)
    with threadpool_limits(limits=args.threads):  # librosa's BLAS gets the same threads as torch
        (t_project, cpu_project, lms), (t_loop, cpu_loop, reference) = timed_alternating(
            [lambda: project_path(windows, params, args.chunk), lambda: librosa_loop(windows, params)], args.repeats)
    diff = float(np.abs(lms - reference).max())
    n = len(windows)
    frames, basis = floor_inputs(windows, params)
    power = floor_fft(frames)
    density = float((basis != 0).float().mean())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ((_, cpu_fft, _), (_, cpu_mel, _)) = timed_alternating(
            [lambda: floor_fft(frames), lambda: power @ basis.T], args.repeats)
    finally:
        torch.set_num_threads(threads)
    # The mel product's floor counts only the filter bank's nonzeros (a banded product needs no more).
    cpu_floor = cpu_fft + density * cpu_mel
    flops = floor_flops(len(frames), params, basis)
    print(f"LMS of {n} windows ({lms.shape[1]} x {lms.shape[2]}), {args.threads} thread(s), "
          f"median of {args.repeats} alternating runs (wall, CPU):")
    print(f"  project (batched, chunk {args.chunk}): {t_project:.3f} s, {cpu_project:.3f} s CPU  ({1e3 * t_project / n:.2f} ms/window)")
    print(f"  librosa loop, one call per window:    {t_loop:.3f} s, {cpu_loop:.3f} s CPU  ({1e3 * t_loop / n:.2f} ms/window)")
    print(f"  arithmetic floor on 1 core (CPU time; windows pre-framed): rfft + power {1e3 * cpu_fft / n:.3f} ms/window, "
          f"mel product at the filter bank's {100 * density:.1f}% nonzeros {1e3 * density * cpu_mel / n:.3f} ms/window; "
          f"floor {1e3 * cpu_floor / n:.3f} ms/window ({flops / n / 1e6:.2f} MFLOP/window); "
          f"project {1e3 * cpu_project / n:.3f} ms/window CPU = {cpu_project / cpu_floor:.1f}x the floor")
    print(f"  speed-up {t_loop / t_project:.1f}x wall, {cpu_loop / cpu_project:.1f}x CPU (goal >= 10x); "
          f"max |difference| {diff:.2e} dB (tolerance 1e-2)")
    if diff > 1e-2:
        raise SystemExit("values differ beyond tolerance")


if __name__ == "__main__":
    main()
