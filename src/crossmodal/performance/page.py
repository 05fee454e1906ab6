"""The page to watch the performances: results/performances/index.html, static, no server.

One section per performance: the video ``perform`` made of the recording (the real player
beside the generated one, the real sound under both) next to the video ``accompany`` made of
its pictures (the real pictures, the sound I2S drew from them), when there is one. Under each:
the model and a pitch track of the sound you hear (the URMP F0 file of a track, else YIN of
the video's sound, computed here), drawn as an inline SVG line. The videos are
linked by relative paths, so the folder can be copied or opened from disk as it is.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
from pathlib import Path

import numpy as np

from crossmodal.performance import render
from crossmodal.store import write_text

log = logging.getLogger(__name__)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
section { border-top: 1px solid #ccc; padding: 1em 0; }
.pair { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
figure { margin: 0; }
video { display: block; background: #000; max-width: 100%; }
figcaption, .meta { font-size: 0.9em; max-width: 560px; }
svg.pitch { display: block; background: #f6f6f6; margin-top: 0.3em; }
svg.pitch polyline { fill: none; stroke: #c33; stroke-width: 1.5; }
svg.pitch text { font-size: 10px; fill: #666; }
"""

PITCH_WIDTH, PITCH_HEIGHT = 512, 90


def pitch_svg(pitch: dict, duration_s: float, width: int = PITCH_WIDTH, height: int = PITCH_HEIGHT) -> str:
    """An inline SVG of f0 over time (log frequency), one polyline per voiced run."""
    times = np.asarray(pitch.get("times", []), dtype=float)
    f0 = np.asarray([np.nan if v is None else v for v in pitch.get("f0", [])], dtype=float)
    voiced = np.isfinite(f0) & (f0 > 0)
    label = html.escape(pitch.get("source", "pitch"))
    head = (f'<svg class="pitch" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="pitch track">')
    if not voiced.any() or duration_s <= 0:
        return head + f'<text x="4" y="14">{label}: no pitch found</text></svg>'
    low, high = np.log2(f0[voiced].min()) - 0.25, np.log2(f0[voiced].max()) + 0.25
    x = times / duration_s * width
    y = height - 4 - (np.log2(np.where(voiced, f0, 1.0)) - low) / (high - low) * (height - 18)
    runs, current = [], []
    for xi, yi, v in zip(x, y, voiced):
        if v:
            current.append(f"{xi:.1f},{yi:.1f}")
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    lines = "".join(f'<polyline points="{" ".join(r)}"/>' for r in runs if len(r) > 1)
    note = f"{label}: {2 ** (low + 0.25):.0f}-{2 ** (high - 0.25):.0f} Hz (log scale)"
    return head + lines + f'<text x="4" y="12">{html.escape(note)}</text></svg>'


def _video(record: dict, page_dir: Path, folder: Path, duration: float) -> str:
    src = os.path.relpath(folder / record["video"], page_dir)
    width = record.get("display_width")
    return (f'<video controls preload="metadata" src="{html.escape(src)}" data-duration="{duration:.3f}"'
            f'{f" width={width}" if width else ""}></video>')


def perform_figure(record: dict, page_dir: Path, folder: Path) -> str:
    duration = record["frames"] / record["fps"]
    left = "the real player (left) and " if record.get("real_panel") else ""
    model = record["model"]
    chosen = f" (picked by auto: the sound classifier hears {record['instrument_heard']})" if record.get(
        "requested_model") == "auto" else ""
    return (f'<figure class="perform">{_video(record, page_dir, folder, duration)}'
            f"<figcaption>Sound to picture: {left}the player <b>{html.escape(model)}</b> draws from the "
            f"recording, one picture per {1 / record['fps']:.1f} s window{html.escape(chosen)}; the sound is the real "
            f"recording.</figcaption>{pitch_svg(record['pitch'], record['duration_s'])}"
            f'<p class="meta">Model: {html.escape(model)}. Windows: {record["windows"]}. '
            f"Source: {html.escape(Path(record['source']).name)}.</p></figure>")


