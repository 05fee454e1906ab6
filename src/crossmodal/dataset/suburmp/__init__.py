"""The released Sub-URMP as a data source: its layout, and how its files become tracks.

Sub-URMP (the paper's derived dataset) is released as
``img/{train,validation}/<instrument>/<instrument>NN_<ms>.jpg`` and the matching
``chunk/{train,validation}/<instrument>/<instrument>NN_<ms>.wav``: one image/sound pair per
file stem, ``NN`` a recording of that instrument, ``ms`` the end of the 0.5 s window in
milliseconds (500, 600, ...). Here a track is one ``<instrument>NN`` recording of one split,
its windows ordered by ``ms``; ``validation`` is the project's ``test`` split. The steps of this
package write the same tracks manifest and per-track arrays as the URMP path (``tracks``,
``extract``), so every later stage runs unchanged:

- ``suburmp-tracks`` (:mod:`.tracks`): scans the tree, pairs the files, refuses bad input,
  writes the tracks manifest;
- ``ingest-suburmp`` (:mod:`.ingest`): one job per track, decodes its images and chunks into
  ``frames.npy``, ``audio.npy`` (the chunks back to back) and ``windows.parquet``;
- ``suburmp-summary`` (:mod:`.summary`): how many chunks needed downmixing, resampling,
  padding or trimming;
- ``export-suburmp`` (:mod:`.export`): writes whatever was ingested (demo, URMP, Sub-URMP)
  back out in the release's layout.

Everything that knows how Sub-URMP names things lives in this module.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal import urmp

log = logging.getLogger(__name__)

#: The release's split folders -> the project's splits.
SPLITS: dict[str, str] = {"train": "train", "validation": "test"}
#: The project's splits -> the release's folder names (for the export).
SPLIT_FOLDERS: dict[str, str] = {side: folder for folder, side in SPLITS.items()}
IMAGE_DIR, CHUNK_DIR = "img", "chunk"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CHUNK_SUFFIXES = (".wav",)
#: Instrument folder names other than the project's own that a copy of the release may use.
INSTRUMENT_ALIASES: dict[str, str] = {
    "saxophone": "sax",
    "doublebass": "double_bass",
    "double-bass": "double_bass",
    "contrabass": "double_bass",
}
#: A pair's file stem: ``<instrument>NN_<ms>``, e.g. ``double_bass03_1200``.
STEM_RE = re.compile(r"^(?P<recording>(?P<prefix>[A-Za-z_-]+?)(?P<number>\d+))_(?P<ms>\d+)$")
#: Track ids of Sub-URMP recordings: ``suburmp_<instrument>NN``, with ``_<split folder>`` when
#: the same ``<instrument>NN`` names recordings in both splits. Disjoint from urmp.TRACK_ID_RE.
TRACK_ID_RE = r"suburmp_[a-z_]+\d+(?:_train|_validation)?"
#: Pair-ending policies for an image without its chunk or the reverse.
UNPAIRED_POLICIES = ("error", "skip")


class SubURMPLayoutError(ValueError):
    """The tree does not follow Sub-URMP's layout; the message names the file or folder."""


def instrument_name(folder: str) -> str | None:
    """The project's name of an instrument folder (``sax``, ``double_bass`` ...), None if unknown."""
    name = INSTRUMENT_ALIASES.get(folder.lower(), folder.lower())
    return name if name in urmp.INSTRUMENT_NAMES else None


@dataclass
class Recording:
    """One ``<instrument>NN`` recording of one split: its pairs in window order."""

    split_folder: str          # train | validation
    instrument: str            # the project's name (from the folder)
    folder: str                # the instrument folder's name as released
    name: str                  # <instrument>NN as the files spell it
    number: int                # NN
    ms: list[int] = field(default_factory=list)        # window ends, ascending
    images: list[Path] = field(default_factory=list)
    chunks: list[Path] = field(default_factory=list)

    @property
    def split(self) -> str:
        return SPLITS[self.split_folder]


