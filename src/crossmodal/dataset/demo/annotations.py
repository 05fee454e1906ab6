"""URMP's annotation files from a player's notes: Notes_*.txt, F0s_*.txt and the score Sco_*.mid.

Formats follow the released files (see piece 32's real ones in ``crossmodal/data``): Notes lines
are ``onset<TAB><TAB>pitch<TAB><TAB>duration`` (s, Hz, s, 3 decimals); F0s lines are
``time<TAB>f0`` on a 10 ms grid starting at 23 ms, F0 in Hz and 0 where the player is silent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossmodal.dataset.demo.audio import GM_PROGRAM
from crossmodal.dataset.demo.melody import hz_to_midi

#: F0 hop (s) and the time of the first F0 frame (s), as in URMP's F0s files.
F0_HOP_S = 0.01
F0_START_S = 0.023
#: Score resolution and tempo: 480 ticks a beat at 120 bpm, so one tick is 1/960 s.
TICKS_PER_BEAT = 480
TEMPO_US = 500_000


def notes_text(notes: np.ndarray) -> str:
    """``notes [shape=(n, 3)]`` (onset s, pitch Hz, duration s) in the Notes_*.txt format."""
    return "".join(f"{onset:.3f}\t\t{pitch:.3f}\t\t{length:.3f}\n" for onset, pitch, length in notes)


def f0_track(notes: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (s) and F0 (Hz, 0 where silent) on URMP's grid, from the notes.

    Returns ``(times [shape=(n_frames,)], f0 [shape=(n_frames,)])``; frames cover
    [F0_START_S, duration_s). A frame at t takes the pitch of the note with onset <= t < offset.
    """
    n_frames = max(0, int(np.floor((duration_s - F0_START_S) / F0_HOP_S - 1e-9)) + 1)
    times = np.round(F0_START_S + F0_HOP_S * np.arange(n_frames), 3)
    f0 = np.zeros(n_frames)
    for onset, pitch, length in notes:
        f0[(times >= round(onset, 3)) & (times < round(onset + length, 3))] = round(pitch, 3)
    return times, f0


def f0s_text(times: np.ndarray, f0: np.ndarray) -> str:
    return "".join(f"{t:.3f}\t{f:.3f}\n" for t, f in zip(times, f0))


def score_midi(parts: list[tuple[str, np.ndarray]]):
    """The score as a type-1 MIDI file: a conductor track, then one track per part.

    ``parts`` is [(instrument, notes [shape=(n, 3)])]; each part has its instrument's name and
    General MIDI program and plays its notes on the nearest keys. Returns a ``mido.MidiFile``.
    """
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0),
                                mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0)])
    midi.tracks.append(conductor)
    ticks_per_s = TICKS_PER_BEAT * 1_000_000 / TEMPO_US
    for channel, (instrument, notes) in enumerate(parts):
        channel = channel if channel < 9 else channel + 1  # channel 10 (index 9) is drums in GM
        track = mido.MidiTrack([
            mido.MetaMessage("track_name", name=instrument, time=0),
            mido.Message("program_change", channel=channel, program=GM_PROGRAM[instrument], time=0),
        ])
        events = []  # (tick, order, message type, key): offs before ons at one tick
        for onset, pitch, length in notes:
            key = int(np.clip(round(float(hz_to_midi(pitch))), 0, 127))
            on, off = int(round(onset * ticks_per_s)), int(round((onset + length) * ticks_per_s))
            events += [(on, 1, "note_on", key), (max(off, on + 1), 0, "note_off", key)]
        now = 0
        for tick, _, kind, key in sorted(events):
            track.append(mido.Message(kind, channel=channel, note=key, velocity=64 if kind == "note_off" else 100,
                                      time=tick - now))
            now = tick
        midi.tracks.append(track)
    return midi


def write_score(path: Path, parts: list[tuple[str, np.ndarray]]) -> None:
    score_midi(parts).save(str(path))
