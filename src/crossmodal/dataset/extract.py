"""Extract every player's frames, audio and 0.5 s windows from a URMP piece (the paper's Sec. 4).

Window k starts at t = k * stride and lasts ``window`` seconds. Its image is the FIRST video
frame presented at or after t ("the first frame of each video chunk"), cut to the player's
panel (equal widths in part order, or the piece's ``data.panels`` override) and fitted to
S x S (``dataset.panel_fit``: stretch, pad or crop); its sound is [t, t + window) of the
player's separated track (AuSep), downmixed to mono and resampled to ``sr``.

The piece's video is decoded ONCE for all its players (:mod:`crossmodal.dataset.decoder`: one
ffmpeg pass, frames on stdout and their timestamps on stderr). The exact choice is made here
on those real timestamps, not by frame counting, and each chosen frame is cut into panels and
fitted in numpy. Decoding stops after the last window's frame. All time arithmetic is in
integers (milliseconds, samples, stream time-base ticks), so 0.1 s steps never drift.

Outputs per track in its own folder, written atomically, all three or none:
frames.npy (uint8 [n_windows, S, S, 3], row k = window k's image), audio.npy (float32
[n_samples], the whole track at sr) and windows.parquet (the track_windows manifest). A failed
run removes every listed track's outputs; ``--summary`` (the piece's boxes and window counts)
is written last. The command is :mod:`crossmodal.dataset.extract_step`.
"""

from __future__ import annotations

import concurrent.futures
import csv
import importlib
import io
import logging
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crossmodal import media
from crossmodal.dataset.decoder import (
    PROBED,
    FrameDecoder,
    decode_size,
    probed_info,
    scale_boxes,
    start_piece_decoder,
    to_ms,
)
from crossmodal.dataset.panels import PANEL_FITS, equal_boxes, fit_square, panel_boxes

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


# ---------------------------------------------------------------------------------------------
# Window arithmetic (pure, integer)


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
# Video: panels of the frames one ffmpeg pass delivers (crossmodal.dataset.decoder)

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


def extract_piece(
    video: Path, tracks: list[TrackSpec], panels: int, window_s: float, stride_s: float, sr: int,
    image_size: int, fit: str = "stretch", boxes: list | None = None, piece: str = "", threads: int = 1,
    vinfo: dict | None = None, decoder: FrameDecoder | None = None,
) -> list[TrackResult]:
    """Every listed player's frames, audio and windows from ONE decode of the piece's video.

    Per track, D = min(video duration, its audio's duration) and windows k = 0 ..
    floor((D - window) / stride); its image is the first frame at or after k * stride, cut to
    its panel (``boxes``, a data.panels override, else equal widths) and fitted by ``fit``.
    The tracks' audio is read and resampled in threads while ffmpeg decodes. ``vinfo``: the
    video's PROBED values as the tracks manifest holds them, so that ffmpeg starts without
    waiting for a second ffprobe; without it the video is probed. ``decoder``: the piece's ffmpeg
    pass already started by :func:`start_piece_decoder` with the same arguments (the command
    starts it before importing numpy); it is stopped when extraction fails.
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
    if decoder is None:
        decoder = start_piece_decoder(video, vinfo, panels, boxes, image_size, fit, grid.stride_ms, threads, piece)
    elif decoder.video != video or decoder.size != dsize:
        raise ValueError(f"{video}: the decoder started decodes {decoder.video} at {decoder.size}, not at {dsize}")
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
