"""Extract one player's frames, audio and 0.5 s windows from a URMP piece (the paper's Sec. 4).

Window k starts at t = k * stride and lasts ``window`` seconds. Its image is the FIRST video
frame presented at or after t ("the first frame of each video chunk"), cropped to the player's
panel and scaled to S x S; its sound is [t, t + window) of the player's separated track
(AuSep), downmixed to mono and resampled to ``sr``.

The video is decoded once: ffmpeg crops, scales and pipes rgb24 frames while its ``showinfo``
filter prints each delivered frame's presentation timestamp on stderr (read by a second thread,
so neither pipe can fill up and stall ffmpeg). Frames are chosen by those real timestamps, not
by frame counting, and only the chosen ones are kept. All time arithmetic is in integers
(milliseconds, samples, stream time-base ticks), so 0.1 s steps never drift.

Outputs in --out-dir, written atomically, all three or none:
frames.npy (uint8 [n_windows, S, S, 3], row k = window k's image), audio.npy (float32
[n_samples], the whole track at sr) and windows.parquet (the track_windows manifest).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import logging
import math
import os
import queue
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
import pandas as pd

from crossmodal import manifests, media

log = logging.getLogger(__name__)

OUTPUTS = ("frames.npy", "audio.npy", "windows.parquet")
#: A decode that delivers fewer than this share of the frames the probed duration promises is a
#: truncated or corrupt video.
MIN_FRAME_SHARE = 0.9
#: Trailing windows that lack a frame are dropped (with a warning) when the video's last frame
#: is at most this short of them; a larger gap is an error.
MAX_MISSING_TAIL_S = 1.0
#: Seconds to wait for a frame's timestamp; it is printed before the frame is piped, so a wait
#: this long means ffmpeg's output could not be parsed.
TIMESTAMP_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------------------------
# Window arithmetic (pure, integer)


def to_ms(seconds: float, name: str) -> int:
    """``seconds`` as a positive whole number of milliseconds; ValueError naming ``name`` if not."""
    ms = round(seconds * 1000)
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6:
        raise ValueError(f"{name} = {seconds} s must be a positive whole number of milliseconds")
    return ms


@dataclass(frozen=True)
class WindowGrid:
    """Windows of ``window_ms`` every ``stride_ms`` over audio at ``sr`` Hz.

    Window k starts at ``k * stride_ms`` ms, i.e. at sample ``floor(k * stride_ms * sr / 1000)``,
    and spans exactly ``win_samples = window_ms * sr / 1000`` samples.
    """

    window_ms: int
    stride_ms: int
    sr: int

    def __post_init__(self):
        if self.window_ms <= 0 or self.stride_ms <= 0 or self.sr <= 0:
            raise ValueError(f"window, stride and sr must be positive: {self}")
        if (self.window_ms * self.sr) % 1000:
            raise ValueError(
                f"a {self.window_ms} ms window at {self.sr} Hz is not a whole number of samples"
            )

    @property
    def win_samples(self) -> int:
        return self.window_ms * self.sr // 1000

    def count(self, duration_samples: int) -> int:
        """Number of whole windows in ``duration_samples``: floor((D - window) / stride) + 1.

        Window k fits when ``floor(k * stride_ms * sr / 1000) + win_samples <= D``; a partial
        last window is excluded. 0 when D is shorter than one window.
        """
        room = duration_samples - self.win_samples
        if room < 0:
            return 0
        # floor(k * s * sr / 1000) <= room  <=>  k * s * sr < (room + 1) * 1000
        return ((room + 1) * 1000 - 1) // (self.stride_ms * self.sr) + 1

    def start_ms(self, n: int) -> np.ndarray:
        """int64 [n]: window starts t_k in milliseconds."""
        return np.arange(n, dtype=np.int64) * self.stride_ms

    def start_samples(self, n: int) -> np.ndarray:
        """int64 [n]: window starts in samples at sr."""
        return self.start_ms(n) * self.sr // 1000


def duration_samples(seconds: float, sr: int) -> int:
    """A probed duration in whole samples (floor, forgiving float noise below a microsample)."""
    return int(math.floor(seconds * sr + 1e-6))


def frame_thresholds(start_ms: np.ndarray, time_base: Fraction) -> list[int]:
    """Smallest pts (in ``time_base`` ticks) at or after each window start (ms)."""
    num, den = time_base.numerator, time_base.denominator
    # pts * num / den >= t / 1000  <=>  pts >= ceil(t * den / (num * 1000))
    return [-((-int(t) * den) // (num * 1000)) for t in start_ms]


class FrameChooser:
    """Gives each window the first frame, in delivery order, whose pts reaches its start."""

    def __init__(self, thresholds: list[int]):
        self.thresholds = thresholds
        self.next = 0  # first window still without a frame

    @property
    def done(self) -> bool:
        return self.next >= len(self.thresholds)

    def windows_for(self, pts: int) -> range:
        """Windows whose image is the frame with presentation timestamp ``pts``."""
        first = self.next
        while self.next < len(self.thresholds) and pts >= self.thresholds[self.next]:
            self.next += 1
        return range(first, self.next)


def choose_frames(pts: np.ndarray, time_base: Fraction, start_ms: np.ndarray) -> np.ndarray:
    """int64 [n_windows]: for each window start, the index of the first frame at or after it.

    ``pts`` [n_frames] are the frames' timestamps in delivery (presentation) order; -1 where no
    frame reaches the start.
    """
    chooser = FrameChooser(frame_thresholds(start_ms, time_base))
    chosen = np.full(len(start_ms), -1, dtype=np.int64)
    for i, p in enumerate(pts):
        chosen[chooser.windows_for(int(p))] = i
    return chosen


# ---------------------------------------------------------------------------------------------
# Audio (pure, then the file edge)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """float32 [n, channels] -> [n]: the channel mean (librosa's downmix)."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32)


def resampled_length(n: int, sr_in: int, sr: int) -> int:
    """Samples after resampling ``n`` samples from ``sr_in`` to ``sr`` (librosa's rule: ceil)."""
    return n if sr_in == sr else -(-n * sr // sr_in)


def resample(y: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    """float32 [n] at ``sr_in`` -> [ceil(n * sr / sr_in)] at ``sr``, with soxr HQ as librosa does."""
    if sr_in == sr:
        return y.astype(np.float32, copy=False)
    import soxr

    out = soxr.resample(y, sr_in, sr, quality="HQ").astype(np.float32, copy=False)
    n = resampled_length(len(y), sr_in, sr)
    if len(out) >= n:
        return out[:n]
    return np.pad(out, (0, n - len(out)))


def load_audio(path: Path, sr: int) -> np.ndarray:
    """The sound file at ``path`` as float32 [n] mono at ``sr`` Hz; MediaError naming the file."""
    import soundfile

    try:
        samples, sr_in = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise media.MediaError(f"{path}: cannot decode the audio ({err})") from err
    if len(samples) == 0:
        raise media.MediaError(f"{path}: the audio has 0 samples")
    if samples.shape[1] > 1:
        log.info("%s: downmixing %d channels to mono", path, samples.shape[1])
    if sr_in != sr:
        log.info("%s: resampling %d Hz -> %d Hz", path, sr_in, sr)
    return resample(to_mono(samples), sr_in, sr)


# ---------------------------------------------------------------------------------------------
# Video: one ffmpeg pass, frames on stdout, timestamps on stderr

_FRAME_LINE = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:")
_TIME_BASE_LINE = re.compile(r"config in time_base:\s*(\d+)/(\d+)")


def panel_crop(width: int, height: int, panel: int, panels: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of 1-based ``panel`` of ``panels`` equal-width panels side by side."""
    if not 1 <= panel <= panels:
        raise ValueError(f"panel {panel} is not between 1 and the number of panels ({panels})")
    x0, x1 = (panel - 1) * width // panels, panel * width // panels
    if x1 - x0 < 2:
        raise ValueError(f"a {width} px wide video cannot hold {panels} panels")
    return x0, 0, x1 - x0, height


def _stderr_reader(stream, events: queue.Queue, tail: collections.deque) -> None:
    """Turns ffmpeg's stderr into ('time_base', Fraction) and ('frame', n, pts) events."""
    try:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if "showinfo" in line:
                if m := _FRAME_LINE.search(line):
                    events.put(("frame", int(m[1]), int(m[2])))
                elif m := _TIME_BASE_LINE.search(line):
                    events.put(("time_base", Fraction(int(m[1]), int(m[2]))))
                continue  # side-data lines of showinfo
            if line:
                tail.append(line)
    finally:
        events.put(None)


@dataclass
class DecodedFrames:
    """The frames chosen for each window, with where they came from."""

    images: np.ndarray        # uint8 [n_windows, S, S, 3]
    frame_index: np.ndarray   # int64 [n_windows], -1 where no frame reached the window
    frame_time_s: np.ndarray  # float64 [n_windows]
    n_frames: int             # frames delivered by the decode
    last_time_s: float        # time of the last delivered frame


def decode_panel_frames(
    video: Path, crop: tuple[int, int, int, int], image_size: int, start_ms: np.ndarray,
    threads: int = 1, limit_s: float | None = None, expected_frames: int | None = None,
) -> DecodedFrames:
    """Decodes ``video`` once and keeps, per window start, the first frame at or after it.

    ``crop`` is (x, y, w, h) in pixels; frames are scaled to ``image_size`` square with area
    averaging. ``limit_s`` stops decoding after that many seconds. MediaError naming the file
    when ffmpeg fails or its output cannot be followed.
    """
    x, y, w, h = crop
    size = image_size
    frame_bytes = size * size * 3
    in_args = {"threads": threads}
    if limit_s is not None:
        in_args["t"] = f"{limit_s:.6f}"
    stream = (
        ffmpeg.input(str(video), **in_args)
        .video.crop(x, y, w, h)
        .filter("scale", size, size, flags="area")
        .filter("showinfo", checksum=0)
    )
    cmd = (
        ffmpeg.output(stream, "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
        .global_args("-hide_banner", "-nostats", "-nostdin", "-loglevel", "info")
    )
    log.debug("ffmpeg %s", " ".join(cmd.get_args()))
    proc = cmd.run_async(cmd=media.ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
    events: queue.Queue = queue.Queue()
    tail: collections.deque = collections.deque(maxlen=20)
    reader = threading.Thread(target=_stderr_reader, args=(proc.stderr, events, tail), daemon=True)
    reader.start()

    n_windows = len(start_ms)
    images = np.zeros((n_windows, size, size, 3), dtype=np.uint8)
    frame_index = np.full(n_windows, -1, dtype=np.int64)
    frame_time = np.full(n_windows, np.nan)
    time_base: Fraction | None = None
    chooser: FrameChooser | None = None
    n_frames, last_time, next_log = 0, float("nan"), time.monotonic() + 30
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if not buf:
                break
            if len(buf) < frame_bytes:
                raise media.MediaError(f"{video}: ffmpeg stopped in the middle of a frame")
            while True:  # this frame's timestamp (printed before the frame was piped)
                try:
                    event = events.get(timeout=TIMESTAMP_TIMEOUT_S)
                except queue.Empty:
                    event = None
                if event is None:
                    raise media.MediaError(f"{video}: ffmpeg delivered frame {n_frames} without a timestamp")
                if event[0] == "time_base":
                    time_base = event[1]
                    chooser = FrameChooser(frame_thresholds(start_ms, time_base))
                    continue
                break
            if chooser is None:
                raise media.MediaError(f"{video}: ffmpeg reported no time base before the first frame")
            _, n, pts = event
            chosen = chooser.windows_for(pts)
            if len(chosen):
                images[chosen.start:chosen.stop] = np.frombuffer(buf, np.uint8).reshape(size, size, 3)
                frame_index[chosen.start:chosen.stop] = n
                frame_time[chosen.start:chosen.stop] = float(pts * time_base)
            n_frames += 1
            last_time = float(pts * time_base)
            if time.monotonic() > next_log:
                log.info("%s: %d frames decoded (%.1f s), %d/%d windows", video.name, n_frames,
                         last_time, chooser.next, n_windows)
                next_log = time.monotonic() + 30
        proc.wait()
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    if proc.returncode != 0:
        detail = tail[-1] if tail else f"exit status {proc.returncode}"
        raise media.MediaError(f"{video}: ffmpeg cannot decode it ({detail})")
    if expected_frames and n_frames < MIN_FRAME_SHARE * expected_frames:
        raise media.MediaError(
            f"{video}: decoding yielded {n_frames} frames where its probed duration promises about "
            f"{expected_frames}; the file is truncated or corrupt"
        )
    return DecodedFrames(images, frame_index, frame_time, n_frames, last_time)


# ---------------------------------------------------------------------------------------------
# The step


def extract_track(
    track_id: str, video: Path, audio: Path, panel: int, panels: int, window_s: float,
    stride_s: float, sr: int, image_size: int, threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(frames uint8 [n, S, S, 3], audio float32 [samples] at sr, track_windows table) of a track.

    D = min(video duration, audio duration); windows k = 0 .. floor((D - window) / stride).
    """
    video, audio = Path(video), Path(audio)
    grid = WindowGrid(to_ms(window_s, "window"), to_ms(stride_s, "stride"), sr)
    if image_size < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    vinfo = media.video_info(video)
    ainfo = media.audio_info(audio)
    if ainfo["frames"] == 0:
        raise media.MediaError(f"{audio}: the audio has 0 samples")
    crop = panel_crop(vinfo["width"], vinfo["height"], panel, panels)

    video_samples = duration_samples(vinfo["duration_s"], sr)
    audio_samples = resampled_length(ainfo["frames"], ainfo["sr"], sr)
    if video_samples < grid.win_samples:
        raise media.MediaError(
            f"{video}: the video lasts {vinfo['duration_s']:.3f} s, shorter than one window ({window_s} s)"
        )
    if audio_samples < grid.win_samples:
        raise media.MediaError(
            f"{audio}: the audio lasts {ainfo['duration_s']:.3f} s, shorter than one window ({window_s} s)"
        )
    if audio_samples + sr / vinfo["fps"] < video_samples:  # shorter by more than a frame
        log.warning("%s: audio (%.3f s) is shorter than the video %s (%.3f s); windows end with the audio",
                    audio, ainfo["duration_s"], video.name, vinfo["duration_s"])
    n_windows = grid.count(min(video_samples, audio_samples))
    start_ms = grid.start_ms(n_windows)
    # Decode just past the last window's start: its frame is at most one frame period later.
    limit_s = min(vinfo["duration_s"], (int(start_ms[-1]) + grid.window_ms) / 1000 + 1.0)
    expected = int(limit_s * vinfo["fps"])
    log.info("%s: panel %d/%d of %s (%dx%d, %.3f fps, %.3f s), audio %s (%d Hz, %d ch, %.3f s): %d windows",
             track_id, panel, panels, video, vinfo["width"], vinfo["height"], vinfo["fps"],
             vinfo["duration_s"], audio, ainfo["sr"], ainfo["channels"], ainfo["duration_s"], n_windows)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # audio decodes while ffmpeg runs
        audio_job = pool.submit(load_audio, audio, sr)
        decoded = decode_panel_frames(video, crop, image_size, start_ms, threads, limit_s, expected)
        y = audio_job.result()

    missing = np.flatnonzero(decoded.frame_index < 0)
    if len(missing):
        gap_s = float(start_ms[-1]) / 1000 - decoded.last_time_s
        if gap_s > MAX_MISSING_TAIL_S or missing[0] != n_windows - len(missing):
            raise media.MediaError(
                f"{video}: no frame at or after t = {start_ms[missing[0]] / 1000:.3f} s; the video's "
                f"frames end at {decoded.last_time_s:.3f} s though it is probed as {vinfo['duration_s']:.3f} s long"
            )
        log.warning("%s: the last frame is at %.3f s; dropping the last %d window(s) that have no frame",
                    video, decoded.last_time_s, len(missing))
        n_windows -= len(missing)
        if n_windows == 0:
            raise media.MediaError(f"{video}: no window has a frame")
    starts = grid.start_samples(n_windows)
    if len(y) < starts[-1] + grid.win_samples:
        raise media.MediaError(
            f"{audio}: decoded {len(y)} samples at {sr} Hz, fewer than its header promises "
            f"({audio_samples}); the file is truncated"
        )
    windows = pd.DataFrame({
        "track_id": track_id,
        "window_index": np.arange(n_windows, dtype=np.int32),
        "start_s": start_ms[:n_windows] / 1000,
        "frame_index": decoded.frame_index[:n_windows].astype(np.int32),
        "frame_time_s": decoded.frame_time_s[:n_windows],
        "audio_start": starts,
        "audio_stop": starts + grid.win_samples,
    })
    log.info("%s: %d windows from %d decoded frames", track_id, n_windows, decoded.n_frames)
    return decoded.images[:n_windows], y, windows


def write_outputs(out_dir: Path, frames: np.ndarray, audio: np.ndarray, windows: pd.DataFrame) -> None:
    """Writes frames.npy, audio.npy and windows.parquet to ``out_dir``: all three or none."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmps: dict[str, str] = {}
    try:
        for name, array in (("frames.npy", frames), ("audio.npy", audio)):
            fd, tmps[name] = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, array)
        fd, tmps["windows.parquet"] = tempfile.mkstemp(dir=out_dir, prefix=".windows.parquet.", suffix=".tmp")
        os.close(fd)
        manifests.write(windows, tmps["windows.parquet"], "track_windows")
        for name in OUTPUTS:  # windows.parquet last: it is what marks the set complete
            os.replace(tmps.pop(name), out_dir / name)
    except BaseException:
        for tmp in tmps.values():
            Path(tmp).unlink(missing_ok=True)
        remove_outputs(out_dir)
        raise


def remove_outputs(out_dir: Path) -> None:
    for name in OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--track-id", required=True, help="the track, e.g. 15_Surprise_3_tbn")
    parser.add_argument("--video", required=True, type=Path, help="the piece's ensemble video")
    parser.add_argument("--audio", required=True, type=Path, help="the player's AuSep WAV")
    parser.add_argument("--panel", required=True, type=int, help="the player's 1-based panel (= part)")
    parser.add_argument("--panels", required=True, type=int, help="number of players side by side")
    parser.add_argument("--window", type=float, default=0.5, help="window length, s (default 0.5)")
    parser.add_argument("--stride", type=float, default=0.1, help="window stride, s (default 0.1)")
    parser.add_argument("--sr", type=int, default=44100, help="audio sample rate, Hz (default 44100)")
    parser.add_argument("--image-size", type=int, default=64, help="image side, px (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="ffmpeg decoding threads")
    parser.add_argument("--out-dir", required=True, type=Path, help="folder for the three outputs")


def run(args: argparse.Namespace) -> None:
    try:
        frames, audio, windows = extract_track(
            args.track_id, args.video, args.audio, args.panel, args.panels, args.window,
            args.stride, args.sr, args.image_size, args.threads,
        )
        write_outputs(args.out_dir, frames, audio, windows)
    except BaseException:
        remove_outputs(args.out_dir)  # a failed run leaves no output a rerun would trust
        raise
