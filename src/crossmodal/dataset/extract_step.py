"""Extract every player's frames, audio and 0.5 s windows from a URMP piece (one decode).

The ``crossmodal extract`` command (:mod:`crossmodal.dataset.extract` does the work). Given the
video's probed values (``--probed``, as the rule passes the tracks manifest's), it starts the
piece's ffmpeg pass before it imports numpy and the rest, so the decode runs while they load.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from crossmodal.dataset.decoder import FrameDecoder, probed_info, start_piece_decoder, to_ms
from crossmodal.dataset.panels import PANEL_FITS

log = logging.getLogger(__name__)


def parse_box(text: str) -> list:
    """``"0.1,0.4"`` -> [0.1, 0.4]; ``"10,400"`` -> [10, 400] (ints stay pixels, floats are fractions)."""
    try:
        values = [json.loads(v) for v in text.split(",")]
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"panel box {text!r} is not LEFT,RIGHT numbers") from err
    if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values):
        raise argparse.ArgumentTypeError(f"panel box {text!r} is not LEFT,RIGHT numbers")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", required=True, type=Path, help="the piece's ensemble video")
    parser.add_argument("--panels", required=True, type=int, help="number of players side by side")
    parser.add_argument("--track", nargs=3, action="append", default=[], metavar=("TRACK_ID", "PART", "AUDIO"),
                        help="a player to extract (repeat for each): its track id, 1-based part (= panel) "
                             "and AuSep WAV; outputs go to OUT_ROOT/TRACK_ID/")
    parser.add_argument("--out-root", type=Path, help="folder holding one output folder per --track")
    parser.add_argument("--track-id", help="one track by hand, e.g. 15_Surprise_3_tbn (with --panel, --audio, --out-dir)")
    parser.add_argument("--audio", type=Path, help="the --track-id player's AuSep WAV")
    parser.add_argument("--panel", type=int, help="the --track-id player's 1-based panel (= part)")
    parser.add_argument("--out-dir", type=Path, help="folder for the --track-id track's three outputs")
    parser.add_argument("--piece", default="", help="the piece's folder name, for messages")
    parser.add_argument("--panel-fit", choices=PANEL_FITS,
                        help="how a panel becomes a square image (default: config dataset.panel_fit's default)")
    parser.add_argument("--boxes", nargs="+", type=parse_box, metavar="LEFT,RIGHT",
                        help="panel edges, one LEFT,RIGHT per part: fractions of the width (0.25) or pixels (480)")
    parser.add_argument("--summary", type=Path, help="CSV of the extracted tracks' boxes and window counts, "
                                                     "written last (what marks the piece complete)")
    parser.add_argument("--window", type=float, default=0.5, help="window length, s (default 0.5)")
    parser.add_argument("--stride", type=float, default=0.1, help="window stride, s (default 0.1)")
    parser.add_argument("--sr", type=int, default=44100, help="audio sample rate, Hz (default 44100)")
    parser.add_argument("--image-size", type=int, default=64, help="image side, px (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="ffmpeg decoding threads")
    parser.add_argument("--probed", nargs=4, metavar=("WIDTH", "HEIGHT", "FPS", "DURATION_S"),
                        help="the video's size, frame rate and duration as the tracks manifest probed them "
                             "(saves a second ffprobe); without it the video is probed")


def _jobs(args: argparse.Namespace) -> list[tuple[str, int, Path, Path]]:
    """(track id, part, audio, output folder) from --track ... --out-root and/or --track-id ... --out-dir."""
    jobs = []
    if args.track and not args.out_root:
        raise ValueError("--track needs --out-root")
    for track_id, part, audio in args.track:
        if not part.isdigit():
            raise ValueError(f"--track {track_id}: part {part!r} is not a whole number")
        jobs.append((track_id, int(part), Path(audio), args.out_root / track_id))
    single = (args.track_id, args.audio, args.panel, args.out_dir)
    if any(v is not None for v in single):
        if any(v is None for v in single):
            raise ValueError("--track-id needs --audio, --panel and --out-dir")
        jobs.append((args.track_id, args.panel, args.audio, args.out_dir))
    if not jobs:
        raise ValueError("name the players to extract: --track TRACK_ID PART AUDIO (with --out-root), "
                         "or --track-id with --audio, --panel and --out-dir")
    return jobs


def _early_decoder(args: argparse.Namespace, vinfo: dict | None) -> FrameDecoder | None:
    """The piece's ffmpeg pass, started now when the probed values allow it; None when they are
    not given or a setting is wrong (extract_piece then finds the mistake and names it)."""
    if vinfo is None or not args.video.is_file() or args.image_size < 1:
        return None
    try:
        return start_piece_decoder(args.video, vinfo, args.panels, args.boxes, args.image_size, args.panel_fit,
                                   to_ms(args.stride, "stride"), args.threads, args.piece)
    except ValueError:
        return None


def run(args: argparse.Namespace) -> None:
    jobs = _jobs(args)
    if args.panel_fit is None:  # the rule always passes it; by hand, the config's default
        from crossmodal.config import section_defaults

        args.panel_fit = section_defaults("dataset")["panel_fit"]
    out_dirs = [out_dir for *_, out_dir in jobs]
    decoder = None
    try:
        vinfo = probed_info(args.video, args.probed) if args.probed else None
        decoder = _early_decoder(args, vinfo)
        from crossmodal.dataset import extract  # numpy and the rest, while ffmpeg decodes

        tracks = [extract.TrackSpec(track_id, part, audio) for track_id, part, audio, _ in jobs]
        results = extract.extract_piece(args.video, tracks, args.panels, args.window, args.stride, args.sr,
                                        args.image_size, fit=args.panel_fit, boxes=args.boxes, piece=args.piece,
                                        threads=args.threads, vinfo=vinfo, decoder=decoder)
        for result, out_dir in zip(results, out_dirs):
            extract.write_outputs(out_dir, result.frames, result.audio, result.windows)
        if args.summary:
            from crossmodal.store import write_text

            write_text(args.summary, extract.piece_summary(results, tracks, args.panel_fit))
    except BaseException:
        if decoder is not None:
            decoder.stop()  # idempotent; ffmpeg must not outlive a failure
        from crossmodal.dataset.extract import remove_outputs

        for out_dir in out_dirs:  # a failed run leaves no output a rerun would trust
            remove_outputs(out_dir)
        raise
