"""Pitch, beyond the paper: what every window plays (windows), judges that read a pitch from an
image or an LMS (judges, nets), and how well generated outputs keep the pitch of their input
(agreement: results/pitch_agreement.csv). The paper calls pose generation "hard to quantify";
these numbers quantify it."""

import numpy as np

#: Voiced windows (at least this share of F0 frames voiced) are the ones pitch is judged on.
MIN_VOICED_FRACTION = 0.5


def hz_to_semitones(f0_hz: np.ndarray) -> np.ndarray:
    """MIDI note numbers (A4 = 440 Hz = 69), float; NaN where f0 is NaN or <= 0."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f0 > 0, 69.0 + 12.0 * np.log2(f0 / 440.0), np.nan)


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(semitones: float) -> str:
    """'A4' for 69.0 (nearest note); '-' for NaN."""
    if not np.isfinite(semitones):
        return "-"
    midi = int(round(float(semitones)))
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"
