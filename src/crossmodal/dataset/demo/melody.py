"""What each demo player plays: seeded melodies in the instrument's range, or piece 32's real notes.

A part's notes are an array ``[shape=(n_notes, 3)]`` of (onset s, pitch Hz, duration s), the
columns of URMP's ``Notes_*.txt``. Seeded melodies depend on (seed, piece name, part,
instrument) and never on the piece number, so instrumentation variants of a piece (24_Pirates and
25_Pirates) get the same notes for a part they share: the demo's version of URMP's reused takes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Playable range of each instrument as sounding MIDI keys (low, high), from standard
#: orchestration tables (e.g. Adler, The Study of Orchestration):
#:   violin G3-A7, viola C3-E6, cello C2-A5, double bass E1-G4, flute C4-C7, oboe Bb3-A6,
#:   clarinet (Bb) D3-Bb6, alto sax Db3-Ab5, bassoon Bb1-E5, trumpet (Bb) E3-Bb5,
#:   horn (F) B1-F5, tenor trombone E2-F5, tuba D1-F4.
#: Pose positions are normalised within this range (see :func:`pitch_position`).
PLAYABLE_RANGE: dict[str, tuple[int, int]] = {
    "violin": (55, 105),
    "viola": (48, 88),
    "cello": (36, 81),
    "double_bass": (28, 67),
    "flute": (60, 96),
    "oboe": (58, 93),
    "clarinet": (50, 94),
    "sax": (49, 80),
    "bassoon": (34, 76),
    "trumpet": (52, 82),
    "horn": (35, 77),
    "trombone": (40, 77),
    "tuba": (26, 65),
}

#: The lower, comfortable part of each range that demo melodies use (sounding MIDI keys).
#: The trombone stays below the trumpet's melody range, as URMP's 15_Surprise trombone does.
MELODY_RANGE: dict[str, tuple[int, int]] = {
    "violin": (55, 88),
    "viola": (48, 79),
    "cello": (36, 67),
    "double_bass": (28, 55),
    "flute": (62, 91),
    "oboe": (60, 84),
    "clarinet": (52, 82),
    "sax": (51, 75),
    "bassoon": (36, 64),
    "trumpet": (58, 79),
    "horn": (43, 70),
    "trombone": (40, 62),
    "tuba": (29, 53),
}

#: Keys inside MELODY_RANGE that the shipped SoundFont (TimGM6mb) renders as silence: its alto
#: sax has no sample for E4. Melodies skip them (a test renders every key of every range).
SILENT_KEYS: dict[str, frozenset[int]] = {"sax": frozenset({64})}

#: Cue window (s): each seeded part is silent from 0 until its first note, drawn in this range.
CUE_RANGE_S = (0.3, 1.5)
#: The cue is at most this share of a part (see :func:`cue_range`).
CUE_MAX_SHARE = 0.1
#: A shifted excerpt of piece 32 is silent until its first note, this far (s) from its start.
FIRST_NOTE_S = 0.5
#: Last moment (s before the end) at which a note may start; later notes are dropped.
END_MARGIN_S = 0.15
#: A note cut shorter than this by the end of the part is dropped (a click, not a note).
MIN_NOTE_S = 0.05

MAJOR_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])

#: How a seeded melody picks its pitches (config ``demo.pitches``): ``spread`` draws every note
#: from the whole melody range; ``leaps`` steps one or two scale degrees from the previous note
#: and, with probability LEAP_PROBABILITY, leaps to any key of the range; ``walk`` (the earlier
#: demo's melodies, now without SILENT_KEYS and notes under MIN_NOTE_S) steps up to three
#: degrees from a start in the middle of the range.
PITCH_MODES = ("spread", "leaps", "walk")
DEFAULT_PITCH_MODE = "spread"
LEAP_PROBABILITY = 0.3


def seeded_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded by ``seed`` and ``keys`` through sha256 (stable across runs and hosts)."""
    text = "\x1f".join([str(seed), *map(str, keys)])
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz: np.ndarray | float) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


def pitch_position(pitch_hz: float, instrument: str) -> float:
    """Pitch normalised within ``instrument``'s playable range: 0 at the lowest key, 1 at the top."""
    low, high = PLAYABLE_RANGE[instrument]
    return float(np.clip((hz_to_midi(pitch_hz) - low) / (high - low), 0.0, 1.0))


def cue_range(duration_s: float) -> tuple[float, float]:
    """Where (s) a seeded part's first note may start: CUE_RANGE_S, shrunk for short parts.

    URMP's pieces last 1-4 minutes, so a lead-in of a second or so is a few of their windows; cut
    to a few seconds, the same lead-in made every sixth demo window digital silence (17% at 4 s),
    which no encoder can tell apart and no generator can turn into the right instrument. The cue
    is capped at CUE_MAX_SHARE of the part (0.2-0.4 s at 4 s; unchanged from 15 s up).
    """
    high = min(CUE_RANGE_S[1], CUE_MAX_SHARE * duration_s)
    return min(CUE_RANGE_S[0], high / 2), high