def accompany_figure(record: dict, page_dir: Path, folder: Path) -> str:
    duration = record["duration_s"]
    return (f'<figure class="accompany">{_video(record, page_dir, folder, duration)}'
            f"<figcaption>Picture to sound: the real pictures (panel {html.escape(record['panel'])}) with the sound "
            f"<b>I2S</b> draws from them, window by window (Griffin-Lim, crossfaded).</figcaption>"
            f"{pitch_svg(record['pitch'], duration)}"
            f'<p class="meta">Model: I2S. The image classifier sees: {html.escape(str(record.get("instrument_seen")))}.'
            f"</p></figure>")


def build_page(records: list[dict], page_dir: Path, folders: list[Path]) -> str:
    """index.html's text for the summaries ``records`` (each next to its video in ``folders``)."""
    by_name: dict[str, dict[str, tuple[dict, Path]]] = {}
    for record, folder in zip(records, folders):
        by_name.setdefault(record["name"], {})[record["kind"]] = (record, folder)
    sections = []
    for name in sorted(by_name):
        kinds = by_name[name]
        figures = []
        if "perform" in kinds:
            figures.append(perform_figure(kinds["perform"][0], page_dir, kinds["perform"][1]))
        if "accompany" in kinds:
            figures.append(accompany_figure(kinds["accompany"][0], page_dir, kinds["accompany"][1]))
        sections.append(f'<section id="{html.escape(name)}"><h2>{html.escape(name)}</h2>'
                        f'<div class="pair">{"".join(figures)}</div></section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Watch and listen: generated performances</title>"
            f"<style>{STYLE}</style></head><body><h1>Watch and listen</h1>"
            "<p>Each recording played through the trained models (Chen et al. 2017 regenerated): on the left, "
            "a player drawn window by window from the sound, beside the real one; on the right, the real "
            "pictures with the sound drawn from them. Pitch tracks under each video follow the sound it "
            "plays.</p>" + "".join(sections) + "</body></html>\n")


#: Sample rate the videos' sound is decoded at for its pitch track.
PITCH_INPUT_SR = 16000


def pitch_of(record: dict, folder: Path) -> dict:
    """The pitch track of the sound a video plays: the recording's URMP F0 file when perform
    had one, else YIN of the video's own sound track (render.pitch_track)."""
    if record.get("f0_file") and Path(record["f0_file"]).is_file():
        a, b = record["seconds"]
        times, f0 = render.read_f0_file(Path(record["f0_file"]), (a, b))
        return render.pitch_record(times, f0, source=f"URMP F0 file {Path(record['f0_file']).name}")
    sound = render.decode_audio(folder / record["video"], PITCH_INPUT_SR)
    what = "the generated sound" if record["kind"] == "accompany" else "the recording"
    return render.pitch_record(*render.pitch_track(sound, PITCH_INPUT_SR), source=f"YIN of {what}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summaries", type=Path, nargs="+", required=True,
                        help="the JSON records perform / accompany wrote beside their videos")
    parser.add_argument("--out", type=Path, required=True, help="the page, index.html")


def run(args: argparse.Namespace) -> None:
    records, folders = [], []
    for path in args.summaries:
        try:
            record = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable performance summary: {err}") from err
        if record.get("kind") not in ("perform", "accompany") or "video" not in record:
            raise ValueError(f"{path}: not a perform/accompany summary (kind {record.get('kind')!r})")
        if not (Path(path).parent / record["video"]).is_file():
            raise ValueError(f"{path}: its video {record['video']} is not beside it")
        record["pitch"] = pitch_of(record, Path(path).parent)
        records.append(record)
        folders.append(Path(path).parent)
    out = Path(args.out)
    write_text(out, build_page(records, out.parent, folders))
    log.info("wrote %s: %d videos", out, len(records))
