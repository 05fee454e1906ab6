"""Scan a released Sub-URMP tree into the tracks manifest: one row per recording, the release's split.

The columns are the URMP path's (manifests.TRACKS_SCHEMA), filled for a folder of solo pairs:

- track_id ``suburmp_<instrument>NN`` (``_train`` / ``_validation`` added when the same
  number names recordings in both splits); piece the same as track_id (a recording is its own
  piece: one player), piece_number NN, part 1 of n_parts 1;
- instrument from the folder (aliases such as ``saxophone`` mapped to the project's names),
  instrument_code its URMP abbreviation;
- video_path / audio_path: the recording's ``img/<split>/<instrument>`` and
  ``chunk/<split>/<instrument>`` folders (the per-track job reads its own files from them);
- notes_path, f0_path: empty; Sub-URMP has no Notes or F0 files, and stages that need them
  say so instead of filling them in;
- video_duration_s = audio_duration_s: the span the pairs cover (the last window's end);
  fps: pairs per second (1000 / the median ms step, 10 in the release);
- video_width/height: of the first image; audio_sr/channels: of the first chunk (every chunk
  is probed again when the track is ingested);
- audio_sha256: of the chunk files' bytes in window order, so identical recordings are one take;
- split: ``train``, or ``test`` for ``validation``, as released.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, media, urmp
from crossmodal.dataset import suburmp
from crossmodal.dataset.tracks import dedupe_takes

log = logging.getLogger(__name__)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header; MediaError naming the file when it is unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as err:
        raise media.MediaError(f"{path}: not a readable image ({err})") from err


def files_sha256(paths: list[Path]) -> str:
    """sha256 of the files' bytes, one after the other."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def recording_row(rec: suburmp.Recording, track_id: str) -> dict:
    """The tracks-manifest row of one recording (before take_id)."""
    ainfo = media.audio_info(rec.chunks[0])
    if ainfo["frames"] == 0:
        raise media.MediaError(f"{rec.chunks[0]}: the audio has 0 samples")
    width, height = image_size(rec.images[0])
    steps = np.diff(rec.ms)
    fps = 1000 / float(np.median(steps)) if len(steps) else 10.0
    span = rec.ms[-1] / 1000
    return {
        "track_id": track_id,
        "piece": track_id,
        "piece_number": rec.number,
        "part": 1,
        "n_parts": 1,
        "instrument": rec.instrument,
        "instrument_code": urmp.INSTRUMENT_CODES[rec.instrument],
        "video_path": str(rec.images[0].parent),
        "audio_path": str(rec.chunks[0].parent),
        "notes_path": None,
        "f0_path": None,
        "video_duration_s": span,
        "audio_duration_s": span,
        "fps": fps,
        "video_width": width,
        "video_height": height,
        "audio_sr": ainfo["sr"],
        "audio_channels": ainfo["channels"],
        "audio_sha256": files_sha256(rec.chunks),
        "split": rec.split,
    }


def build_tracks(root: Path, instruments: list[str], unpaired: str = "error", dedupe: bool = False) -> pd.DataFrame:
    """The tracks manifest (manifests.TRACKS_SCHEMA columns) of a Sub-URMP tree."""
    root = Path(root)
    recordings, _ = suburmp.scan_release(root, instruments, unpaired)
    ids = suburmp.track_ids(recordings)
    seen: dict[str, suburmp.Recording] = {}
    for rec, track_id in zip(recordings, ids):
        if track_id in seen:
            raise suburmp.SubURMPLayoutError(
                f"{rec.images[0]}: recording {rec.name} and {seen[track_id].name} in {rec.images[0].parent} share the "
                f"number {rec.number:02d}; a recording is <instrument>NN, one per number"
            )
        seen[track_id] = rec
    rows = [recording_row(rec, track_id) for rec, track_id in zip(recordings, ids)]
    table = pd.DataFrame(rows)
    table["is_test"] = table["split"].eq("test")
    table = table.sort_values(["is_test", "instrument", "piece_number", "track_id"], ignore_index=True)
    table["take_id"] = "take-" + table["audio_sha256"].str[:16]
    if dedupe:
        table = dedupe_takes(table)
    for (side, instrument), group in table.groupby(["split", "instrument"]):
        log.info("%-5s %-12s %d recording(s), %.1f s", side, instrument, len(group), group["video_duration_s"].sum())
    return table[manifests.TRACKS_SCHEMA.names]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="the Sub-URMP folder holding img/ and chunk/")
    parser.add_argument("--out", required=True, type=Path, help="tracks.parquet to write")
    parser.add_argument("--instruments", nargs="+", required=True, choices=urmp.INSTRUMENT_NAMES,
                        metavar="NAME", help="instruments kept (the project's names)")
    parser.add_argument("--unpaired", choices=suburmp.UNPAIRED_POLICIES, default="error",
                        help="an image without its chunk or the reverse: stop, or skip it and count it")
    parser.add_argument("--dedupe-takes", action="store_true", help="keep one track per take (identical audio)")


def run(args: argparse.Namespace) -> None:
    table = build_tracks(args.root, args.instruments, args.unpaired, args.dedupe_takes)
    manifests.write(table, args.out, "tracks")
    counts = table.groupby("split").size().to_dict()
    log.info("wrote %d Sub-URMP recordings to %s (%s)", len(table), args.out, counts)
