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
import torch.nn.functional as F

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
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | None) -> np.ndarray:
    """librosa's mel filter bank, float32 [n_mels, 1 + n_fft/2]."""
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)


#: Mel filters per block of the banded product (see :func:`_mel_blocks`).
MEL_BLOCK = 16


@functools.cache
def _mel_blocks(params: FeatureParams) -> tuple[tuple[int, int, int, torch.Tensor], ...]:
    """The mel filter bank cut into blocks of MEL_BLOCK filters and the FFT bins they cover.

    Each filter is non-zero on a few bins only, so the product with the power spectrum is done
    block by block over those bins (about 7x fewer multiplications than the dense product; the
    weights and so the values are librosa's). Each block is (first filter, first bin, end bin,
    weights [2 * bins, filters]), its rows doubled to take the squared real and imaginary parts
    of the spectrum interleaved, which sums them into the power inside the product.
    """
    basis = _mel_basis(params.sr, params.n_fft, params.n_mels, params.fmin, params.fmax, params.htk, params.mel_norm)
    blocks = []
    for first in range(0, params.n_mels, MEL_BLOCK):
        block = basis[first : first + MEL_BLOCK]
        bins = np.flatnonzero(block.any(axis=0))
        lo, hi = (int(bins[0]), int(bins[-1]) + 1) if len(bins) else (0, 0)
        weights = torch.from_numpy(np.repeat(block[:, lo:hi].T, 2, axis=0).astype(np.float32))
        blocks.append((first, lo, hi, weights))
    return tuple(blocks)


@functools.cache
def _dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """Rows of the orthonormal DCT-II (scipy's, as librosa uses), [n_mfcc, n_mels]."""
    return torch.from_numpy(scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32))


def _as_batch(y: np.ndarray | torch.Tensor) -> torch.Tensor:
    y = torch.as_tensor(np.ascontiguousarray(y) if isinstance(y, np.ndarray) else y, dtype=torch.float32)
    if y.ndim != 2:
        raise ValueError(f"expected windows as [N, samples], got shape {tuple(y.shape)}")
    return y


@functools.cache
def _hann(n_fft: int) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)  # scipy's "hann", as librosa's


def _spectrum(y: torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """Complex STFT, frames first: [N, T, 1 + n_fft/2] (librosa.stft, centre, zero padding)."""
    window = _hann(params.n_fft).to(y.device)
    pad = params.n_fft // 2
    frames = F.pad(y, (pad, pad)).unfold(-1, params.n_fft, params.hop_length)
    return torch.fft.rfft(frames * window, dim=-1)


def stft_magnitude(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """STFT magnitude, [N, 1 + n_fft/2, T] float32, of windows y [N, samples]."""
    return _spectrum(_as_batch(y), params).abs().transpose(1, 2)


def mel_spectrum(y: np.ndarray | torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """MS: mel power spectrum, [N, n_mels, T] float32 (librosa.feature.melspectrogram)."""
    spec = _spectrum(_as_batch(y), params)
    squares = torch.view_as_real(spec).flatten(-2).square_()  # [N, T, 2F]: re^2, im^2 interleaved
    parts = [
        torch.matmul(squares[..., 2 * lo : 2 * hi], weights.to(squares.device)) if hi > lo
        else squares.new_zeros(*squares.shape[:-1], weights.shape[1])
        for _, lo, hi, weights in _mel_blocks(params)
    ]
    return torch.cat(parts, dim=-1).transpose(1, 2)


def power_to_db(power: torch.Tensor, params: FeatureParams) -> torch.Tensor:
    """librosa.power_to_db of each window [..., F, T] separately (top_db per window), dB."""
    db = torch.clamp(power, min=params.amin).log10_().mul_(10.0)
    db.sub_(10.0 * np.log10(max(params.amin, params.ref)))
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


#: Windows transformed at once inside :func:`compute`: small enough for one block's frames
#: and spectrum (about 0.7 MB per window) to stay in cache, which is 3x faster than 256.
BLOCK_WINDOWS = 16


def compute(rep: str, y: np.ndarray | torch.Tensor, params: FeatureParams) -> np.ndarray:
    """Representation ``rep`` of windows y [N, samples] as float32 [N, F, T]."""
    if rep not in COMPUTE:
        raise ValueError(f"unknown representation {rep!r}; expected one of {REPRESENTATIONS}")
    y = _as_batch(y)
    out = np.empty((len(y), *feature_shape(rep, y.shape[1], params)), dtype=np.float32)
    block = len(y) if rep == "cqt" else BLOCK_WINDOWS  # librosa's CQT is batched on its own
    with torch.no_grad():
        for start in range(0, len(y), max(block, 1)):
            out[start : start + block] = COMPUTE[rep](y[start : start + block], params).cpu().numpy()
    return out


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