@dataclass
class PairCounts:
    """Files left out while pairing (only when unpaired files are skipped)."""

    images_without_chunk: list[Path] = field(default_factory=list)
    chunks_without_image: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.images_without_chunk) + len(self.chunks_without_image)


def _stems(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """File stem -> path of the pair files in ``folder``; skips hidden files (macOS ``._*``).

    SubURMPLayoutError naming the file for a name that is not ``<instrument>NN_<ms>`` with one
    of ``suffixes``, or a stem given twice (``x.jpg`` beside ``x.png``).
    """
    found: dict[str, Path] = {}
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            stem, suffix = os.path.splitext(entry.name)
            if not entry.is_file() or suffix.lower() not in suffixes or not STEM_RE.match(stem):
                raise SubURMPLayoutError(
                    f"{path}: not a Sub-URMP pair file (expected <instrument>NN_<ms>"
                    f"{'|'.join(suffixes)})"
                )
            if stem in found:
                raise SubURMPLayoutError(f"{path}: pair {stem} is given twice (also {found[stem].name})")
            found[stem] = path
    return found


def check_root(root: Path) -> None:
    """SubURMPLayoutError naming what is missing when ``root`` lacks ``img/`` or ``chunk/``."""
    root = Path(root)
    if not root.is_dir():
        raise SubURMPLayoutError(f"Sub-URMP root {root} does not exist or is not a folder")
    for sub in (IMAGE_DIR, CHUNK_DIR):
        if not (root / sub).is_dir():
            raise SubURMPLayoutError(
                f"Sub-URMP root {root} has no {sub}/ folder (expected img/ and chunk/, each with "
                f"train/ and validation/); point data.suburmp_root at the folder holding both"
            )


def instrument_folders(root: Path, split_folder: str) -> dict[str, tuple[str, Path | None, Path | None]]:
    """Project instrument name -> (released folder name, img folder, chunk folder) of a split.

    SubURMPLayoutError naming the folder for an instrument folder of unknown name.
    """
    result: dict[str, tuple[str, Path | None, Path | None]] = {}
    for index, sub in enumerate((IMAGE_DIR, CHUNK_DIR)):
        base = Path(root) / sub / split_folder
        if not base.is_dir():
            continue
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            name = instrument_name(folder.name)
            if name is None:
                raise SubURMPLayoutError(
                    f"{folder}: unknown instrument folder {folder.name!r}; known: {', '.join(urmp.INSTRUMENT_NAMES)}"
                )
            released, img, chunk = result.get(name, (folder.name, None, None))
            if (img, chunk)[index] is not None:
                raise SubURMPLayoutError(f"{folder}: a second folder for {name} (also {(img, chunk)[index]})")
            result[name] = (released, folder, chunk) if index == 0 else (released, img, folder)
    return result


def pair_folder(image_dir: Path | None, chunk_dir: Path | None, unpaired: str = "error",
                counts: PairCounts | None = None, only: int | None = None) -> dict[str, list[tuple[int, Path, Path]]]:
    """``<instrument>NN`` -> [(ms, image, chunk)] in ms order, for one instrument folder pair.

    An image without its chunk, or the reverse, is an error naming the file (``unpaired``
    ``error``) or is left out and recorded in ``counts`` (``skip``). ``only`` keeps the
    recording(s) numbered NN = ``only`` (the per-track job re-reads the folder for its files).
    """
    if unpaired not in UNPAIRED_POLICIES:
        raise ValueError(f"unpaired policy {unpaired!r} is not one of {UNPAIRED_POLICIES}")
    images = _stems(image_dir, IMAGE_SUFFIXES) if image_dir else {}
    chunks = _stems(chunk_dir, CHUNK_SUFFIXES) if chunk_dir else {}
    if only is not None:
        images = {s: p for s, p in images.items() if int(STEM_RE.match(s)["number"]) == only}
        chunks = {s: p for s, p in chunks.items() if int(STEM_RE.match(s)["number"]) == only}
    lonely_images = sorted(set(images) - set(chunks))
    lonely_chunks = sorted(set(chunks) - set(images))
    if lonely_images or lonely_chunks:
        if unpaired == "error":
            if lonely_images:
                stem = lonely_images[0]
                where = chunk_dir / f"{stem}.wav" if chunk_dir else f"a chunk folder for {image_dir.name}"
                raise SubURMPLayoutError(
                    f"{images[stem]}: image without its chunk ({where} is missing; "
                    f"{len(lonely_images)} image(s) and {len(lonely_chunks)} chunk(s) unpaired here); "
                    f"set data.suburmp_unpaired: skip to leave unpaired files out"
                )
            stem = lonely_chunks[0]
            raise SubURMPLayoutError(
                f"{chunks[stem]}: chunk without its image ({len(lonely_chunks)} chunk(s) unpaired here); "
                f"set data.suburmp_unpaired: skip to leave unpaired files out"
            )
        if counts is not None:
            counts.images_without_chunk += [images[s] for s in lonely_images]
            counts.chunks_without_image += [chunks[s] for s in lonely_chunks]
    recordings: dict[str, list[tuple[int, Path, Path]]] = {}
    for stem in sorted(set(images) & set(chunks)):
        match = STEM_RE.match(stem)
        recordings.setdefault(match["recording"], []).append((int(match["ms"]), images[stem], chunks[stem]))
    for pairs in recordings.values():
        pairs.sort(key=lambda p: p[0])
    return recordings


def scan_release(root: Path, instruments: list[str] | tuple[str, ...] = urmp.INSTRUMENT_NAMES,
                 unpaired: str = "error") -> tuple[list[Recording], PairCounts]:
    """Every recording of the kept ``instruments`` under a Sub-URMP ``root``, and what was left out.

    Refuses (SubURMPLayoutError naming the file or folder): a missing ``img/`` or ``chunk/``, a
    missing split folder, an unknown instrument folder, a file that is not a pair file, unpaired
    files (unless ``unpaired`` is ``skip``), and a split with no pair of the kept instruments.
    """
    root = Path(root)
    check_root(root)
    counts = PairCounts()
    recordings: list[Recording] = []
    for split_folder in SPLITS:
        for sub in (IMAGE_DIR, CHUNK_DIR):
            if not (root / sub / split_folder).is_dir():
                raise SubURMPLayoutError(f"{root / sub / split_folder}: missing (Sub-URMP has train/ and validation/)")
        found = 0
        for name, (released, img, chunk) in instrument_folders(root, split_folder).items():
            if name not in instruments:
                continue
            for rec_name, pairs in pair_folder(img, chunk, unpaired, counts).items():
                prefix = STEM_RE.match(f"{rec_name}_0")["prefix"]
                if instrument_name(prefix) != name:
                    log.warning("%s: files of %s are named %s; the folder decides the instrument (%s)",
                                img, rec_name, prefix, name)
                number = int(STEM_RE.match(f"{rec_name}_0")["number"])
                ms, images, chunks = (list(col) for col in zip(*pairs))
                recordings.append(Recording(split_folder, name, released, rec_name, number, ms, images, chunks))
                found += len(pairs)
        if not found:
            raise SubURMPLayoutError(
                f"{root / IMAGE_DIR / split_folder}: the {split_folder} split holds no pair of the kept "
                f"instruments ({', '.join(instruments)})"
            )
    if counts.total:
        log.warning("skipped %d unpaired file(s): %d image(s) without a chunk, %d chunk(s) without an image "
                    "(first: %s)", counts.total, len(counts.images_without_chunk), len(counts.chunks_without_image),
                    (counts.images_without_chunk + counts.chunks_without_image)[0])
    return recordings, counts


def track_ids(recordings: list[Recording]) -> list[str]:
    """``suburmp_<instrument>NN`` per recording; with ``_<split folder>`` where a name is in both splits."""
    key = [f"{r.instrument}{r.number:02d}" for r in recordings]
    shared = {k for k in key if key.count(k) > 1}
    for k in sorted(shared):
        log.warning("recording %s appears in both train and validation; its tracks get the split in their ids", k)
    return [f"suburmp_{k}_{r.split_folder}" if k in shared else f"suburmp_{k}" for k, r in zip(key, recordings)]
