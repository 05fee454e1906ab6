"""Generate a demo URMP tree: real layout and names, SoundFont-rendered parts, drawn players.

The demo lets the whole workflow run where URMP cannot be had. Each piece folder holds what the
released one does (Vid, AuMix, AuSep per part, Notes, F0s, Sco) under URMP's exact names,
including the 15_Surprise quirk (part 3's files say tpt, the folder says tbn), and the tree has a
Supplementary_Files folder as the real one does. Parts are rendered through a General MIDI
SoundFont from seeded melodies in each instrument's range (piece 32: its real note timings);
variants of a piece (24/25_Pirates) share the take of a part they have in common, byte for byte,
as URMP does. Players are drawn in equal-width panels, posed by the note they play.
Same arguments and seed give the same WAV/TXT bytes and the same decoded video frames.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from crossmodal import urmp
from crossmodal.dataset.demo import annotations, audio, melody, video
from crossmodal.dataset.demo.figure import seeded_player, seeded_room
from crossmodal.store import atomic_directory

log = logging.getLogger(__name__)

MIN_DURATION_S = 1.0
MIN_PANEL = 16


class DemoError(ValueError):
    """The demo cannot be generated as asked (unknown piece, bad size); the message says why."""


@dataclass(frozen=True)
class DemoPiece:
    """A piece to generate: its folder name parsed, and the instrument code its FILES use."""

    piece: urmp.Piece
    file_abbrs: tuple[str, ...]


def resolve_pieces(names: list[str]) -> list[DemoPiece]:
    """Checks the requested piece folders against URMP's piece list; DemoError naming a bad one."""
    known = urmp.load_piece_list()
    if not names:
        raise DemoError("no demo piece requested")
    seen, out = set(), []
    for name in names:
        if name in seen:
            raise DemoError(f"demo piece {name!r} is requested twice")
        seen.add(name)
        if name not in known:
            raise DemoError(f"unknown URMP piece {name!r}: the demo generates pieces of the real piece "
                            f"list only (e.g. {', '.join(list(known)[:3])}, ...; see crossmodal/data/urmp_pieces.tsv)")
        out.append(DemoPiece(urmp.parse_piece_dir(name), known[name]))
    return out


def piece_notes(demo: DemoPiece, duration_s: float, seed: int,
                pitches: str) -> tuple[list[np.ndarray], float | None]:
    """Notes of every part ``[shape=(n, 3)]`` and, for a real piece, its excerpt's start (s).

    Piece 32 (whose real annotations ship with the package) plays its real notes; every other
    piece plays seeded melodies keyed by (seed, piece name, part, instrument), their pitches
    drawn as ``pitches`` says (melody.PITCH_MODES).
    """
    notes, start = _raw_piece_notes(demo, duration_s, seed, pitches)
    # Rounded to the milliseconds the Notes files hold, so files, audio, F0s and poses agree.
    return [np.round(n, 3) for n in notes], start


def _raw_piece_notes(demo: DemoPiece, duration_s: float, seed: int,
                     pitches: str) -> tuple[list[np.ndarray], float | None]:
    piece = demo.piece
    if piece.dir_name == urmp.REAL_PIECE_32_DIR.name:
        files = []
        for part in range(1, len(piece.codes) + 1):
            path = urmp.find_part_file(urmp.REAL_PIECE_32_DIR, piece, "Notes", part)
            if path is None:
                raise DemoError(f"{urmp.REAL_PIECE_32_DIR}: the real Notes file of part {part} is missing")
            files.append(path)
        return melody.real_piece_notes(files, duration_s)
    return [melody.seeded_melody(seed, piece.name, part, piece.instrument(part), duration_s, pitches)
            for part in range(1, len(piece.codes) + 1)], None


def write_piece(root: Path, demo: DemoPiece, duration_s: float, panel_width: int, height: int,
                fps: Fraction, seed: int, soundfont: bytes, pitches: str) -> float | None:
    """Writes one piece folder under ``root``; returns piece 32's excerpt start (else None)."""
    piece = demo.piece
    folder = root / piece.dir_name
    folder.mkdir()
    notes, excerpt_start = piece_notes(demo, duration_s, seed, pitches)
    tracks, panels, score = [], [], []
    for part, (part_notes, abbr) in enumerate(zip(notes, demo.file_abbrs), start=1):
        instrument = piece.instrument(part)
        track = audio.render_part(part_notes, instrument, duration_s, soundfont)
        audio.write_wav(folder / piece.part_file_name("AuSep", part, abbr), track)
        (folder / piece.part_file_name("Notes", part, abbr)).write_text(annotations.notes_text(part_notes))
        times, f0 = annotations.f0_track(part_notes, duration_s)
        (folder / piece.part_file_name("F0s", part, abbr)).write_text(annotations.f0s_text(times, f0))
        tracks.append(track)
        score.append((instrument, part_notes))
        panels.append(video.Panel(instrument, part_notes, seeded_player(seed, piece.name, part, instrument)))
    mix_path = folder / piece.mix_name()
    audio.write_wav(mix_path, audio.mix_parts(tracks))
    annotations.write_score(folder / piece.score_name(), score)
    video.encode_video(folder / piece.video_name(), panels, seeded_room(seed, piece.dir_name),
                       panel_width, height, fps, duration_s, mix_path)
    return excerpt_start


