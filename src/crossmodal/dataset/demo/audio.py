"""Rendering a player's notes through a sampled SoundFont, and mixing the players.

Each part is rendered on its own synthesizer (tinysoundfont, offline: only its rendering API is
used, never its audio playback) with the General MIDI program of its instrument, so the sound
of each instrument comes from real recorded samples and the timbre is learnable. Pitches are
not quantised: each note is played on the nearest key with the channel tuned by the remainder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from crossmodal.dataset.demo.melody import hz_to_midi

#: URMP's sample rate (Hz); the demo renders and writes at this rate.
SR = 48000

#: General MIDI program (0-based) of each instrument.
GM_PROGRAM: dict[str, int] = {
    "violin": 40,
    "viola": 41,
    "cello": 42,
    "double_bass": 43,
    "trumpet": 56,
    "trombone": 57,
    "tuba": 58,
    "horn": 60,
    "sax": 65,  # alto sax
    "oboe": 68,
    "bassoon": 70,
    "clarinet": 71,
    "flute": 73,
}

#: Peak of a rendered part (linear, full scale 1): -6 dBFS, room for the mix.
PART_PEAK = 0.5
#: The mix is scaled down to this peak when the sum of its parts would exceed it.
MIX_PEAK = 0.89
#: Key velocity of every note (0-127).
VELOCITY = 100


class SoundFontError(ValueError):
    """The SoundFont cannot be found or loaded; the message names the file."""


def default_soundfont() -> Path:
    """The General MIDI SoundFont ``TimGM6mb.sf2`` that ships inside the pretty_midi package."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise SoundFontError("pretty_midi is not installed: pass --soundfont with a .sf2 file")
    path = Path(next(iter(spec.submodule_search_locations))) / "TimGM6mb.sf2"
    if not path.is_file():
        raise SoundFontError(f"{path}: pretty_midi's SoundFont is missing; pass --soundfont with a .sf2 file")
    return path


def load_soundfont(path: Path | None) -> bytes:
    """The SoundFont's bytes (``path``, else :func:`default_soundfont`), checked to load."""
    import tinysoundfont

    path = Path(path) if path is not None else default_soundfont()
    if not path.is_file():
        raise SoundFontError(f"{path}: SoundFont file does not exist")
    data = path.read_bytes()
    try:
        tinysoundfont.Synth(samplerate=SR).sfload(data)
    except Exception as err:  # tinysoundfont raises a bare Exception on a bad file
        raise SoundFontError(f"{path}: not a loadable SoundFont ({err})") from err
    return data


def render_part(notes: np.ndarray, instrument: str, duration_s: float, soundfont: bytes,
                sr: int = SR, program: int | None = None, drums: bool = False) -> np.ndarray:
    """One player's track: ``notes [shape=(n, 3)]`` (onset s, pitch Hz, duration s) -> audio.

    ``program``: the General MIDI program (default GM_PROGRAM[instrument]); ``drums``: play
    the notes' keys on the GM percussion channel (10) with the SoundFont's drum kit ``program``.

    Returns ``np.ndarray [shape=(round(duration_s * sr),), dtype=float32]``, mono (mean of the
    synthesizer's stereo), scaled to a peak of PART_PEAK (all zeros when there are no notes).
    Depends only on its arguments, so a part shared by two pieces renders to the same samples.
    """
    import tinysoundfont

    n_samples = int(round(duration_s * sr))
    stereo = np.zeros((n_samples, 2), dtype=np.float32)
    synth = tinysoundfont.Synth(samplerate=sr)
    sfid = synth.sfload(soundfont)
    program = GM_PROGRAM[instrument] if program is None else program
    channel, bank = (9, 128) if drums else (0, 0)
    try:
        synth.program_select(channel, sfid, bank, program, is_drums=drums)
    except RuntimeError as err:
        raise SoundFontError(f"the SoundFont has no General MIDI {'drum kit' if drums else 'program'} {program} "
                             f"for {instrument} ({err})") from err

    # (sample, order, key, tuning): note-offs (order 0) before note-ons (order 1) at one sample.
    events = []
    for onset, pitch, length in notes:
        midi = float(hz_to_midi(pitch))
        key = int(np.clip(round(midi), 0, 127))
        start = int(round(onset * sr))
        events.append((start, 1, key, midi - key))
        events.append((max(start + 1, int(round((onset + length) * sr))), 0, key, 0.0))
    cursor = 0
    for sample, order, key, tuning in sorted(events):
        sample = min(sample, n_samples)
        if sample > cursor:
            synth.generate_simple(sample - cursor, buffer=memoryview(stereo[cursor:sample]).cast("B"))
            cursor = sample
        if order:
            synth.set_tuning(channel, tuning)
            synth.noteon(channel, key, VELOCITY)
        else:
            synth.noteoff(channel, key)
    if cursor < n_samples:
        synth.generate_simple(n_samples - cursor, buffer=memoryview(stereo[cursor:]).cast("B"))

    mono = stereo.mean(axis=1, dtype=np.float64)
    peak = float(np.abs(mono).max()) if n_samples else 0.0
    return (mono * (PART_PEAK / peak) if peak > 0 else mono).astype(np.float32)


def mix_parts(parts: list[np.ndarray]) -> np.ndarray:
    """AuMix: the sum of the parts ``[shape=(n_samples,)]``, scaled down to MIX_PEAK if louder."""
    mix = np.sum(np.stack(parts).astype(np.float64), axis=0)
    peak = float(np.abs(mix).max()) if mix.size else 0.0
    return (mix * (MIX_PEAK / peak) if peak > MIX_PEAK else mix).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sr: int = SR) -> None:
    """Writes mono ``samples`` as URMP does: WAV, 24-bit PCM."""
    import soundfile

    soundfile.write(str(path), samples, sr, subtype="PCM_24", format="WAV")
