"""Extract every player's frames, audio and 0.5 s windows from a URMP piece (the paper's Sec. 4).

Window k starts at t = k * stride and lasts ``window`` seconds. Its image is the FIRST video
frame presented at or after t ("the first frame of each video chunk"), cut to the player's
panel (equal widths in part order, or the piece's ``data.panels`` override) and fitted to
S x S (``dataset.panel_fit``: stretch, pad or crop); its sound is [t, t + window) of the
player's separated track (AuSep), downmixed to mono and resampled to ``sr``.

The piece's video is decoded ONCE for all its players: ffmpeg drops frames no window can start
with (a ``select`` with slack, so that only about one frame per stride is scaled), scales the
whole frame down just enough to keep every panel OVERSAMPLE x S pixels wide, and pipes rgb24
frames, while two ``showinfo`` filters print every decoded frame's index and presentation
timestamp, and those of the piped ones, on stderr (read by a second thread, so neither pipe
can fill up and stall ffmpeg). The exact choice is made here on those real timestamps, not by
frame counting, and each chosen frame is cut into panels and fitted in numpy. Decoding stops
after the last window's frame. All time arithmetic is in integers (milliseconds, samples,
stream time-base ticks), so 0.1 s steps never drift.

Outputs per track in its own folder, written atomically, all three or none:
frames.npy (uint8 [n_windows, S, S, 3], row k = window k's image), audio.npy (float32
[n_samples], the whole track at sr) and windows.parquet (the track_windows manifest). A failed
run removes every listed track's outputs; ``--summary`` (the piece's boxes and window counts)
is written last.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import csv
import importlib
import io
import json
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
from crossmodal.dataset.panels import PANEL_FITS, equal_boxes, fit_geometry, fit_square, panel_boxes

# crossmodal.manifests imports pyarrow (a few tenths of a second of CPU): in a thread, so ffmpeg
# starts first. The extraction process never imports pandas (its import and its teardown at exit
# cost about as much again): track windows are Arrow tables, the piece summary plain CSV.

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

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


def read_sound(path: Path) -> tuple[np.ndarray, int]:
    """(float32 [n, channels] samples, their rate) of a sound file; MediaError naming the file
    when it cannot be decoded or holds no sample."""
    import soundfile

    try:
        samples, sr_in = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise media.MediaError(f"{path}: cannot decode the audio ({err})") from err
    if len(samples) == 0:
        raise media.MediaError(f"{path}: the audio has 0 samples")
    return samples, sr_in


def load_audio(path: Path, sr: int) -> np.ndarray:
    """The sound file at ``path`` as float32 [n] mono at ``sr`` Hz; MediaError naming the file."""
    samples, sr_in = read_sound(path)
    if samples.shape[1] > 1:
        log.info("%s: downmixing %d channels to mono", path, samples.shape[1])
    if sr_in != sr:
        log.info("%s: resampling %d Hz -> %d Hz", path, sr_in, sr)
    return resample(to_mono(samples), sr_in, sr)


# ---------------------------------------------------------------------------------------------
# Video: one ffmpeg pass per piece, frames on stdout, timestamps on stderr

_FRAME_LINE = re.compile(r"\[(decoded|kept) @ [^\]]*\] n:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:")
_TIME_BASE_LINE = re.compile(r"\[kept @ [^\]]*\] config in time_base:\s*(\d+)/(\d+)")
#: Pipe buffer asked for (Linux), so ffmpeg keeps decoding while Python is busy elsewhere.
PIPE_BYTES = 1 << 20
#: Slack (s) of ffmpeg's frame preselection, far above the rounding of its float timestamps.
SELECT_SLACK_S = 1e-6
#: ffmpeg scales the whole frame down until a panel's narrower side keeps this many times the
#: image side (or to no less than the video's own size); the panels are then cut and fitted
#: from that frame in numpy, so every panel, box and fit comes from the one decode.
OVERSAMPLE = 1


def panel_crop(width: int, height: int, panel: int, panels: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of 1-based ``panel`` of ``panels`` equal-width panels side by side."""
    check_panel(panel, panels)
    x0, x1 = equal_boxes(width, panels)[panel - 1]
    if x1 - x0 < 2:
        raise ValueError(f"a {width} px wide video cannot hold {panels} panels")
    return x0, 0, x1 - x0, height


