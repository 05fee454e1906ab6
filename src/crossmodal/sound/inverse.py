"""Generated LMS back to audio, so that a user can listen to what I2S makes (beyond the paper).

The paper evaluates I2S on spectrograms only because the LMS drops the phase and merges
frequency bins (Sec. 5.4). Griffin-Lim still gives an audible estimate: undo the log, map
the mel bands back to a linear magnitude STFT (the filter bank's pseudo-inverse), then
iterate phase estimates from a seeded random phase, a batch of windows at once in torch
(:func:`lms_to_audio_batch`; the I2S WAVs and the accompanied performances use it).

The LMS parameters must be those of the features stage that made the training LMS
(crossmodal.sound.features: LMS = librosa.power_to_db of the mel power spectrum, with its ref, htk
and mel norm); :func:`feature_kwargs` takes them from a ``features.FeatureParams``. The
features' top_db clipping cannot be undone: clipped bins come back at the floor, which is
quiet enough (80 dB below the window's peak) not to matter for listening.
"""

from __future__ import annotations

import functools
import os

import librosa
import numpy as np
import soundfile

from crossmodal.store import atomic_output

#: How the features stage takes the log of the mel spectrogram: "db" = 10 log10(power mel)
#: / 20 log10(amplitude mel) as librosa's power_to_db / amplitude_to_db, "ln" = natural log
#: of (mel + eps).
LOG_SCALES = ("db", "ln")


def undo_log(lms: np.ndarray, scale: str = "db", power: float = 2.0, eps: float = 1e-6,
             ref: float = 1.0) -> np.ndarray:
    """Mel magnitudes (to the ``power`` of the features' mel spectrogram) from an LMS.

    lms: float [n_mels, t]. scale: one of LOG_SCALES. power: 1 for an amplitude mel, 2 for
    a power mel (decides the dB factor: 20 or 10). eps: the offset the "ln" scale added.
    ref: the dB reference (power_to_db's ``ref``, a number).
    """
    lms = np.asarray(lms, dtype=np.float64)
    if scale == "db":
        return ref * np.power(10.0, lms * power / 20.0)  # dB = (20 / power) log10(mel / ref)
    if scale == "ln":
        return np.maximum(np.exp(lms) - eps, 0.0)
    raise ValueError(f"unknown LMS log scale {scale!r}; expected one of {LOG_SCALES}")


def stretch_frames(lms: np.ndarray, n_frames: int) -> np.ndarray:
    """Linear interpolation along time: [n_mels, t] -> [n_mels, n_frames].

    I2S generates 128 x 34 LMS (the real 128 x 44 resized for the generator, Sec. 3.3); they
    are stretched back to 44 frames, i.e. 0.5 s at the features' hop, before inversion.
    """
    lms = np.asarray(lms, dtype=np.float64)
    if lms.ndim != 2 or lms.shape[1] < 1 or n_frames < 1:
        raise ValueError(f"cannot stretch an LMS of shape {lms.shape} to {n_frames} frames")
    if lms.shape[1] == n_frames:
        return lms.copy()
    source = np.linspace(0.0, 1.0, lms.shape[1]) if lms.shape[1] > 1 else np.zeros(1)
    target = np.linspace(0.0, 1.0, n_frames)
    return np.stack([np.interp(target, source, row) for row in lms])


def feature_kwargs(params) -> dict:
    """The keyword arguments of :func:`lms_to_audio_batch` that match a features.FeatureParams."""
    return {"sr": params.sr, "n_fft": params.n_fft, "hop_length": params.hop_length,
            "fmin": params.fmin, "fmax": params.fmax, "htk": params.htk,
            "mel_norm": params.mel_norm, "ref": params.ref}


@functools.cache
def mel_pinv(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool,
             mel_norm: str | None) -> np.ndarray:
    """float32 [1 + n_fft/2, n_mels]: pseudo-inverse of librosa's mel filter bank (the features')."""
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=mel_norm)
    return np.linalg.pinv(basis).astype(np.float32)


def lms_to_audio_batch(lms: np.ndarray, *, sr: int, n_fft: int, hop_length: int, fmin: float = 0.0,
                       fmax: float | None = None, htk: bool = False, mel_norm: str | None = "slaney",
                       ref: float = 1.0, n_iter: int = 32, length: int, seed: int = 0,
                       momentum: float = 0.99) -> np.ndarray:
    """float32 [b, length]: Griffin-Lim audio of LMS windows [b, n_mels, t] (dB of the mel power).

    The dB is undone (:func:`undo_log`), the mel filter bank's pseudo-inverse (clipped at zero)
    gives the linear magnitude, and the fast Griffin-Lim iteration (librosa's, momentum 0.99)
    runs batched in torch from a seeded random phase. Measured on this project's 2-core
    machine: 0.2 s per window, against 1.2 s for librosa.feature.inverse.mel_to_audio (a
    non-negative least-squares solve of the filter bank per window, then librosa.griffinlim).
    """
    import torch

    lms = np.asarray(lms, dtype=np.float32)
    mel = undo_log(lms, scale="db", power=2.0, ref=ref).astype(np.float32)  # mel power [b, n_mels, t]
    pinv = mel_pinv(sr, n_fft, lms.shape[1], fmin, fmax, htk, mel_norm)
    magnitude = torch.from_numpy(np.sqrt(np.maximum(np.einsum("fm,bmt->bft", pinv, mel), 0.0)))
    window = torch.hann_window(n_fft)
    generator = torch.Generator().manual_seed(int(seed))
    phase = torch.polar(torch.ones_like(magnitude), 2 * np.pi * torch.rand(magnitude.shape, generator=generator))
    rebuilt = torch.zeros_like(phase)

    def istft(spectrum):
        return torch.istft(spectrum, n_fft, hop_length, window=window, center=True, length=length)

    for _ in range(n_iter):
        new = torch.stft(istft(magnitude * phase), n_fft, hop_length, window=window, center=True,
                         pad_mode="constant", return_complex=True)
        phase = new - (momentum / (1 + momentum)) * rebuilt
        phase = phase / (phase.abs() + 1e-16)
        rebuilt = new
    return istft(magnitude * phase).numpy().astype(np.float32)


def join_clips(clips: list[np.ndarray], sr: int, gap_s: float = 0.1) -> np.ndarray:
    """One listening file from several 0.5 s clips, with ``gap_s`` of silence between them
    (generated windows are independent, so they are not cross-faded into a fake phrase)."""
    if not clips:
        raise ValueError("no clips to join")
    gap = np.zeros(int(round(gap_s * sr)), dtype=np.float32)
    parts = []
    for i, clip in enumerate(clips):
        if i:
            parts.append(gap)
        parts.append(np.asarray(clip, dtype=np.float32))
    return np.concatenate(parts)


def normalize_peak(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scales audio so its largest absolute sample is ``peak`` (silence stays silence)."""
    audio = np.asarray(audio, dtype=np.float32)
    top = float(np.abs(audio).max()) if audio.size else 0.0
    return audio if top == 0.0 else audio * np.float32(peak / top)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int) -> None:
    """Writes mono float audio as 16-bit PCM WAV, atomically."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"{path}: expected mono audio [samples], got shape {audio.shape}")
    with atomic_output(path) as tmp:
        soundfile.write(tmp, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
