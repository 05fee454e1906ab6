"""Speed of extracting a whole URMP piece (`crossmodal extract`, every player) against decoding
its video once with plain ffmpeg.

Extraction decodes each piece's video once for all its players; decoding 1080p H.264 is the
floor on its cost, so the measure is piece extraction speed as a share of decode-only speed
(`ffmpeg -i V -f null -`), both measured in the same run, alternating, median of --repeats
runs each. The goal is >= 0.8. Wall time is the measure; CPU time (user + system) is printed
beside it because it depends less on what else the machine is running. Extraction is given the
video's probed values with --probed (probed once here, untimed), as the workflow passes the
tracks manifest's.

The test video is made here, like URMP's: 1920x1080, 29.97 fps, H.264 (x264 veryfast, CABAC and
B-frames, yuv420p), with 48 kHz 24-bit mono AuSep-like WAVs (one per player), under
benchmarks/out/ (git-ignored, reused between runs). A quartet and a quintet are both cut from
the same video (the players' count sets the panels).

    .venv/bin/python benchmarks/extract.py [--duration 30] [--threads 2] [--repeats 3] [--players 4 5]

A --duration that is a multiple of 30 s above it joins copies of the 30 s video (URMP pieces
last 40 s to 4 min, so --duration 120 is a typical piece).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from crossmodal import manifests, media
from crossmodal.config import section_defaults
from crossmodal.dataset.decoder import PROBED
from crossmodal.dataset.panels import PANEL_FITS

OUT = Path(__file__).resolve().parent / "out"
BASE_S = 30.0


def make_inputs(duration: float, players: int, out: Path) -> tuple[Path, list[Path]]:
    out.mkdir(parents=True, exist_ok=True)
    video = out / f"bench_1080p_{duration:g}s.mp4"
    if not video.exists() and duration > BASE_S and duration % BASE_S == 0:
        # Longer videos are copies of the 30 s one joined without re-encoding (encoding 1080p
        # takes minutes on a busy 2-core machine); timestamps run on.
        base, _ = make_inputs(BASE_S, 0, out)
        listing = out / f"concat_{duration:g}.txt"
        listing.write_text(f"file '{base.name}'\n" * int(duration // BASE_S))
        tmp = video.with_suffix(".tmp.mp4")
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", str(listing), "-c", "copy", str(tmp)], check=True)
        tmp.replace(video)
    if not video.exists():
        print(f"encoding {video.name} (once) ...", file=sys.stderr)
        tmp = video.with_suffix(".tmp.mp4")
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=size=1920x1080:rate=30000/1001:duration={duration}",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                        str(tmp)], check=True)
        tmp.replace(video)
    audio = []
    for part in range(1, players + 1):
        path = out / f"bench_48k_{duration:g}s_{part}.wav"
        if not path.exists():
            rng = np.random.default_rng(part)
            sf.write(str(path), (0.1 * rng.standard_normal(int(duration * 48000))).astype(np.float32),
                     48000, subtype="PCM_24")
        audio.append(path)
    return video, audio


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s: user + system of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def extract_command(video: Path, info: dict, audio: list[Path], threads: int, fit: str, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "crossmodal", "extract", "--video", str(video), "--panels", str(len(audio)),
           "--window", "0.5", "--stride", "0.1", "--sr", "44100", "--image-size", "64", "--panel-fit", fit,
           "--threads", str(threads), "--out-root", str(out), "--summary", str(out / "summary.csv"),
           "--probed", *(repr(info[key]) for key in PROBED)]
    for part, path in enumerate(audio, start=1):
        cmd += ["--track", f"01_Bench_{part}_vn", str(part), str(path)]
    return cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="video length, s (the issue measured 30 s)")
    parser.add_argument("--threads", type=int, default=2, help="decoding threads (the rule's threads)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--players", type=int, nargs="+", default=[4, 5], help="pieces to extract: players each")
    parser.add_argument("--panel-fit", default=section_defaults("dataset")["panel_fit"], choices=PANEL_FITS)
    args = parser.parse_args()

    video, audio = make_inputs(args.duration, max(args.players), OUT)
    info = media.video_info(video)
    decode = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-threads", str(args.threads), "-i", str(video),
              "-map", "0:v:0", "-f", "null", "-"]
    names = {n: f"extract x{n}" for n in args.players}
    times: dict[str, list[tuple[float, float]]] = {"decode-only": [], **{name: [] for name in names.values()}}
    timed(decode)  # warm the page cache
    for _ in range(args.repeats):  # alternate, so all see the same machine load
        times["decode-only"].append(timed(decode))
        for n, name in names.items():
            times[name].append(timed(extract_command(video, info, audio[:n], args.threads, args.panel_fit,
                                                     OUT / f"extract_{n}")))
    n_windows = {n: sum(len(manifests.read(OUT / f"extract_{n}" / f"01_Bench_{p}_vn" / "windows.parquet",
                                           "track_windows")) for p in range(1, n + 1)) for n in names}

    print(f"\nvideo: {video.name}, {info['width']}x{info['height']} {info['fps']:.3f} fps {info['codec']}, "
          f"{info['duration_s']:.2f} s; threads {args.threads}; panel fit {args.panel_fit}; median of {args.repeats}")
    print(f"{'method':<12} {'wall s':>7} {'video s/s':>10} {'windows/s':>10} {'CPU s':>7}   wall s of each run")
    wall, cpu = {}, {}
    for name, runs in times.items():
        wall[name] = statistics.median(w for w, _ in runs)
        cpu[name] = statistics.median(c for _, c in runs)
        per_s = info["duration_s"] / wall[name]
        n = next((k for k, v in names.items() if v == name), None)
        windows = f"{n_windows[n] / wall[name]:10.1f}" if n else f"{'-':>10}"
        print(f"{name:<12} {wall[name]:7.2f} {per_s:10.2f} {windows} {cpu[name]:7.2f}   "
              + " ".join(f"{w:.2f}" for w, _ in runs))
    for n, name in names.items():
        print(f"{n} players ({n_windows[n]} windows): piece extraction speed / decode-only speed = "
              f"{wall['decode-only'] / wall[name]:.2f} (goal >= 0.80); by CPU time "
              f"{cpu['decode-only'] / cpu[name]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
