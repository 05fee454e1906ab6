"""Scan a URMP tree into the tracks manifest: one row per player, with its take and split.

A track is one player of one piece: the piece's ensemble video (the player is one panel of it)
and the player's separated audio (AuSep). Everything about a track is probed from its files,
never assumed. Tracks whose decoded audio is identical are one recorded take (URMP reuses takes
across instrumentation variants, e.g. the viola of 24_Pirates and 25_Pirates), and the
train/test split keeps every take on one side, so no recording is both trained and tested on.

The split follows the paper's Sec. 4 ("about 80% videos for training ... a video will not
appear in both"), balanced per instrument: for each instrument, seeded search picks the takes
whose duration comes closest to (1 - train_fraction) of the instrument's total for test, with
at least one take on each side when the instrument has two or more. A split file (CSV with
columns track_id,split) replaces it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, media, urmp

log = logging.getLogger(__name__)

#: Random orders tried per instrument when choosing its test takes.
SPLIT_TRIES = 256


class IncompletePieceError(urmp.URMPLayoutError):
    """A piece lacks its video or a kept player's AuSep track; the message names the file."""


class SplitFileError(ValueError):
    """A user split file is malformed or splits a take; the message names the file and the row."""


# ---------------------------------------------------------------------------------------------
# Scanning


def audio_sha256(path: Path) -> str:
    """sha256 of the decoded samples (int32 PCM, with sample rate and channel count).

    Hashing samples rather than file bytes finds the same take behind different headers.
    """
    import soundfile

    digest = hashlib.sha256()
    try:
        with soundfile.SoundFile(str(path)) as f:
            digest.update(f"{f.samplerate}:{f.channels}:".encode())
            for block in f.blocks(blocksize=1 << 16, dtype="int32", always_2d=True):
                digest.update(np.ascontiguousarray(block).tobytes())
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise media.MediaError(f"{path}: cannot decode the audio ({err})") from err
    return digest.hexdigest()


def scan_piece(piece_dir: Path, instruments: set[str]) -> list[dict]:
    """Rows (without take_id and split) of the players of ``piece_dir`` whose instrument is kept.

    The instrument comes from the folder name (15_Surprise part 3 is a trombone though its files
    say tpt); file names only find files. IncompletePieceError naming the missing file(s) when the
    video or a kept player's AuSep track is missing.
    """
    piece = urmp.parse_piece_dir(piece_dir.name)
    parts = [p for p in range(1, len(piece.codes) + 1) if piece.instrument(p) in instruments]
    if not parts:
        return []
    video = piece_dir / piece.video_name()
    audios = {p: urmp.find_part_file(piece_dir, piece, "AuSep", p) for p in parts}
    missing = [str(video)] if not video.is_file() else []
    missing += [str(piece_dir / piece.part_file_name("AuSep", p)) for p, a in audios.items() if a is None]
    if missing:
        raise IncompletePieceError(f"piece {piece_dir.name} is incomplete: missing {', '.join(missing)}")
    vinfo = media.video_info(video)
    rows = []
    for part in parts:
        audio = audios[part]
        ainfo = media.audio_info(audio)
        if ainfo["frames"] == 0:
            raise media.MediaError(f"{audio}: the audio has 0 samples")
        notes = urmp.find_part_file(piece_dir, piece, "Notes", part)
        f0 = urmp.find_part_file(piece_dir, piece, "F0s", part)
        rows.append({
            "track_id": piece.track_id(part),
            "piece": piece.dir_name,
            "piece_number": piece.number,
            "part": part,
            "n_parts": len(piece.codes),
            "instrument": piece.instrument(part),
            "instrument_code": piece.codes[part - 1],
            "video_path": str(video),
            "audio_path": str(audio),
            "notes_path": str(notes) if notes else None,
            "f0_path": str(f0) if f0 else None,
            "video_duration_s": vinfo["duration_s"],
            "audio_duration_s": ainfo["duration_s"],
            "fps": vinfo["fps"],
            "video_width": vinfo["width"],
            "video_height": vinfo["height"],
            "audio_sr": ainfo["sr"],
            "audio_channels": ainfo["channels"],
            "audio_sha256": audio_sha256(audio),
        })
    return rows


