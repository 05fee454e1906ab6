"""Extract one player's frames, audio and 0.5 s windows from a URMP piece (the paper's Sec. 4).

Window k starts at t = k * stride and lasts ``window`` seconds. Its image is the FIRST video
frame presented at or after t ("the first frame of each video chunk"), cropped to the player's
panel and scaled to S x S; its sound is [t, t + window) of the player's separated track
(AuSep), downmixed to mono and resampled to ``sr``.

The video is decoded once: ffmpeg crops the panel, drops frames no window can start with (a
``select`` with slack, so that only about one frame per stride is scaled), scales and pipes rgb24
frames, while two ``showinfo`` filters print every decoded frame's index and presentation
timestamp, and those of the piped ones, on stderr (read by a second thread, so neither pipe
can fill up and stall ffmpeg). The exact choice is made here on those real timestamps, not by
frame counting, and only the chosen frames are kept. Decoding stops after the last window's
frame. All time arithmetic is in integers (milliseconds, samples, stream time-base ticks), so
0.1 s steps never drift.

Outputs in --out-dir, written atomically, all three or none:
frames.npy (uint8 [n_windows, S, S, 3], row k = window k's image), audio.npy (float32
[n_samples], the whole track at sr) and windows.parquet (the track_windows manifest).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import importlib
import logging
import math
import queue
import re
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import ffmpeg
import numpy as np

from crossmodal import media
from crossmodal.store import atomic_outputs

if TYPE_CHECKING:
    import pandas as pd

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

_FRAME_LINE = re.compile(r"\[(decoded|kept) @ [^\]]*\] n:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:")
_TIME_BASE_LINE = re.compile(r"\[kept @ [^\]]*\] config in time_base:\s*(\d+)/(\d+)")
#: Pipe buffer asked for (Linux), so ffmpeg keeps decoding while Python is busy elsewhere.
PIPE_BYTES = 1 << 20
#: Slack (s) of ffmpeg's frame preselection, far above the rounding of its float timestamps.
SELECT_SLACK_S = 1e-6


def panel_crop(width: int, height: int, panel: int, panels: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of 1-based ``panel`` of ``panels`` equal-width panels side by side."""
    check_panel(panel, panels)
    x0, x1 = (panel - 1) * width // panels, panel * width // panels
    if x1 - x0 < 2:
        raise ValueError(f"a {width} px wide video cannot hold {panels} panels")
    return x0, 0, x1 - x0, height


def check_panel(panel: int, panels: int) -> None:
    if not 1 <= panel <= panels:
        raise ValueError(f"panel {panel} is not between 1 and the number of panels ({panels})")


def preselect_expr(stride_ms: int) -> str:
    """ffmpeg ``select`` expression keeping a superset of the frames windows can start with.

    A frame is the first at or after some window start t_k exactly when a t_k lies in
    (previous frame's time, its time]; ffmpeg's float times get SELECT_SLACK_S of slack either
    side, so the exact choice (FrameChooser, integer arithmetic) always finds its frame among
    those kept. The first frame (prev_t is NaN) is kept. No commas: it sits in a filter chain.
    """
    eps, per = SELECT_SLACK_S, f"1000/{stride_ms}"
    return f"floor((t+{eps})*{per})-floor((prev_t-{eps})*{per})"


def _stderr_reader(stream, events: queue.Queue, tail: collections.deque, counts: dict) -> None:
    """Turns ffmpeg's stderr into ('time_base', Fraction) and ('frame', n, pts) events.

    ``decoded`` lines (every decoded frame, before preselection) give each frame's index n in
    the video; a ``kept`` line (a frame piped out) is matched to its decoded line by pts.
    """
    decoded: collections.deque = collections.deque()
    try:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if m := _FRAME_LINE.search(line):
                n, pts = int(m[2]), int(m[3])
                if m[1] == "decoded":
                    decoded.append((n, pts))
                    counts["decoded"], counts["last_pts"] = n + 1, pts
                    continue
                while decoded and decoded[0][1] != pts:
                    decoded.popleft()
                events.put(("frame", decoded.popleft()[0] if decoded else -1, pts))
            elif m := _TIME_BASE_LINE.search(line):
                events.put(("time_base", Fraction(int(m[1]), int(m[2]))))
            elif line and not re.match(r"\[(decoded|kept) @", line):  # showinfo's side-data lines
                tail.append(line)
    finally:
        events.put(None)


