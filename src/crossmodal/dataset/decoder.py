"""One ffmpeg pass over a piece's video: whole frames on stdout, their timestamps on stderr.

ffmpeg drops frames no window can start with (a ``select`` with slack, so that only about one
frame per stride is scaled), scales the whole frame down just enough to keep every panel
OVERSAMPLE x S pixels wide, and pipes rgb24 frames, while two ``showinfo`` filters print every
decoded frame's index and presentation timestamp, and those of the piped ones, on stderr (read
by a second thread, so neither pipe can fill up and stall ffmpeg). Which frame each window gets
is decided by :mod:`crossmodal.dataset.extract` on those real timestamps.

This module imports neither numpy nor anything heavy, so ``crossmodal extract`` starts ffmpeg
(:func:`start_piece_decoder`) before it loads the numerical libraries: on a 30 s 1080p quartet
that import is a tenth of the decode.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import re
import threading
from fractions import Fraction
from pathlib import Path

import ffmpeg

from crossmodal import media
from crossmodal.dataset.panels import fit_geometry, panel_boxes

log = logging.getLogger(__name__)

#: Seconds to wait for a frame's timestamp; it is printed before the frame is piped, so a wait
#: this long means ffmpeg's output could not be parsed.
TIMESTAMP_TIMEOUT_S = 60.0


def to_ms(seconds: float, name: str) -> int:
    """``seconds`` as a positive whole number of milliseconds; ValueError naming ``name`` if not."""
    ms = round(seconds * 1000)
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6:
        raise ValueError(f"{name} = {seconds} s must be a positive whole number of milliseconds")
    return ms


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


def start_piece_decoder(video: Path, vinfo: dict, panels: int, boxes: list | None, image_size: int, fit: str,
                        stride_ms: int, threads: int = 1, piece: str = "") -> FrameDecoder:
    """Starts the one ffmpeg pass of a piece whose video has the PROBED values ``vinfo``: every
    panel's box (``boxes``, a data.panels override, else equal widths) sets the decoded size."""
    width, height = vinfo["width"], vinfo["height"]
    dsize = decode_size(width, height, panel_boxes(width, panels, boxes, piece=piece), image_size, fit)
    return FrameDecoder(video, dsize, scale=dsize != (width, height), threads=threads, stride_ms=stride_ms)