def scan_tree(root: Path, instruments: list[str], pieces: list[str] = (), on_incomplete: str = "error") -> pd.DataFrame:
    """One row per kept player of every (or every named) piece under ``root``, with take_id.

    ``on_incomplete`` is ``error`` (IncompletePieceError) or ``skip`` (log and leave the piece out).
    """
    piece_dirs = urmp.list_piece_dirs(root)
    if pieces:
        found = {p.name: p for p in piece_dirs}
        absent = [p for p in pieces if p not in found]
        if absent:
            raise urmp.URMPLayoutError(f"URMP root {root} has no piece folder(s) {absent}")
        piece_dirs = [found[p] for p in sorted(set(pieces))]
    rows, skipped = [], []
    for piece_dir in piece_dirs:
        try:
            rows += scan_piece(piece_dir, set(instruments))
        except IncompletePieceError as err:
            if on_incomplete != "skip":
                raise
            log.warning("skipping %s", err)
            skipped.append(piece_dir.name)
    if skipped:
        log.warning("skipped %d incomplete piece(s): %s", len(skipped), ", ".join(skipped))
    if not rows:
        raise urmp.URMPLayoutError(f"URMP root {root}: no track of the instruments {sorted(instruments)} found")
    table = pd.DataFrame(rows).sort_values(["piece_number", "piece", "part"], ignore_index=True)
    table["take_id"] = "take-" + table["audio_sha256"].str[:16]
    shared = table[table.duplicated("take_id", keep=False)]
    for take, group in shared.groupby("take_id"):
        log.info("%s is shared by %s (identical audio)", take, ", ".join(group["track_id"]))
    return table


def dedupe_takes(table: pd.DataFrame) -> pd.DataFrame:
    """Keeps the first track (in ``table``'s order) of each take and logs the ones dropped.

    For ``data.dedupe_takes``: URMP reuses recorded takes across instrumentation variants of a
    piece (24/25_Pirates), which the paper counts once per piece; this counts them once.
    """
    dropped = table[table.duplicated("take_id", keep="first")]
    for _, row in dropped.iterrows():
        kept = table.loc[table["take_id"] == row["take_id"], "track_id"].iloc[0]
        log.info("dedupe_takes: dropping %s (same take as %s)", row["track_id"], kept)
    if len(dropped):
        log.warning("dedupe_takes: kept one track per take, dropped %d of %d tracks", len(dropped), len(table))
    return table.drop(index=dropped.index).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The split (pure)


def choose_test_takes(weights: dict[str, float], test_share: float, rng: random.Random) -> set[str]:
    """Takes for test whose total weight is closest to ``test_share`` of the whole.

    Greedy over ``SPLIT_TRIES`` random orders (a take joins test when it brings the total
    closer to the target); at least one take on each side when there are two or more, a single
    take stays in train.
    """
    takes = sorted(weights)
    if len(takes) < 2:
        return set()
    target = test_share * sum(weights.values())
    best, best_gap = None, float("inf")
    for _ in range(SPLIT_TRIES):
        order = takes[:]
        rng.shuffle(order)
        chosen, total = [], 0.0
        for take in order:
            if abs(total + weights[take] - target) < abs(total - target):
                chosen.append(take)
                total += weights[take]
        if not chosen:
            chosen, total = [order[0]], weights[order[0]]
        if len(chosen) == len(takes):
            total -= weights[chosen.pop()]
        gap = abs(total - target)
        if gap < best_gap - 1e-9:
            best, best_gap = set(chosen), gap
    return best


def split_by_take(tracks: pd.DataFrame, train_fraction: float, seed: int) -> pd.Series:
    """'train' or 'test' per row of ``tracks`` (columns track_id, instrument, take_id, duration_s).

    Balanced per instrument by duration, every take on one side, deterministic given ``seed``.
    A take that spans instruments (identical audio under two instruments) is placed with the
    first of them in name order.
    """
    if not 0 < train_fraction <= 1:
        raise ValueError(f"train fraction must be in (0, 1], got {train_fraction}")
    if train_fraction == 1:
        return pd.Series("train", index=tracks.index)
    take_instrument = tracks.groupby("take_id")["instrument"].min()
    take_weight = tracks.groupby("take_id")["duration_s"].sum()
    test: set[str] = set()
    for instrument in sorted(set(take_instrument)):
        takes = take_instrument.index[take_instrument == instrument]
        rng = random.Random(f"{seed}:{instrument}")
        test |= choose_test_takes({t: float(take_weight[t]) for t in takes}, 1 - train_fraction, rng)
    return tracks["take_id"].map(lambda t: "test" if t in test else "train")