def supplementary_readme(pieces: list[DemoPiece], duration_s: float, panel_width: int, height: int,
                         fps: Fraction, seed: int, soundfont_name: str, excerpts: dict[str, float],
                         pitches: str) -> str:
    lines = [
        "Demo URMP tree generated by `crossmodal demo` (not the released dataset).",
        "Layout and file names follow URMP; audio is rendered from notes through a SoundFont,",
        "video shows drawn players posed by the notes they play. This folder is not a piece.",
        "",
        f"seed: {seed}",
        f"duration_s: {duration_s:g}",
        f"pitches: {pitches}",
        f"panel: {panel_width}x{height} px, fps: {fps.numerator}/{fps.denominator}",
        f"soundfont: {soundfont_name}",
        "pieces: " + " ".join(p.piece.dir_name for p in pieces),
    ]
    lines += [f"{name}: real notes from {start:.3f} s of the released annotations" for name, start in excerpts.items()]
    return "\n".join(lines) + "\n"


def _even(value: int, what: str) -> int:
    if value % 2:
        log.warning("%s %d is odd; using %d (H.264 yuv420p needs even sizes)", what, value, value + 1)
        return value + 1
    return value


def generate_demo(out: Path, pieces: list[str], duration_s: float = 12.0, panel_width: int = 96,
                  height: int = 96, fps: str | Fraction = "30000/1001", seed: int = 0,
                  soundfont: Path | None = None, pitches: str = melody.DEFAULT_PITCH_MODE) -> Path:
    """Generates the demo tree at ``out`` (a URMP ``Dataset/`` folder) and returns ``out``.

    ``pieces`` are folder names from URMP's piece list. Panels are ``panel_width`` x ``height``
    pixels (rounded up to even), side by side; each piece lasts ``duration_s`` seconds. The tree
    is built in a temporary sibling folder and renamed to ``out`` when complete; an existing
    ``out`` is replaced only then. DemoError for an unknown piece or bad sizes.
    """
    out = Path(out)
    demos = resolve_pieces(list(pieces))
    if not duration_s >= MIN_DURATION_S:
        raise DemoError(f"demo duration {duration_s} s is shorter than {MIN_DURATION_S} s")
    if panel_width < MIN_PANEL or height < MIN_PANEL:
        raise DemoError(f"demo panels {panel_width}x{height} px are smaller than {MIN_PANEL}x{MIN_PANEL}")
    panel_width, height = _even(panel_width, "panel width"), _even(height, "height")
    fps = video.parse_fps(fps)
    soundfont_path = Path(soundfont) if soundfont is not None else audio.default_soundfont()
    soundfont_bytes = audio.load_soundfont(soundfont_path)

    started = time.monotonic()
    with atomic_directory(out) as tmp:  # a failed run leaves the old tree, or none
        excerpts = {}
        for i, demo in enumerate(demos, start=1):
            t0 = time.monotonic()
            start = write_piece(tmp, demo, duration_s, panel_width, height, fps, seed, soundfont_bytes, pitches)
            if start is not None:
                excerpts[demo.piece.dir_name] = start
            log.info("demo piece %d/%d %s: %d parts in %.1f s", i, len(demos), demo.piece.dir_name,
                     len(demo.piece.codes), time.monotonic() - t0)
        supplementary = tmp / "Supplementary_Files"
        supplementary.mkdir()
        (supplementary / "readme.txt").write_text(supplementary_readme(
            demos, duration_s, panel_width, height, fps, seed, soundfont_path.name, excerpts, pitches))
    log.info("demo URMP tree with %d pieces written to %s in %.1f s", len(demos), out, time.monotonic() - started)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="the Dataset/ folder to create (replaced if present)")
    parser.add_argument("--pieces", required=True, nargs="+", metavar="PIECE",
                        help="piece folders from URMP's piece list, e.g. 24_Pirates_vn_vn_va_vc")
    parser.add_argument("--duration", type=float, default=12.0, help="length of each piece (s)")
    parser.add_argument("--panel-width", type=int, default=96, help="width of one player's panel (px, even)")
    parser.add_argument("--height", type=int, default=96, help="video height (px, even)")
    parser.add_argument("--fps", default="30000/1001", help="frame rate, a number or a ratio (URMP: 30000/1001)")
    parser.add_argument("--soundfont", type=Path, default=None,
                        help="SoundFont (.sf2) to render with (default: pretty_midi's TimGM6mb.sf2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the melodies and looks")
    parser.add_argument("--pitches", choices=melody.PITCH_MODES, default=melody.DEFAULT_PITCH_MODE,
                        help="seeded melodies' pitches: every note anywhere in the range (spread), steps "
                             "with leaps now and then (leaps), or the earlier walk")


def run(args: argparse.Namespace) -> None:
    generate_demo(args.out, args.pieces, duration_s=args.duration, panel_width=args.panel_width,
                  height=args.height, fps=args.fps, seed=args.seed, soundfont=args.soundfont,
                  pitches=args.pitches)