def check_panel(panel: int, panels: int) -> None:
    if not 1 <= panel <= panels:
        raise ValueError(f"panel {panel} is not between 1 and the number of panels ({panels})")


def decode_size(width: int, height: int, boxes: list[tuple[int, int]], image_size: int,
                fit: str = "stretch") -> tuple[int, int]:
    """(w, h) the whole frame is scaled to by ffmpeg before the panels are cut from it.

    Where every panel's fitted picture is a whole-pixel scaling of the frame (equal panels, as
    URMP's 1920 px wide videos hold for 2 to 5 players), ffmpeg scales straight to it
    (:func:`fitted_decode_size`): one area resampling, and a panel's fit is only placement.
    Otherwise one factor for both axes, the smallest that leaves the narrowest panel and the
    height OVERSAMPLE x ``image_size`` pixels (never above 1), and each panel is resized after.
    """
    fitted = fitted_decode_size(width, height, boxes, image_size, fit)
    if fitted:
        return fitted
    narrowest = min(min(right - left for left, right in boxes), height)
    factor = min(1.0, OVERSAMPLE * image_size / narrowest)
    return max(1, round(width * factor)), max(1, round(height * factor))


def fitted_decode_size(width: int, height: int, boxes: list[tuple[int, int]], image_size: int,
                       fit: str) -> tuple[int, int] | None:
    """The frame size at which each panel's kept region (fit_geometry) is exactly its fitted
    size, with every box and region edge on a whole pixel; None when no such size exists (panels
    of unequal width, edges between pixels) or it would enlarge the frame."""
    geometries = [fit_geometry(height, right - left, image_size, fit) for left, right in boxes]
    scales = {(Fraction(sw, w), Fraction(sh, h)) for (_, _, w, h), (sw, sh), _ in geometries}
    if len(scales) != 1:
        return None
    ((fx, fy),) = scales
    if fx > 1 or fy > 1:
        return None
    size = (width * fx, height * fy)
    edges = [edge * fx for box in boxes for edge in box]
    regions = [v for (x, y, _, _), _, _ in geometries for v in (x * fx, y * fy)]
    if not all(v.denominator == 1 for v in (*size, *edges, *regions)):
        return None
    for (left, right), ((x, y, w, h), fitted, _) in zip(boxes, geometries):
        # The decoded panel must be fitted by placement alone: its own geometry is the scaled one.
        decoded = fit_geometry(int(size[1]), int((right - left) * fx), image_size, fit)
        if decoded[0] != (int(x * fx), int(y * fy), int(w * fx), int(h * fy)) or decoded[1] != fitted:
            return None
    return int(size[0]), int(size[1])


def scale_boxes(boxes: list[tuple[int, int]], width: int, decoded_width: int) -> list[tuple[int, int]]:
    """Panel edges in the decoded frame's pixels (rounded; each at least 1 px wide)."""
    out = []
    for left, right in boxes:
        lo = min(round(left * decoded_width / width), decoded_width - 1)
        out.append((lo, max(lo + 1, round(right * decoded_width / width))))
    return out


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


