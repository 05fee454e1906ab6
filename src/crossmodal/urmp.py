"""URMP's naming scheme: piece folders, per-part file names and instrument codes.

Everything that knows how URMP names things lives here, so that the demo generator, the
ingestion code and the tests agree on one definition (see shared/urmp/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: URMP's instrument abbreviations -> the instrument names Sub-URMP uses for its folders.
INSTRUMENTS: dict[str, str] = {
    "vn": "violin",
    "va": "viola",
    "vc": "cello",
    "db": "double_bass",
    "fl": "flute",
    "ob": "oboe",
    "cl": "clarinet",
    "sax": "sax",
    "bn": "bassoon",
    "tpt": "trumpet",
    "hn": "horn",
    "tbn": "trombone",
    "tba": "tuba",
}
INSTRUMENT_CODES: dict[str, str] = {name: code for code, name in INSTRUMENTS.items()}
#: The 13 instrument names in a fixed order; a label is an index into this tuple.
INSTRUMENT_NAMES: tuple[str, ...] = tuple(sorted(INSTRUMENTS.values()))

#: Folders that sit beside the pieces in the released tree and are not pieces.
NON_PIECE_DIRS = frozenset({"Supplementary_Files"})

PIECE_DIR_RE = re.compile(r"^(?P<number>\d{2})_(?P<name>[A-Za-z0-9]+)_(?P<codes>[a-z]+(?:_[a-z]+)*)$")
#: A track id names one player: ``<NN>_<Name>_<part>_<folder code>``, e.g. ``15_Surprise_3_tbn``.
TRACK_ID_RE = r"\d{2}_[A-Za-z0-9]+_\d+_[a-z]+"


class URMPLayoutError(ValueError):
    """The tree does not follow URMP's layout; the message names the file or folder."""


@dataclass(frozen=True)
class Piece:
    """One piece folder, e.g. ``24_Pirates_vn_vn_va_vc``."""

    number: int
    name: str
    codes: tuple[str, ...]  # instrument code of each part, from the FOLDER name

    @property
    def dir_name(self) -> str:
        return f"{self.number:02d}_{self.name}_{'_'.join(self.codes)}"

    @property
    def stem(self) -> str:
        """``<NN>_<Name>``, the part of the name the per-part files use."""
        return f"{self.number:02d}_{self.name}"

    def instrument(self, part: int) -> str:
        """Instrument name of 1-based ``part`` (from the folder name, per the 15_Surprise quirk)."""
        return INSTRUMENTS[self.codes[part - 1]]

    def track_id(self, part: int) -> str:
        return f"{self.stem}_{part}_{self.codes[part - 1]}"

    # File names as the released dataset writes them. ``abbr`` is the code the FILES use, which
    # can differ from the folder's (15_Surprise part 3 is ``tpt`` in its files, ``tbn`` in the
    # folder name).
    def video_name(self) -> str:
        return f"Vid_{self.dir_name}.mp4"

    def mix_name(self) -> str:
        return f"AuMix_{self.dir_name}.wav"

    def score_name(self) -> str:
        return f"Sco_{self.dir_name}.mid"

    def part_file_name(self, kind: str, part: int, abbr: str | None = None) -> str:
        """``kind`` is ``AuSep`` (.wav), ``Notes`` or ``F0s`` (.txt)."""
        ext = {"AuSep": "wav", "Notes": "txt", "F0s": "txt"}[kind]
        return f"{kind}_{part}_{abbr or self.codes[part - 1]}_{self.stem}.{ext}"


def parse_piece_dir(dir_name: str) -> Piece:
    """Parses a piece folder name; raises URMPLayoutError naming it when it is not one."""
    match = PIECE_DIR_RE.match(dir_name)
    if not match:
        raise URMPLayoutError(
            f"{dir_name!r} is not a URMP piece folder name (expected <NN>_<Name>_<code>_<code>...)"
        )
    codes = tuple(match["codes"].split("_"))
    unknown = [c for c in codes if c not in INSTRUMENTS]
    if unknown:
        raise URMPLayoutError(
            f"piece folder {dir_name!r}: unknown instrument code(s) {unknown}; "
            f"known codes: {sorted(INSTRUMENTS)}"
        )
    return Piece(number=int(match["number"]), name=match["name"], codes=codes)


def find_part_file(piece_dir: Path, piece: Piece, kind: str, part: int) -> Path | None:
    """The file of ``kind`` for ``part``, whatever instrument code its name uses.

    File names are only used to find files (the instrument comes from the folder name), so the
    code in the name is matched as a wildcard: this finds ``AuSep_3_tpt_15_Surprise.wav`` for the
    trombone part of ``15_Surprise_tpt_tpt_tbn``.
    """
    ext = {"AuSep": "wav", "Notes": "txt", "F0s": "txt"}[kind]
    matches = sorted(piece_dir.glob(f"{kind}_{part}_*_{piece.stem}.{ext}"))
    if len(matches) > 1:
        raise URMPLayoutError(f"{piece_dir}: several {kind} files for part {part}: {matches}")
    return matches[0] if matches else None


def list_piece_dirs(root: Path) -> list[Path]:
    """Piece folders under a URMP ``Dataset/`` root, in order; skips non-piece entries.

    Raises URMPLayoutError when ``root`` is missing, is not a folder, or holds no piece.
    """
    root = Path(root)
    if not root.exists():
        raise URMPLayoutError(f"URMP root {root} does not exist")
    if not root.is_dir():
        raise URMPLayoutError(f"URMP root {root} is not a folder")
    pieces = [
        p for p in sorted(root.iterdir())
        if p.is_dir() and p.name not in NON_PIECE_DIRS and PIECE_DIR_RE.match(p.name)
    ]
    if not pieces:
        below = _piece_roots_below(root)
        hint = (f"; {below[0]} below it does: set data.local_root: {below[0]}" if below
                else "; point data.local_root at the released Dataset/ folder")
        raise URMPLayoutError(f"URMP root {root} holds no piece folder (<NN>_<Name>_<codes>){hint}")
    return pieces


def _piece_roots_below(root: Path, depth: int = 2) -> list[Path]:
    """Folders up to ``depth`` levels below ``root`` that hold piece folders (e.g. the Dataset/
    of an unpacked archive), so the error can say which path the config should name."""
    found, level = [], [root]
    for _ in range(depth):
        level = sorted(p for folder in level for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        found += [p for p in level if any(c.is_dir() and PIECE_DIR_RE.match(c.name) for c in p.iterdir())]
        if found:
            return found
    return found


DATA_DIR = Path(__file__).resolve().parent / "data"
#: Real annotation files and score of piece 32 (from the released dataset), shipped as fixtures.
REAL_PIECE_32_DIR = DATA_DIR / "32_Fugue_vn_vn_va_vc"


def load_piece_list() -> dict[str, tuple[str, ...]]:
    """All 44 URMP piece folders -> the instrument code each part's FILES use.

    The file codes equal the folder's except for the 15_Surprise quirk (part 3: ``tpt`` in the
    file names, trombone per the folder name).
    """
    rows = (DATA_DIR / "urmp_pieces.tsv").read_text().splitlines()[1:]
    return {name: tuple(abbrs.split()) for name, abbrs in (row.split("\t") for row in rows if row.strip())}
