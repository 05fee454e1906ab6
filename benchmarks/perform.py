"""Speed of `crossmodal perform` on a 60 s recording against ffmpeg encoding the same frames alone.

perform decodes the recording, computes every window's LMS, encodes it with the sound
classifier, generates one picture per window and pipes the frames to ffmpeg (H.264 + the
recording as AAC). Encoding is the floor on its cost, so the measure is perform's frames per
second as a share of encode-only frames per second: the same number of frames, of the same
size and content (perform's own output decoded back to raw pictures), with the same sound, the
same x264 and AAC settings and threads, piped from a file by plain ffmpeg. Both are measured in
the same run, alternating, median of --repeats each; the goal is >= 0.5 on CPU. Wall time is the
measure; CPU time (user + system, ffmpeg's included) is printed beside it because it depends
less on what else the machine is running.

perform runs in this process (``crossmodal.cli.main``, after one warm-up call), so Python's
start-up and imports are not counted; loading the models is. The networks have the sizes of
config.yaml's defaults (sizes, not training, set the cost), built untrained here; inputs and
outputs go to benchmarks/out/ (git-ignored).

    .venv/bin/python benchmarks/perform.py [--seconds 60] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from crossmodal import cli, media
from crossmodal.config import validate_config

OUT = Path(__file__).resolve().parent / "out" / "perform"


def make_models(out: Path, config: dict) -> None:
    """Untrained S2I-C and LMS audio classifier of the default config's sizes, in the steps' formats."""
    from crossmodal.models.gan import build_gan
    from crossmodal.sound.classifier import ClassifierSettings, build_classifier

    torch.manual_seed(0)
    ac = config["audio_classifier"]
    settings = ClassifierSettings(channels=tuple(ac["channels"]), fc_units=ac["fc_units"])
    classifier = build_classifier((128, 44), 4, settings)
    extra = {"kind": "audio_classifier", "representation": "lms", "conv_layers": 4, "in_shape": [128, 44],
             "settings": json.dumps(dataclasses.asdict(settings))}
    torch.save({"models": {"classifier": classifier.state_dict()}, "extra": extra}, out / "sound.pt")
    gan = config["gan"]
    g_kwargs = {"encoding_dim": 128, "condition_dim": gan["condition_dim"], "z_dim": gan["z_dim"], "ngf": gan["s2i"]["ngf"]}
    d_kwargs = {"encoding_dim": 128, "condition_dim": gan["condition_dim"], "ndf": gan["s2i"]["ndf"]}
    g, d = build_gan("s2i", g_kwargs, d_kwargs)
    (out / "gan" / "s2i_c").mkdir(parents=True, exist_ok=True)
    torch.save({"models": {"generator": g.state_dict(), "discriminator": d.state_dict()},
                "extra": {"kind": "s2i", "kwargs": {"generator": g_kwargs, "discriminator": d_kwargs}}},
               out / "gan" / "s2i_c" / "model.pt")


def make_recording(path: Path, seconds: float) -> None:
    """A melody of 0.4 s notes with a little noise, 48 kHz stereo (resampled and downmixed by perform)."""
    sr = 48000
    t = np.arange(int(seconds * sr)) / sr
    pitch = 220 * 2 ** (np.random.default_rng(0).integers(0, 24, int(seconds / 0.4) + 1)[(t / 0.4).astype(int)] / 12)
    y = 0.4 * np.sin(2 * np.pi * np.cumsum(pitch) / sr) + 0.01 * np.random.default_rng(1).standard_normal(len(t))
    sf.write(str(path), np.stack([y, 0.8 * y], 1).astype(np.float32), sr, subtype="PCM_16")


def cpu_seconds() -> float:
    self, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self.ru_utime + self.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the recording, s")
    parser.add_argument("--threads", type=int, default=2, help="torch and x264 threads (the rule's threads)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = validate_config({})
    perf = config["performances"]
    OUT.mkdir(parents=True, exist_ok=True)
    make_models(OUT, config)
    recording = OUT / f"melody_{args.seconds:g}s.wav"
    if not recording.exists():
        make_recording(recording, args.seconds)
    video = OUT / "perform.mp4"
    perform = ["perform", "--audio", str(recording), "--out", str(video), "--model", "s2i_c", "--gan-dir",
               str(OUT / "gan"), "--sound-classifier", str(OUT / "sound.pt"), "--device", "cpu",
               "--threads", str(args.threads)]
    assert cli.main(perform) == 0  # warm-up; also the frames the baseline encodes
    info = media.video_info(video)
    n_frames = int(json.loads(video.with_suffix(".json").read_text())["frames"])
    size = 64
    raw = OUT / "frames.rgb"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-vf", f"scale={size}:{size}:flags=area",
                    "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", str(raw)], check=True)
    sound = OUT / "sound.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(recording), "-ac", "1", "-ar", "44100",
                    "-c:a", "pcm_f32le", str(sound)], check=True)
    encode = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo",
              "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-framerate", "10", "-i", "pipe:0", "-i", str(sound),
              "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "160k",
              "-vf", f"scale=-2:{perf['display_height']}:flags=neighbor", "-c:v", "libx264", "-preset", perf["preset"],
              "-crf", str(perf["crf"]), "-pix_fmt", "yuv420p", "-threads", str(args.threads),
              "-movflags", "+faststart", "-f", "mp4", str(OUT / "encode_only.mp4")]

    def run_encode():
        with open(raw, "rb") as frames:
            subprocess.run(encode, stdin=frames, check=True)

    def run_perform():
        assert cli.main(perform) == 0

    times: dict[str, list[tuple[float, float]]] = {"encode-only": [], "perform": []}
    for _ in range(args.repeats):  # alternate, so both see the same machine load
        for name, job in (("encode-only", run_encode), ("perform", run_perform)):
            cpu, start = cpu_seconds(), time.perf_counter()
            job()
            times[name].append((time.perf_counter() - start, cpu_seconds() - cpu))

    print(f"\nrecording {args.seconds:g} s -> {n_frames} frames at {info['fps']:g} fps, {info['width']}x{info['height']}; "
          f"threads {args.threads}; median of {args.repeats}")
    print(f"{'method':<12} {'wall s':>7} {'frames/s':>9} {'CPU s':>7}   wall s of each run")
    wall, cpu = {}, {}
    for name, runs in times.items():
        wall[name] = statistics.median(w for w, _ in runs)
        cpu[name] = statistics.median(c for _, c in runs)
        print(f"{name:<12} {wall[name]:7.2f} {n_frames / wall[name]:9.1f} {cpu[name]:7.2f}   "
              + " ".join(f"{w:.2f}" for w, _ in runs))
    print(f"perform speed / encode-only speed = {wall['encode-only'] / wall['perform']:.2f} (goal >= 0.50); "
          f"by CPU time {cpu['encode-only'] / cpu['perform']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