class FrameDecoder:
    """One ffmpeg process decoding a video: whole frames, scaled to ``size``, as rgb24 with timestamps.

    With ``stride_ms``, ffmpeg drops frames no window can start with (preselect_expr) before
    scaling, so only about one frame per stride is scaled and piped. Iterating yields
    ``(n, pts, time_base, frame bytes)`` per piped frame, in presentation order, n being the
    frame's index among all decoded frames.
    """

    def __init__(self, video: Path, size: tuple[int, int], scale: bool = True, threads: int = 1,
                 stride_ms: int | None = None):
        self.video, self.size = Path(video), size
        self.frame_bytes = size[0] * size[1] * 3
        stream = ffmpeg.input(str(video), threads=threads).video.filter("showinfo@decoded", checksum=0)
        if stride_ms:
            stream = stream.filter("select", preselect_expr(stride_ms))
        if scale:
            stream = stream.filter("scale", size[0], size[1], flags="area")
        stream = stream.filter("showinfo@kept", checksum=0)
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
    """The frames chosen for each window, one image per panel, with where they came from."""

    images: list[np.ndarray]  # per panel asked for: uint8 [n_windows, S, S, 3]
    frame_index: np.ndarray   # int64 [n_windows], -1 where no frame reached the window
    frame_time_s: np.ndarray  # float64 [n_windows]
    n_frames: int             # frames decoded (fewer when decoding stopped after the last window)
    last_time_s: float        # time of the last decoded frame


def choose_panel_frames(decoder: FrameDecoder, start_ms: np.ndarray, image_size: int,
                        boxes: list[tuple[int, int]], fit: str = "stretch",
                        expected_frames: int | None = None) -> DecodedFrames:
    """Keeps, per window start, the first decoded frame at or after it, cut into ``boxes``
    (columns of the decoded frame) and fitted to S x S; stops when every window has one.

    MediaError naming the video when ffmpeg fails, or delivers fewer than MIN_FRAME_SHARE of
    ``expected_frames`` (what the probed duration promises) and leaves windows without a frame.
    """
    size, n_windows = image_size, len(start_ms)
    width, height = decoder.size
    images = [np.zeros((n_windows, size, size, 3), dtype=np.uint8) for _ in boxes]
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
                frame = np.frombuffer(buf, np.uint8).reshape(height, width, 3)
                for panel_images, (left, right) in zip(images, boxes):
                    panel_images[chosen.start:chosen.stop] = fit_square(frame[:, left:right], size, fit)
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


@dataclass(frozen=True)
class TrackSpec:
    """One player of a piece: its track id, 1-based panel (= part) and separated audio."""

    track_id: str
    part: int
    audio: Path


@dataclass
class TrackResult:
    """One track's outputs, and the panel box (pixels of the source video) it was cut from."""

    track_id: str
    frames: np.ndarray      # uint8 [n, S, S, 3]
    audio: np.ndarray       # float32 [samples] at sr
    windows: pa.Table       # track_windows
    box: tuple[int, int]


def _check_tracks(tracks: list[TrackSpec], panels: int, video: Path) -> None:
    if not tracks:
        raise ValueError(f"{video}: no track to extract")
    for spec in tracks:
        check_panel(spec.part, panels)
    ids = [t.track_id for t in tracks]
    parts = [t.part for t in tracks]
    if len(set(ids)) < len(ids) or len(set(parts)) < len(parts):
        raise ValueError(f"{video}: tracks {ids} (parts {parts}) name a track or a part twice")


def _probe_audio(audio: Path, sr: int, grid: WindowGrid, window_s: float) -> int:
    """Samples of ``audio`` at ``sr`` (from its header); MediaError naming it if unusable."""
    info = media.audio_info(audio)
    if info["frames"] == 0:
        raise media.MediaError(f"{audio}: the audio has 0 samples")
    samples = resampled_length(info["frames"], info["sr"], sr)
    if samples < grid.win_samples:
        raise media.MediaError(
            f"{audio}: the audio lasts {info['duration_s']:.3f} s, shorter than one window ({window_s} s)"
        )
    return samples


#: The media.video_info keys extraction reads, in --probed's order, with their types.
PROBED = {"width": int, "height": int, "fps": float, "duration_s": float}


