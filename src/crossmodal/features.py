"""The paper's sound representations (Sec. 3.3): STFT, MS, LMS, CQT and MFCC of 0.5 s windows.

librosa is the reference: each function here computes, for a batch of windows at once, what
librosa computes for one window with the same parameters (the tests compare them window by
window). STFT, MS, LMS and MFCC run through torch (one batched FFT and one matrix product with
librosa's own mel filter bank); CQT calls librosa's multichannel ``cqt`` on the batch.

Definitions (librosa 0.11 defaults where the paper is silent; every value is a config key):

- ``stft``: ``|librosa.stft(y, n_fft, hop_length, window="hann", center=True,
  pad_mode="constant")|``, magnitude [1 + n_fft/2, T]; T = 1 + samples // hop_length
  (44 for 22050 samples, hop 512).
- ``ms`` (mel spectrum): ``librosa.feature.melspectrogram(y, sr, n_fft, hop_length, n_mels,
  fmin, fmax, power=2, htk, norm)``, mel power [n_mels, T].
- ``lms`` (log-amplitude mel spectrum): ``librosa.power_to_db(ms, ref, amin, top_db)`` of each
  window on its own (top_db clips at the window's own maximum minus top_db; librosa given a
  whole batch would clip at the batch's maximum instead), dB [n_mels, T].
- ``mfcc``: ``librosa.feature.mfcc(S=lms, n_mfcc, dct_type=2, norm="ortho")``, [n_mfcc, T].
- ``cqt``: ``|librosa.cqt(y, sr, hop_length, fmin, n_bins, bins_per_octave)|``, magnitude
  [n_bins, T].
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import librosa
import numpy as np
import scipy.fft
import torch

#: The representations of Table 1, in the paper's column order.
REPRESENTATIONS: tuple[str, ...] = ("ms", "lms", "cqt", "mfcc", "stft")
#: Their names as the paper prints them.
PAPER_NAMES: dict[str, str] = {"ms": "MS", "lms": "LMS", "cqt": "CQT", "mfcc": "MFCC", "stft": "STFT"}


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of every representation; ``features:`` in config.yaml (schema documents each)."""

    sr: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    ref: float = 1.0
    amin: float = 1e-10
    top_db: float | None = 80.0
    n_mfcc: int = 20
    cqt_fmin: float = 32.703195662574764  # C1, librosa's default
    cqt_n_bins: int = 84
    cqt_bins_per_octave: int = 12

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureParams:
        """From a validated config (``dataset.audio_sr`` and the ``features`` section)."""
        section = dict(config.get("features", {}))
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in section.items() if k in names}
        return cls(sr=int(config["dataset"]["audio_sr"]), **values)


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT: 1 + n_samples // hop_length (44 for 22050 samples, hop 512)."""
    return 1 + n_samples // hop_length


def feature_shape(rep: str, n_samples: int, params: FeatureParams) -> tuple[int, int]:
    """[F, T] of representation ``rep`` for windows of ``n_samples`` samples."""
    rows = {
        "stft": 1 + params.n_fft // 2,
        "ms": params.n_mels,
        "lms": params.n_mels,
        "mfcc": params.n_mfcc,
        "cqt": params.cqt_n_bins,
    }
    if rep not in rows:
        raise ValueError(f"unknown representation {rep!r}; expected one of {REPRESENTATIONS}")
    return rows[rep], n_frames(n_samples, params.hop_length)


@functools.cache
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | None) -> torch.Tensor:
    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm))


@functools.cache
def _dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """Rows of the orthonormal DCT-II (scipy's, as librosa uses), [n_mfcc, n_mels]."""
    return torch.from_numpy(scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32))


def _as_batch(y: np.ndarray | torch.Tensor) -> torch.Tensor:
    y = torch.as_tensor(np.ascontiguousarray(y) if isinstance(y, np.ndarray) else y, dtype=torch.float32)
    if y.ndim != 2:
        raise ValueError(f"expected windows as [N, samples], got shape {tuple(y.shape)}")
    return y


def _complex_stft(y: torch.Tensor, params: FeatureParams) -> torch.Tensor:
    window = torch.hann_window(params.n_fft, periodic=True, dtype=y.dtype, device=y.device)
    return torch.stft(y, params.n_fft, params.hop_length, window=window, center=True, pad_mode="constant", return_complex=True)