class PanelDecoder:
    """One ffmpeg process decoding a video: one panel, scaled, as rgb24 frames with timestamps.

    It starts decoding at once, before the video is probed: the crop is written with ffmpeg's
    own ``iw`` (input width), giving the same integer panel as :func:`panel_crop`. With
    ``stride_ms``, ffmpeg drops frames no window can start with (preselect_expr) before
    scaling, so only about one frame per stride is scaled and piped. Iterating yields
    ``(n, pts, time_base, frame bytes)`` per piped frame, in presentation order, n being the
    frame's index among all decoded frames.
    """

    def __init__(self, video: Path, panel: int, panels: int, image_size: int, threads: int = 1,
                 stride_ms: int | None = None):
        check_panel(panel, panels)
        self.video, self.frame_bytes = Path(video), image_size * image_size * 3
        x0 = f"floor({panel - 1}*iw/{panels})"
        stream = (
            ffmpeg.input(str(video), threads=threads)
            .video.crop(x0, 0, f"floor({panel}*iw/{panels})-{x0}", "ih")
            .filter("showinfo@decoded", checksum=0)
        )
        if stride_ms:
            stream = stream.filter("select", preselect_expr(stride_ms))
        stream = stream.filter("scale", image_size, image_size, flags="area").filter("showinfo@kept", checksum=0)
        cmd = (
            ffmpeg.output(stream, "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
            .global_args("-hide_banner", "-nostats", "-nostdin", "-loglevel", "info")
        )
        log.debug("ffmpeg %s", " ".join(cmd.get_args()))
        self.proc = cmd.run_async(cmd=media.ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
        try:
            import fcntl

            fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (ImportError, AttributeError, OSError):
            pass  # a smaller pipe only means ffmpeg waits for the reader more often
        self.events: queue.Queue = queue.Queue()
        self.tail: collections.deque = collections.deque(maxlen=20)
        self.counts = {"decoded": 0, "last_pts": None}
        self.reader = threading.Thread(target=_stderr_reader, daemon=True,
                                       args=(self.proc.stderr, self.events, self.tail, self.counts))
        self.reader.start()
        self.stopped = False
        self.time_base: Fraction | None = None

    @property
    def decoded_frames(self) -> int:
        """Frames decoded so far (before preselection)."""
        return self.counts["decoded"]

    @property
    def last_time_s(self) -> float:
        """Presentation time of the last decoded frame (NaN before the first)."""
        pts = self.counts["last_pts"]
        return float(pts * self.time_base) if pts is not None and self.time_base else float("nan")

    def __iter__(self):
        time_base = None
        n_frames = 0
        while True:
            buf = self.proc.stdout.read(self.frame_bytes)
            if not buf:
                return
            if len(buf) < self.frame_bytes:
                raise media.MediaError(f"{self.video}: ffmpeg stopped in the middle of a frame")
            while True:  # this frame's timestamp (showinfo prints it before the frame is piped)
                try:
                    event = self.events.get(timeout=TIMESTAMP_TIMEOUT_S)
                except queue.Empty:
                    event = None
                if event is None:
                    raise media.MediaError(f"{self.video}: ffmpeg delivered frame {n_frames} without a timestamp")
                if event[0] != "time_base":
                    break
                time_base = event[1]
            if time_base is None:
                raise media.MediaError(f"{self.video}: ffmpeg reported no time base before the first frame")
            if event[1] < 0:
                raise media.MediaError(f"{self.video}: cannot match piped frame {n_frames} to a decoded frame")
            self.time_base = time_base
            n_frames += 1
            yield event[1], event[2], time_base, buf

    def stop(self) -> None:
        """Stops decoding early (every frame needed has been delivered, or the caller failed)."""
        self.stopped = True
        self.close()

    def close(self) -> None:
        """Waits for ffmpeg to finish (kills it when stopped); MediaError if it failed."""
        if self.stopped and self.proc.poll() is None:
            self.proc.kill()
        self.proc.stdout.close()
        self.proc.wait()
        self.reader.join(timeout=10)
        if self.proc.returncode != 0 and not self.stopped:
            detail = self.tail[-1] if self.tail else f"exit status {self.proc.returncode}"
            raise media.MediaError(f"{self.video}: ffmpeg cannot decode it ({detail})")


@dataclass
class DecodedFrames:
    """The frames chosen for each window, with where they came from."""

    images: np.ndarray        # uint8 [n_windows, S, S, 3]
    frame_index: np.ndarray   # int64 [n_windows], -1 where no frame reached the window
    frame_time_s: np.ndarray  # float64 [n_windows]
    n_frames: int             # frames decoded (fewer when decoding stopped after the last window)
    last_time_s: float        # time of the last decoded frame


def choose_panel_frames(decoder: PanelDecoder, start_ms: np.ndarray, image_size: int,
                        expected_frames: int | None = None) -> DecodedFrames:
    """Keeps, per window start, the first decoded frame at or after it; stops when all have one.

    MediaError naming the video when ffmpeg fails, or delivers fewer than MIN_FRAME_SHARE of
    ``expected_frames`` (what the probed duration promises) and leaves windows without a frame.
    """
    size, n_windows = image_size, len(start_ms)
    images = np.zeros((n_windows, size, size, 3), dtype=np.uint8)
    frame_index = np.full(n_windows, -1, dtype=np.int64)
    frame_time = np.full(n_windows, np.nan)
    chooser: FrameChooser | None = None
    next_log = time.monotonic() + 30
    try:
        for n, pts, time_base, buf in decoder:
            if chooser is None:
                chooser = FrameChooser(frame_thresholds(start_ms, time_base))
            chosen = chooser.windows_for(pts)
            if len(chosen):
                images[chosen.start:chosen.stop] = np.frombuffer(buf, np.uint8).reshape(size, size, 3)
                frame_index[chosen.start:chosen.stop] = n
                frame_time[chosen.start:chosen.stop] = float(pts * time_base)
            if chooser.done:
                decoder.stopped = True  # the rest of the video is not needed
                break
            if time.monotonic() > next_log:
                log.info("%s: %d frames decoded (%.1f s), %d/%d windows", decoder.video.name,
                         decoder.decoded_frames, decoder.last_time_s, chooser.next, n_windows)
                next_log = time.monotonic() + 30
    except BaseException:
        decoder.stop()
        raise
    decoder.close()
    n_frames = decoder.decoded_frames
    if chooser is None or not chooser.done:
        if expected_frames and n_frames < MIN_FRAME_SHARE * expected_frames:
            raise media.MediaError(
                f"{decoder.video}: decoding yielded {n_frames} frames where its probed duration promises "
                f"about {expected_frames}; the file is truncated or corrupt"
            )
    return DecodedFrames(images, frame_index, frame_time, n_frames, decoder.last_time_s)


# ---------------------------------------------------------------------------------------------
# The step


def extract_track(
    track_id: str, video: Path, audio: Path, panel: int, panels: int, window_s: float,
    stride_s: float, sr: int, image_size: int, threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(frames uint8 [n, S, S, 3], audio float32 [samples] at sr, track_windows table) of a track.

    D = min(video duration, audio duration); windows k = 0 .. floor((D - window) / stride).
    ffmpeg starts first; probing, the audio and Python's table imports run while it decodes.
    """
    video, audio = Path(video), Path(audio)
    grid = WindowGrid(to_ms(window_s, "window"), to_ms(stride_s, "stride"), sr)
    if image_size < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    check_panel(panel, panels)
    if not video.is_file():
        raise media.MediaError(f"{video}: file does not exist")
    decoder = PanelDecoder(video, panel, panels, image_size, threads, stride_ms=grid.stride_ms)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            tables = pool.submit(importlib.import_module, "crossmodal.manifests")  # pandas, pyarrow
            vinfo = media.video_info(video)
            ainfo = media.audio_info(audio)
            if ainfo["frames"] == 0:
                raise media.MediaError(f"{audio}: the audio has 0 samples")
            panel_crop(vinfo["width"], vinfo["height"], panel, panels)  # refuses panels < 2 px
            audio_job = pool.submit(load_audio, audio, sr)
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
            log.info("%s: panel %d/%d of %s (%dx%d, %.3f fps, %.3f s), audio %s (%d Hz, %d ch, %.3f s): "
                     "%d windows", track_id, panel, panels, video, vinfo["width"], vinfo["height"], vinfo["fps"],
                     vinfo["duration_s"], audio, ainfo["sr"], ainfo["channels"], ainfo["duration_s"], n_windows)
            decoded = choose_panel_frames(decoder, start_ms, image_size, int(vinfo["duration_s"] * vinfo["fps"]))
            y = audio_job.result()
            tables.result()
    except BaseException:
        decoder.stop()  # idempotent; ffmpeg must not outlive a failure
        raise

    import pandas as pd

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
    from crossmodal import manifests

    # windows.parquet last (OUTPUTS' order): it is what marks the set complete.
    with atomic_outputs([out_dir / name for name in OUTPUTS]) as (frames_tmp, audio_tmp, windows_tmp):
        np.save(frames_tmp, frames)
        np.save(audio_tmp, audio)
        manifests.write(windows, windows_tmp, "track_windows")


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
