"""Which config keys each sound step depends on, and how they become CLI flags.

Kept free of heavy imports: the Snakefile imports it to build each rule's ``params``, so a
change of, say, ``features.n_mfcc`` reruns the MFCC store (and what reads it) and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Representation -> the ``features:`` keys its store depends on.
FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "stft": ("n_fft", "hop_length"),
    "ms": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm"),
    "lms": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm", "ref", "amin", "top_db"),
    "mfcc": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm", "ref", "amin", "top_db", "n_mfcc"),
    "cqt": ("hop_length", "cqt_fmin", "cqt_n_bins", "cqt_bins_per_octave"),
}

#: ``audio_classifier:`` keys one classifier depends on (the step's flags).
CLASSIFIER_PARAMS: tuple[str, ...] = (
    "epochs", "batch_size", "learning_rate", "channels", "fc_units", "dropout", "dropout_is", "l2",
    "batch_norm", "max_freq_bins", "standardise",
)

#: ``autoencoder:`` keys the autoencoder depends on.
AUTOENCODER_PARAMS: tuple[str, ...] = ("fit", "channels", "epochs_per_stack", "batch_size", "learning_rate", "standardise")


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return " ".join(_value(v) for v in value)
    return str(value)


def cli_flags(section: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``--key-name value`` for each key of ``section`` (lists space-separated, None as none)."""
    return " ".join(f"--{key.replace('_', '-')} {_value(section[key])}" for key in keys)