def stft_magnitude(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """STFT magnitude, [N, 1 + n_fft/2, T] float32, of windows y [N, samples]."""
    return _complex_stft(_as_batch(y), params).abs()


def mel_spectrum(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """MS: mel power spectrum, [N, n_mels, T] float32 (librosa.feature.melspectrogram)."""
    spec = _complex_stft(_as_batch(y), params)
    power = spec.real.square() + spec.imag.square()
    basis = _mel_basis(params.sr, params.n_fft, params.n_mels, params.fmin, params.fmax, params.htk, params.mel_norm)
    return torch.matmul(basis.to(power.device), power)


def power_to_db(power: torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """librosa.power_to_db of each window [..., F, T] separately (top_db per window), dB."""
    db = 10.0 * torch.log10(torch.clamp(power, min=params.amin))
    db = db - 10.0 * np.log10(max(params.amin, params.ref))
    if params.top_db is not None:
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - params.top_db)
    return db


def log_mel_spectrum(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """LMS: log-amplitude mel spectrum, [N, n_mels, T] dB (the paper's choice, 128 x 44)."""
    return power_to_db(mel_spectrum(y, params), params)


def mfcc(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """MFCC: orthonormal DCT-II of the LMS over mel bands, [N, n_mfcc, T]."""
    lms = log_mel_spectrum(y, params)
    return torch.matmul(_dct_matrix(params.n_mels, params.n_mfcc).to(lms.device), lms)


def _librosa_cqt(y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """|librosa.cqt| of y [..., samples] -> [..., n_bins, T] float32."""
    with warnings.catch_warnings():
        # The lowest octaves are analysed after downsampling by 2**(octaves-1); there a 0.5 s
        # window is shorter than librosa's FFT of the filters, which librosa pads and warns about.
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large for input signal")
        c = librosa.cqt(y, sr=params.sr, hop_length=params.hop_length, fmin=params.cqt_fmin,
                        n_bins=params.cqt_n_bins, bins_per_octave=params.cqt_bins_per_octave)
    return np.abs(c).astype(np.float32)


def cqt_magnitude(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """CQT magnitude, [N, n_bins, T] float32 (librosa.cqt on the whole batch at once)."""
    return torch.from_numpy(_librosa_cqt(_as_batch(y).cpu().numpy(), params))


#: Representation name -> batched function (windows [N, samples] -> [N, F, T]).
COMPUTE: dict[str, Callable[[np.ndarray | torch.Tensor, FeatureParams], torch.Tensor]] = {
    "stft": stft_magnitude,
    "ms": mel_spectrum,
    "lms": log_mel_spectrum,
    "cqt": cqt_magnitude,
    "mfcc": mfcc,
}


def compute(rep: str, y: np.ndarray | torch.Tensor, params: FeatureParams) -> np.ndarray:
    """Representation ``rep`` of windows y [N, samples] as float32 [N, F, T]."""
    if rep not in COMPUTE:
        raise ValueError(f"unknown representation {rep!r}; expected one of {REPRESENTATIONS}")
    with torch.no_grad():
        return COMPUTE[rep](y, params).cpu().numpy().astype(np.float32, copy=False)


def reference(rep: str, y: np.ndarray, params: FeatureParams) -> np.ndarray:
    """librosa on ONE window y [samples] (the definition the batched path must match), [F, T]."""
    mel_kwargs = dict(sr=params.sr, n_fft=params.n_fft, hop_length=params.hop_length, n_mels=params.n_mels,
                      fmin=params.fmin, fmax=params.fmax, htk=params.htk, norm=params.mel_norm)
    if rep == "stft":
        return np.abs(librosa.stft(y, n_fft=params.n_fft, hop_length=params.hop_length, center=True, pad_mode="constant"))
    if rep == "cqt":
        return _librosa_cqt(y, params)
    ms = librosa.feature.melspectrogram(y=y, **mel_kwargs)
    if rep == "ms":
        return ms
    lms = librosa.power_to_db(ms, ref=params.ref, amin=params.amin, top_db=params.top_db)
    if rep == "lms":
        return lms
    if rep == "mfcc":
        return librosa.feature.mfcc(S=lms, n_mfcc=params.n_mfcc, dct_type=2, norm="ortho")
    raise ValueError(f"unknown representation {rep!r}; expected one of {REPRESENTATIONS}")