def seeded_melody(seed: int, name: str, part: int, instrument: str, duration_s: float,
                  pitches: str = DEFAULT_PITCH_MODE) -> np.ndarray:
    """A melody for one player: silent lead-in (:func:`cue_range`), then notes and rests on a major scale.

    Tempo and key come from (seed, name) so a piece's parts share them; the cue, rhythm and
    pitches from (seed, name, part, instrument). Pitches are in ``MELODY_RANGE[instrument]``,
    detuned by up to 8 cents (URMP's pitches are measured means, not quantised).

    ``pitches`` (:data:`PITCH_MODES`): a few seconds of demo stand for a URMP part of minutes,
    whose notes cover the instrument's range. A ``walk`` over 3-7 notes stays in one register, so
    an instrument with a single take per split (bassoon, double bass) was heard in disjoint
    registers in train and test (seed 0: double bass MIDI 29-33 against 42-47) and no encoder
    trained on the first recognised the second. ``spread`` (default) fixes that but makes every note a
    leap, so a 0.5 s window's first frame (the image) often shows another note than the
    window's median pitch. ``leaps`` keeps melodic steps and leaps now and then; measured on the
    whole workflow (README), ``spread`` is the default.

    Returns ``np.ndarray [shape=(n_notes, 3)]``: onset (s), pitch (Hz), duration (s); notes end
    before ``duration_s``.
    """
    if pitches not in PITCH_MODES:
        raise ValueError(f"pitch mode must be one of {PITCH_MODES}, got {pitches!r}")
    piece_rng = seeded_rng(seed, name)
    beat_s = 60.0 / piece_rng.uniform(84.0, 132.0)
    tonic = int(piece_rng.integers(0, 12))

    rng = seeded_rng(seed, name, part, instrument)
    low, high = MELODY_RANGE[instrument]
    silent = SILENT_KEYS.get(instrument, frozenset())
    keys = np.array([k for k in range(low, high + 1) if (k - tonic) % 12 in MAJOR_SCALE and k not in silent])
    index = int(rng.integers(len(keys) // 4, 3 * len(keys) // 4 + 1))
    t = float(rng.uniform(*cue_range(duration_s)))
    notes: list[tuple[float, float, float]] = []
    while t < duration_s - END_MARGIN_S:
        beats = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
        if notes and rng.random() < 0.15:  # a rest
            t += beats * beat_s
            continue
        if pitches == "walk":
            index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 0, len(keys) - 1))
        elif pitches == "spread" or not notes or rng.random() < LEAP_PROBABILITY:
            index = int(rng.integers(len(keys)))
        else:
            index = int(np.clip(index + rng.choice([-2, -1, -1, 1, 1, 2]), 0, len(keys) - 1))
        legato = rng.uniform(0.8, 0.95)
        cents = rng.uniform(-8.0, 8.0)
        length = min(beats * beat_s * legato, duration_s - END_MARGIN_S - t)
        if length < MIN_NOTE_S:
            break
        notes.append((t, float(midi_to_hz(keys[index] + cents / 100.0)), length))
        t += beats * beat_s
    return np.array(notes, dtype=np.float64).reshape(-1, 3)


def read_notes(path: Path) -> np.ndarray:
    """A URMP ``Notes_*.txt`` as ``[shape=(n_notes, 3)]`` onset s, pitch Hz, duration s."""
    try:
        notes = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: not a URMP notes file (onset pitch duration per line): {err}") from err
    if notes.size and notes.shape[1] != 3:
        raise ValueError(f"{path}: expected 3 columns (onset, pitch, duration), found {notes.shape[1]}")
    return notes.reshape(-1, 3)


def _excerpt(parts: list[np.ndarray], start_s: float, duration_s: float) -> list[np.ndarray]:
    """Notes starting in [start_s, start_s + duration_s - END_MARGIN_S), shifted to start_s = 0."""
    out = []
    for notes in parts:
        onset = notes[:, 0] - start_s
        keep = (onset >= 0.0) & (onset < duration_s - END_MARGIN_S)
        cut = np.column_stack([onset[keep], notes[keep, 1], notes[keep, 2]])
        cut[:, 2] = np.minimum(cut[:, 2], duration_s - cut[:, 0])
        out.append(cut)
    return out


def choose_excerpt_start(parts: list[np.ndarray], duration_s: float) -> float:
    """Where (s) a ``duration_s`` excerpt of a real piece starts so that every part plays in it.

    The piece's own start (0) when every part has a note in the excerpt. Otherwise the whole piece
    is shifted: the earliest start such that the first note of the excerpt begins FIRST_NOTE_S in
    (no note begins before it) and every part has a note (a note sounding across the
    start is dropped: that player waits for their next note). A fugue whose entries are
    further apart than ``duration_s`` is thus cut from where all its voices play. When no start
    gives every part a note, the one giving the most parts one is used (with a warning).
    """
    def n_playing(start: float) -> int:
        return sum(len(p) > 0 for p in _excerpt(parts, start, duration_s))

    if n_playing(0.0) == len(parts):
        return 0.0
    onsets = np.unique(np.concatenate([p[:, 0] for p in parts]))
    best, best_count = 0.0, n_playing(0.0)
    for onset in onsets:
        start = float(onset) - FIRST_NOTE_S
        if start <= 0.0 or np.any((onsets >= start) & (onsets < onset)):
            continue
        count = n_playing(start)
        if count == len(parts):
            return start
        if count > best_count:
            best, best_count = start, count
    log.warning("no %.1f s excerpt of the real piece has notes in every part; using %.3f s (%d of %d parts)",
                duration_s, best, best_count, len(parts))
    return best


def real_piece_notes(notes_files: list[Path], duration_s: float) -> tuple[list[np.ndarray], float]:
    """Real per-part notes cut to a ``duration_s`` excerpt; also returns the excerpt's start (s).

    The returned onsets are the real ones minus the start (see :func:`choose_excerpt_start`).
    """
    parts = [read_notes(path) for path in notes_files]
    start = choose_excerpt_start(parts, duration_s)
    return _excerpt(parts, start, duration_s), start
