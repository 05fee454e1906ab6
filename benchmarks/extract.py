"""Speed of `crossmodal extract` against decoding the same video with plain ffmpeg.

Extraction decodes each URMP video once; decoding 1080p H.264 is the floor on its cost, so the
measure is extraction speed as a share of decode-only speed (`ffmpeg -i V -f null -`), both
measured in the same run, alternating, median of --repeats runs each. The goal is >= 0.8.
Wall time is the measure; CPU time (user + system) is printed beside it because it does not
depend on what else the machine is running.

The test video is made here, like URMP's: 1920x1080, 29.97 fps, H.264 (x264 veryfast, CABAC and
B-frames, yuv420p), with a 48 kHz 24-bit mono AuSep-like WAV, under benchmarks/out/ (git-ignored,
reused between runs).

    .venv/bin/python benchmarks/extract.py [--duration 25] [--threads 2] [--repeats 3]
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

OUT = Path(__file__).resolve().parent / "out"


def make_inputs(duration: float, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    video = out / f"bench_1080p_{duration:g}s.mp4"
    audio = out / f"bench_48k_{duration:g}s.wav"
    if not video.exists():
        print(f"encoding {video.name} (once) ...", file=sys.stderr)
        tmp = video.with_suffix(".tmp.mp4")
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=size=1920x1080:rate=30000/1001:duration={duration}",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                        str(tmp)], check=True)
        tmp.replace(video)
    if not audio.exists():
        rng = np.random.default_rng(0)
        sf.write(str(audio), (0.1 * rng.standard_normal(int(duration * 48000))).astype(np.float32),
                 48000, subtype="PCM_24")
    return video, audio


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s: user + system of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=25.0, help="video length, s")
    parser.add_argument("--threads", type=int, default=2, help="decoding threads (the rule's threads)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--panels", type=int, default=4)
    parser.add_argument("--panel", type=int, default=2)
    args = parser.parse_args()

    video, audio = make_inputs(args.duration, OUT)
    info = media.video_info(video)
    out_dir = OUT / "extract"
    decode = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-threads", str(args.threads), "-i", str(video),
              "-map", "0:v:0", "-f", "null", "-"]
    extract = [sys.executable, "-m", "crossmodal", "extract", "--track-id", "01_Bench_2_vn",
               "--video", str(video), "--audio", str(audio), "--panel", str(args.panel),
               "--panels", str(args.panels), "--window", "0.5", "--stride", "0.1", "--sr", "44100",
               "--image-size", "64", "--threads", str(args.threads), "--out-dir", str(out_dir)]
    times: dict[str, list[tuple[float, float]]] = {"decode-only": [], "extract": []}
    timed(decode)  # warm the page cache
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        times["decode-only"].append(timed(decode))
        times["extract"].append(timed(extract))
    n_windows = len(manifests.read(out_dir / "windows.parquet", "track_windows"))

    print(f"\nvideo: {video.name}, {info['width']}x{info['height']} {info['fps']:.3f} fps {info['codec']}, "
          f"{info['duration_s']:.2f} s; threads {args.threads}; panel {args.panel}/{args.panels}; "
          f"{n_windows} windows; median of {args.repeats}")
    print(f"{'method':<12} {'wall s':>7} {'video s/s':>10} {'windows/s':>10} {'CPU s':>7}   wall s of each run")
    wall, cpu = {}, {}
    for name, runs in times.items():
        wall[name] = statistics.median(w for w, _ in runs)
        cpu[name] = statistics.median(c for _, c in runs)
        per_s = info["duration_s"] / wall[name]
        windows = f"{n_windows / wall[name]:10.1f}" if name == "extract" else f"{'-':>10}"
        print(f"{name:<12} {wall[name]:7.2f} {per_s:10.2f} {windows} {cpu[name]:7.2f}   "
              + " ".join(f"{w:.2f}" for w, _ in runs))
    print(f"extract speed / decode-only speed = {wall['decode-only'] / wall['extract']:.2f} (goal >= 0.80); "
          f"by CPU time {cpu['decode-only'] / cpu['extract']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