def probed_info(video: Path, values) -> dict:
    """The video's PROBED values (text, as --probed passes them, or numbers) as media.video_info
    gives them; ValueError naming the video and the value when one is not a positive number."""
    if len(values) != len(PROBED):
        raise ValueError(f"{video}: probed values {list(values)} are not {' '.join(PROBED)}")
    info = {}
    for (key, kind), value in zip(PROBED.items(), values):
        try:
            number = kind(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not math.isfinite(number) or number <= 0:
            raise ValueError(f"{video}: probed {key} {value!r} is not a positive number")
        info[key] = number
    return info


def extract_piece(
    video: Path, tracks: list[TrackSpec], panels: int, window_s: float, stride_s: float, sr: int,
    image_size: int, fit: str = "stretch", boxes: list | None = None, piece: str = "", threads: int = 1,
    vinfo: dict | None = None,
) -> list[TrackResult]:
    """Every listed player's frames, audio and windows from ONE decode of the piece's video.

    Per track, D = min(video duration, its audio's duration) and windows k = 0 ..
    floor((D - window) / stride); its image is the first frame at or after k * stride, cut to
    its panel (``boxes``, a data.panels override, else equal widths) and fitted by ``fit``.
    The tracks' audio is read and resampled in threads while ffmpeg decodes. ``vinfo``: the
    video's PROBED values as the tracks manifest holds them, so that ffmpeg starts without
    waiting for a second ffprobe; without it the video is probed.
    """
    video = Path(video)
    grid = WindowGrid(to_ms(window_s, "window"), to_ms(stride_s, "stride"), sr)
    if image_size < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    if fit not in PANEL_FITS:
        raise ValueError(f"panel fit {fit!r} is not one of {', '.join(PANEL_FITS)}")
    _check_tracks(tracks, panels, video)
    if not video.is_file():
        raise media.MediaError(f"{video}: file does not exist")
    vinfo = media.video_info(video) if vinfo is None else probed_info(video, [vinfo[k] for k in PROBED])
    width, height = vinfo["width"], vinfo["height"]
    all_boxes = panel_boxes(width, panels, boxes, piece=piece)
    track_boxes = [all_boxes[t.part - 1] for t in tracks]
    dsize = decode_size(width, height, all_boxes, image_size, fit)  # all panels: one track alone gets the same image
    video_samples = duration_samples(vinfo["duration_s"], sr)
    if video_samples < grid.win_samples:
        raise media.MediaError(
            f"{video}: the video lasts {vinfo['duration_s']:.3f} s, shorter than one window ({window_s} s)"
        )
    decoder = FrameDecoder(video, dsize, scale=dsize != (width, height), threads=threads,
                           stride_ms=grid.stride_ms)
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            tables = pool.submit(importlib.import_module, "crossmodal.manifests")  # pyarrow
            audio_samples = [_probe_audio(t.audio, sr, grid, window_s) for t in tracks]
            audio_jobs = [pool.submit(load_audio, t.audio, sr) for t in tracks]
            counts = []
            for spec, samples in zip(tracks, audio_samples):
                if samples + sr / vinfo["fps"] < video_samples:  # shorter by more than a frame
                    log.warning("%s: audio (%.3f s) is shorter than the video %s (%.3f s); windows end with the "
                                "audio", spec.audio, samples / sr, video.name, vinfo["duration_s"])
                counts.append(grid.count(min(video_samples, samples)))
            start_ms = grid.start_ms(max(counts))
            log.info("%s (%dx%d, %.3f fps, %.3f s), decoded at %dx%d, panel fit %s: %s", video, width, height,
                     vinfo["fps"], vinfo["duration_s"], *dsize, fit,
                     ", ".join(f"{t.track_id} panel {t.part}/{panels} x {b[0]}..{b[1]} ({n} windows)"
                               for t, b, n in zip(tracks, track_boxes, counts)))
            decoded = choose_panel_frames(decoder, start_ms, image_size, scale_boxes(track_boxes, width, dsize[0]),
                                          fit, int(vinfo["duration_s"] * vinfo["fps"]))
            audio = [job.result() for job in audio_jobs]
            tables.result()
    except BaseException:
        decoder.stop()  # idempotent; ffmpeg must not outlive a failure
        raise
    results = []
    for i, spec in enumerate(tracks):
        n_windows = _windows_with_frames(video, vinfo, decoded, start_ms, counts[i])
        results.append(TrackResult(spec.track_id, decoded.images[i][:n_windows], audio[i],
                                   _track_windows(spec, grid, start_ms, decoded, n_windows, audio[i],
                                                  audio_samples[i], sr),
                                   track_boxes[i]))
        log.info("%s: %d windows from %d decoded frames", spec.track_id, n_windows, decoded.n_frames)
    return results


def _windows_with_frames(video: Path, vinfo: dict, decoded: DecodedFrames, start_ms: np.ndarray,
                         n_windows: int) -> int:
    """``n_windows`` less trailing windows that no frame reached (MediaError if more than a tail)."""
    missing = np.flatnonzero(decoded.frame_index[:n_windows] < 0)
    if not len(missing):
        return n_windows
    gap_s = float(start_ms[n_windows - 1]) / 1000 - decoded.last_time_s
    if gap_s > MAX_MISSING_TAIL_S or missing[0] != n_windows - len(missing):
        raise media.MediaError(
            f"{video}: no frame at or after t = {start_ms[missing[0]] / 1000:.3f} s; the video's "
            f"frames end at {decoded.last_time_s:.3f} s though it is probed as {vinfo['duration_s']:.3f} s long"
        )
    log.warning("%s: the last frame is at %.3f s; dropping the last %d window(s) that have no frame",
                video, decoded.last_time_s, len(missing))
    if n_windows == len(missing):
        raise media.MediaError(f"{video}: no window has a frame")
    return n_windows - len(missing)


def _track_windows(spec: TrackSpec, grid: WindowGrid, start_ms: np.ndarray, decoded: DecodedFrames,
                   n_windows: int, y: np.ndarray, header_samples: int, sr: int) -> pa.Table:
    from crossmodal.manifests import table_from_numpy

    starts = grid.start_samples(n_windows)
    if len(y) < starts[-1] + grid.win_samples:
        raise media.MediaError(
            f"{spec.audio}: decoded {len(y)} samples at {sr} Hz, fewer than its header promises "
            f"({header_samples}); the file is truncated"
        )
    return table_from_numpy({
        "track_id": spec.track_id,
        "window_index": np.arange(n_windows, dtype=np.int32),
        "start_s": start_ms[:n_windows] / 1000,
        "frame_index": decoded.frame_index[:n_windows].astype(np.int32),
        "frame_time_s": decoded.frame_time_s[:n_windows],
        "audio_start": starts,
        "audio_stop": starts + grid.win_samples,
    }, "track_windows")


def extract_track(
    track_id: str, video: Path, audio: Path, panel: int, panels: int, window_s: float,
    stride_s: float, sr: int, image_size: int, threads: int = 1, fit: str = "stretch",
    boxes: list | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(frames uint8 [n, S, S, 3], audio float32 [samples] at sr, track_windows DataFrame) of
    one track: :func:`extract_piece` with a single player."""
    (result,) = extract_piece(video, [TrackSpec(track_id, panel, Path(audio))], panels, window_s, stride_s,
                              sr, image_size, fit=fit, boxes=boxes, threads=threads)
    return result.frames, result.audio, result.windows.to_pandas()


def write_outputs(out_dir: Path, frames: np.ndarray, audio: np.ndarray, windows: pa.Table | pd.DataFrame) -> None:
    """Writes frames.npy, audio.npy and windows.parquet to ``out_dir``: all three or none."""
    from crossmodal import manifests
    from crossmodal.store import atomic_outputs

    # windows.parquet last (OUTPUTS' order): it is what marks the set complete.
    with atomic_outputs([out_dir / name for name in OUTPUTS]) as (frames_tmp, audio_tmp, windows_tmp):
        np.save(frames_tmp, frames)
        np.save(audio_tmp, audio)
        manifests.write(windows, windows_tmp, "track_windows")


def remove_outputs(out_dir: Path) -> None:
    for name in OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)


SUMMARY_COLUMNS = ("track_id", "part", "left_px", "right_px", "panel_fit", "n_windows")


def piece_summary(results: list[TrackResult], tracks: list[TrackSpec], fit: str) -> str:
    """CSV text, one row per extracted track: its panel, box (px), fit and window count."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerows((r.track_id, t.part, r.box[0], r.box[1], fit, len(r.windows)) for r, t in zip(results, tracks))
    return text.getvalue()


def job_size(width: int, height: int, duration_s: float, n_tracks: int, sr: int, image_size: int,
             stride_s: float, threads: int = 1) -> dict[str, int]:
    """Memory (MB) and runtime (min) a piece's extraction job asks a cluster for, from its video.

    Memory: the interpreter and libraries, ffmpeg's decoder (its reference frames and one frame
    per thread, yuv420), every track's frames and audio (kept until written) and two tracks'
    audio being decoded and resampled at once; then 1.5x. Runtime: decoding at a quarter of real
    time on one core for 1080p, scaled by pixels and divided by threads, plus 5 minutes.
    """
    windows = duration_s / stride_s + 1
    decoder = (16 + threads + 2) * width * height * 1.5
    per_track = windows * image_size * image_size * 3 + 4 * sr * duration_s
    loading = 2 * 2 * 4 * max(sr, 48000) * duration_s
    mem_mb = 1.5 * (400e6 + decoder + n_tracks * per_track + loading) / 1e6
    pixels = width * height / (1920 * 1080)
    runtime = 5 + 4 * duration_s / 60 * pixels / max(1, threads)
    return {"mem_mb": int(math.ceil(mem_mb / 100) * 100), "runtime": int(math.ceil(runtime))}


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


def _jobs(args: argparse.Namespace) -> list[tuple[TrackSpec, Path]]:
    """(track, output folder) pairs from --track ... --out-root and/or --track-id ... --out-dir."""
    jobs = []
    if args.track and not args.out_root:
        raise ValueError("--track needs --out-root")
    for track_id, part, audio in args.track:
        if not part.isdigit():
            raise ValueError(f"--track {track_id}: part {part!r} is not a whole number")
        jobs.append((TrackSpec(track_id, int(part), Path(audio)), args.out_root / track_id))
    single = (args.track_id, args.audio, args.panel, args.out_dir)
    if any(v is not None for v in single):
        if any(v is None for v in single):
            raise ValueError("--track-id needs --audio, --panel and --out-dir")
        jobs.append((TrackSpec(args.track_id, args.panel, args.audio), args.out_dir))
    if not jobs:
        raise ValueError("name the players to extract: --track TRACK_ID PART AUDIO (with --out-root), "
                         "or --track-id with --audio, --panel and --out-dir")
    return jobs


def run(args: argparse.Namespace) -> None:
    jobs = _jobs(args)
    if args.panel_fit is None:  # the rule always passes it; by hand, the config's default
        from crossmodal.config import section_defaults

        args.panel_fit = section_defaults("dataset")["panel_fit"]

    tracks = [spec for spec, _ in jobs]
    try:
        vinfo = probed_info(args.video, args.probed) if args.probed else None
        results = extract_piece(args.video, tracks, args.panels, args.window, args.stride, args.sr,
                                args.image_size, fit=args.panel_fit, boxes=args.boxes, piece=args.piece,
                                threads=args.threads, vinfo=vinfo)
        for result, (_, out_dir) in zip(results, jobs):
            write_outputs(out_dir, result.frames, result.audio, result.windows)
        if args.summary:
            from crossmodal.store import write_text

            write_text(args.summary, piece_summary(results, tracks, args.panel_fit))
    except BaseException:
        for _, out_dir in jobs:  # a failed run leaves no output a rerun would trust
            remove_outputs(out_dir)
        raise