def read_split_file(path: Path, tracks: pd.DataFrame) -> pd.Series:
    """The split per row of ``tracks`` from a CSV (columns track_id,split); SplitFileError if bad.

    Every track must be listed once with train or test, and all tracks of a take on one side.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise SplitFileError(f"split file {path}: cannot read it as CSV ({err})") from err
    missing_cols = {"track_id", "split"} - set(table.columns)
    if missing_cols:
        raise SplitFileError(f"split file {path}: missing column(s) {sorted(missing_cols)}; expected track_id,split")
    table["track_id"] = table["track_id"].str.strip()
    table["split"] = table["split"].str.strip()
    bad = table[~table["split"].isin(["train", "test"])]
    if len(bad):
        row = bad.index[0]
        raise SplitFileError(
            f"split file {path}: row {row + 2} ({bad.at[row, 'track_id']}) has split "
            f"{bad.at[row, 'split']!r}; expected train or test"
        )
    dup = table[table["track_id"].duplicated()]
    if len(dup):
        raise SplitFileError(f"split file {path}: track {dup['track_id'].iloc[0]} is listed more than once")
    given = table.set_index("track_id")["split"]
    absent = [t for t in tracks["track_id"] if t not in given.index]
    if absent:
        raise SplitFileError(f"split file {path}: does not list track(s) {absent[:10]}"
                             + (f" and {len(absent) - 10} more" if len(absent) > 10 else ""))
    extra = sorted(set(given.index) - set(tracks["track_id"]))
    if extra:
        log.warning("split file %s lists %d track(s) not in this run, ignored: %s", path, len(extra), extra[:10])
    split = tracks["track_id"].map(given)
    for take, sides in split.groupby(tracks["take_id"]):
        if sides.nunique() > 1:
            members = tracks.loc[sides.index, "track_id"] + "=" + sides
            raise SplitFileError(
                f"split file {path}: take {take} (identical audio) is split across train and test: "
                f"{', '.join(members)}"
            )
    return split


def log_split(tracks: pd.DataFrame) -> None:
    """One line per instrument: tracks, takes and seconds on each side."""
    for instrument, group in tracks.groupby("instrument"):
        parts = []
        for side in ("train", "test"):
            g = group[group["split"] == side]
            parts.append(f"{side} {len(g)} tracks/{g['take_id'].nunique()} takes/{g['duration_s'].sum():.1f} s")
        log.info("%-12s %s", instrument, "; ".join(parts))


# ---------------------------------------------------------------------------------------------
# The step


def build_tracks(root: Path, instruments: list[str], pieces: list[str] = (), on_incomplete: str = "error",
                 train_fraction: float = 0.8, split_file: Path | None = None, seed: int = 0,
                 dedupe: bool = False) -> pd.DataFrame:
    """The tracks manifest (manifests.TRACKS_SCHEMA columns) of a URMP tree; with ``dedupe``,
    one track per take (before the split)."""
    table = scan_tree(Path(root), instruments, pieces, on_incomplete)
    if dedupe:
        table = dedupe_takes(table)
    table["duration_s"] = table[["video_duration_s", "audio_duration_s"]].min(axis=1)
    if split_file:
        table["split"] = read_split_file(split_file, table)
    else:
        table["split"] = split_by_take(table, train_fraction, seed)
    log_split(table)
    return table.drop(columns="duration_s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="URMP Dataset/ folder")
    parser.add_argument("--out", required=True, type=Path, help="tracks.parquet to write")
    parser.add_argument("--instruments", nargs="+", required=True, choices=urmp.INSTRUMENT_NAMES,
                        metavar="NAME", help="instruments kept (Sub-URMP names)")
    parser.add_argument("--piece", action="append", default=[], help="a piece folder to use (repeatable; default all)")
    parser.add_argument("--on-incomplete", choices=["error", "skip"], default="error",
                        help="a piece missing its video or an AuSep track: stop, or skip it")
    parser.add_argument("--train-fraction", type=float, default=0.8, help="share of each instrument's duration in train")
    parser.add_argument("--split-file", type=Path, help="CSV track_id,split that replaces the computed split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dedupe-takes", action="store_true",
                        help="keep one track per take (identical audio), the first in piece order")


def run(args: argparse.Namespace) -> None:
    table = build_tracks(args.root, args.instruments, args.piece, args.on_incomplete,
                         args.train_fraction, args.split_file, args.seed, args.dedupe_takes)
    manifests.write(table, args.out, "tracks")
    log.info("wrote %d tracks (%d takes) to %s", len(table), table["take_id"].nunique(), args.out)
