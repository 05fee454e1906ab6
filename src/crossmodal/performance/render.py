"""What ``perform`` and ``accompany`` share: reading a recording, its windows, H.264 + AAC
encoding through ffmpeg with frames piped in batches, crossfaded window audio, pitch tracks.

Time follows the dataset's window grid (crossmodal.dataset.extract.WindowGrid): window k starts
at k * stride, and a video made from windows shows window k's picture from k * stride to
(k + 1) * stride, i.e. it runs at 1 / stride frames per second (10 fps for the paper's 0.1 s).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from crossmodal import media
from crossmodal.dataset.extract import WindowGrid, resample, to_mono, to_ms

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ options
def parse_seconds(text: str | None) -> tuple[float, float | None]:
    """``"A-B"`` (or ``"A-"``: to the end) -> (A, B) in seconds; None -> (0, None)."""
    if text is None or text == "":
        return 0.0, None
    start, sep, stop = str(text).partition("-")
    try:
        a = float(start) if start else 0.0
        b = float(stop) if stop else None
    except ValueError:
        raise ValueError(f"--seconds {text!r}: expected A-B in seconds, e.g. 10-40") from None
    if not sep or a < 0 or (b is not None and b <= a):
        raise ValueError(f"--seconds {text!r}: expected A-B with 0 <= A < B, e.g. 10-40")
    return a, b


def parse_panel(text: str) -> tuple[int, int]:
    """``"p/n"`` -> (p, n): the p-th of n equal-width panels side by side (1-based)."""
    p, sep, n = str(text).partition("/")
    try:
        panel, panels = int(p), int(n)
    except ValueError:
        raise ValueError(f"--panel {text!r}: expected p/n, e.g. 2/3") from None
    if not sep or not 1 <= panel <= panels:
        raise ValueError(f"--panel {text!r}: expected p/n with 1 <= p <= n")
    return panel, panels


# ------------------------------------------------------------------ sound in
def decode_audio(path: str | os.PathLike, sr: int) -> np.ndarray:
    """Any sound file ffmpeg reads (WAV, FLAC, MP3, a video's sound...) as float32 mono at ``sr``.

    ffmpeg decodes the first audio stream at its own rate and channel count; channels are then
    averaged and the rate converted exactly as the dataset's extraction does (to_mono, soxr
    resample), so a URMP track given as a file gets the features the models were trained on.
    MediaError naming the file when it is missing, unreadable, without sound or empty.
    """
    path = Path(path)
    info = media.probe(path)
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise media.MediaError(f"{path}: has no audio stream")
    sr_in, channels = int(streams[0].get("sample_rate") or 0), int(streams[0].get("channels") or 0)
    if sr_in <= 0 or channels <= 0:
        raise media.MediaError(f"{path}: audio stream without a sample rate or channels")
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
           "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise media.MediaError(f"{path}: ffmpeg cannot decode its audio ({detail[-1] if detail else 'no detail'})")
    samples = np.frombuffer(result.stdout, dtype=np.float32)
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels)
    if len(samples) == 0:
        raise media.MediaError(f"{path}: the audio has 0 samples")
    if channels > 1 or sr_in != sr:
        log.info("%s: %d channel(s) at %d Hz -> mono at %d Hz", path, channels, sr_in, sr)
    return resample(to_mono(samples), sr_in, sr)


def trim(y: np.ndarray, sr: int, seconds: tuple[float, float | None], name: str) -> np.ndarray:
    """``y[A * sr : B * sr]``; ValueError naming ``name`` when A is past the end."""
    a, b = seconds
    start = int(round(a * sr))
    if start >= len(y):
        raise ValueError(f"{name}: --seconds starts at {a} s, the recording lasts {len(y) / sr:.3f} s")
    return y[start: None if b is None else int(round(b * sr))]


def window_grid(window_s: float, stride_s: float, sr: int) -> WindowGrid:
    return WindowGrid(to_ms(window_s, "window"), to_ms(stride_s, "stride"), sr)


def count_windows(grid: WindowGrid, n_samples: int, name: str) -> int:
    """Whole windows in ``n_samples``; MediaError naming ``name`` when there is not one."""
    n = grid.count(n_samples)
    if n == 0:
        raise media.MediaError(
            f"{name}: the recording lasts {n_samples / grid.sr:.3f} s, shorter than one window "
            f"({grid.window_ms / 1000} s)"
        )
    return n


def video_frames(grid: WindowGrid, n_samples: int) -> int:
    """Frames of a video at 1 / stride fps that lasts as long as the sound (the last one at
    most a frame longer): ceil(duration / stride)."""
    return -(-n_samples * 1000 // (grid.sr * grid.stride_ms))


def frame_rate(grid: WindowGrid) -> Fraction:
    """1 / stride frames per second (10 for 0.1 s)."""
    return Fraction(1000, grid.stride_ms)


def windows_of(y: np.ndarray, grid: WindowGrid, index: np.ndarray) -> np.ndarray:
    """float32 [len(index), win_samples]: the sound of windows ``index`` (a strided view, copied)."""
    view = np.lib.stride_tricks.sliding_window_view(y, grid.win_samples)
    return np.ascontiguousarray(view[grid.start_samples(int(index.max()) + 1)[index]], dtype=np.float32)


# ------------------------------------------------------------------ sound out: crossfaded windows
class CrossfadeJoiner:
    """One sound from overlapping window clips, each clip heard over its middle stride.

    Clip k (window k, ``win`` samples from ``k * hop``) owns the output from ``k * hop + c`` to
    ``(k + 1) * hop + c``, c = (win - hop) / 2 (the window's centre, away from the edges where
    Griffin-Lim is worst); the first clip also covers the start and the last one the end.
    Neighbours overlap by ``fade`` samples at each boundary with raised-cosine gains that sum to
    one, so the same sound in two clips passes unchanged and different sounds meet without a
    click. Clips are added as they come (batches), the output buffer is the only whole array.
    """

    def __init__(self, n_clips: int, win: int, hop: int, fade: int) -> None:
        if n_clips < 1 or hop < 1 or win < hop:
            raise ValueError(f"cannot join {n_clips} clips of {win} samples every {hop}")
        if not 0 <= fade <= min(hop, win - hop):
            raise ValueError(f"a crossfade of {fade} samples must lie within 0..{min(hop, win - hop)} for clips of "
                             f"{win} samples every {hop}")
        self.n, self.win, self.hop, self.fade = n_clips, win, hop, fade
        self.centre = (win - hop) // 2
        self.out = np.zeros((n_clips - 1) * hop + win, dtype=np.float32)
        u = (np.arange(fade) + 0.5) / fade if fade else np.zeros(0)
        self.fade_in = np.sin(0.5 * np.pi * u) ** 2  # + its mirror (cos^2) = 1

    def gains(self, k: int) -> np.ndarray:
        """float32 [win]: clip k's gain at each of its samples."""
        g = np.zeros(self.win, dtype=np.float32)
        begin = 0 if k == 0 else self.centre - self.fade // 2
        end = self.win if k == self.n - 1 else self.centre + self.hop - self.fade // 2
        g[begin:end] = 1.0
        if k > 0 and self.fade:
            g[begin: begin + self.fade] = self.fade_in
        if k < self.n - 1 and self.fade:
            g[end: end + self.fade] = self.fade_in[::-1]
        return g

    def add(self, k: int, clip: np.ndarray) -> None:
        if clip.shape != (self.win,):
            raise ValueError(f"clip {k} has shape {clip.shape}, expected ({self.win},)")
        self.out[k * self.hop: k * self.hop + self.win] += self.gains(k) * clip


def crossfade_join(clips: np.ndarray, hop: int, fade: int) -> np.ndarray:
    """float32 [(n - 1) * hop + win]: clips [n, win] joined as :class:`CrossfadeJoiner` does."""
    clips = np.asarray(clips, dtype=np.float32)
    joiner = CrossfadeJoiner(len(clips), clips.shape[1], hop, fade)
    for k, clip in enumerate(clips):
        joiner.add(k, clip)
    return joiner.out


def write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    """A scratch float WAV for ffmpeg to read (not an output: it lives in a temporary folder)."""
    import soundfile

    soundfile.write(str(path), np.asarray(audio, dtype=np.float32), sr, subtype="FLOAT", format="WAV")


# ------------------------------------------------------------------ video out
@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder for intermediates that are no output (the sound ffmpeg muxes)."""
    with tempfile.TemporaryDirectory(prefix="crossmodal-perform-") as folder:
        yield Path(folder)


def _x264_args(display_height: int, crf: int, preset: str, threads: int) -> list[str]:
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-threads", str(max(threads, 1))]


def _aac_args() -> list[str]:
    return ["-c:a", "aac", "-b:a", "160k"]


class VideoEncoder:
    """ffmpeg turning rgb24 frames (piped in batches with :meth:`write`) into H.264 at ``rate``
    fps, scaled to ``display_height`` (nearest neighbour: each generated pixel stays a sharp
    square), with ``audio`` (a sound file) as AAC. Use as a context manager: on an exception
    ffmpeg is killed, and the caller's atomic writer drops the partial file."""

    def __init__(self, out: Path, width: int, height: int, rate: Fraction, audio: Path | None,
                 display_height: int, crf: int = 20, preset: str = "veryfast", threads: int = 1) -> None:
        self.out, self.frame_shape, self.frames = Path(out), (height, width, 3), 0
        scale = f"scale=-2:{display_height}:flags=neighbor" if display_height != height else "null"
        cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(rate),
               "-i", "pipe:0"]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", *_aac_args()]
        cmd += ["-vf", scale, *_x264_args(display_height, crf, preset, threads),
                "-movflags", "+faststart", "-f", "mp4", str(self.out)]
        log.debug("ffmpeg %s", " ".join(cmd[1:]))
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def __enter__(self) -> VideoEncoder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()

    def _failure(self) -> media.MediaError:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return media.MediaError(f"{self.out}: ffmpeg failed to encode it ({lines[-1] if lines else 'no detail'})")

    def write(self, frames: np.ndarray) -> None:
        """Appends frames uint8 [b, H, W, 3]."""
        if frames.shape[1:] != self.frame_shape or frames.dtype != np.uint8:
            raise ValueError(f"frames of {frames.dtype} {frames.shape[1:]}, the video is {self.frame_shape}")
        try:
            self.proc.stdin.write(np.ascontiguousarray(frames).tobytes())
        except BrokenPipeError:
            self.proc.wait()
            raise self._failure() from None
        self.frames += len(frames)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait()
        try:
            if self.proc.returncode != 0:
                raise self._failure()
        finally:
            self.stderr.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        self.proc.wait()
        self.stderr.close()


def mux_panel(video: Path, panel: int, panels: int, start_s: float, duration_s: float, audio: Path,
              out: Path, display_height: int, crf: int = 20, preset: str = "veryfast", threads: int = 1) -> None:
    """``out``: panel ``panel``/``panels`` of ``video`` from ``start_s`` for ``duration_s``,
    scaled to ``display_height``, with ``audio`` as its sound (H.264 + AAC)."""
    x0 = f"floor({panel - 1}*iw/{panels})"
    crop = f"crop=floor({panel}*iw/{panels})-{x0}:ih:{x0}:0" if panels > 1 else "null"
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
           "-ss", f"{start_s:.6f}", "-t", f"{duration_s:.6f}", "-i", str(video), "-i", str(audio),
           "-map", "0:v:0", "-map", "1:a:0", "-vf", f"{crop},scale=-2:{display_height}",
           *_x264_args(display_height, crf, preset, threads), *_aac_args(), "-t", f"{duration_s:.6f}",
           "-movflags", "+faststart", "-f", "mp4", str(out)]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise media.MediaError(f"{video}: ffmpeg cannot cut panel {panel}/{panels} with the new sound "
                               f"({lines[-1] if lines else 'no detail'})")


# ------------------------------------------------------------------ pitch under the videos
#: Pitch estimation settings: cheap (16 kHz, 20 ms hop) and enough to draw a melody line.
PITCH_SR, PITCH_HOP, PITCH_FRAME = 16000, 320, 1024
PITCH_FMIN, PITCH_FMAX = 55.0, 1760.0  # A1 .. A6: the URMP instruments' range


#: Frames quieter than this below the recording's loudest frame count as unvoiced (silence).
PITCH_GATE_DB = 40.0


def pitch_track(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """(times s, f0 Hz, NaN where silent) of mono ``y``: librosa's YIN at 16 kHz, gated by loudness.

    pYIN would also decide voicing, but costs about 1.4 s per second of sound on one core,
    YIN 0.005 s; a page only draws the melody line, so frames more than PITCH_GATE_DB below
    the loudest are simply left out.
    """
    import librosa

    y16 = resample(np.asarray(y, dtype=np.float32), sr, PITCH_SR)
    if len(y16) < PITCH_FRAME:
        return np.zeros(0), np.zeros(0)
    f0 = librosa.yin(y16, fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=PITCH_SR, frame_length=PITCH_FRAME,
                     hop_length=PITCH_HOP, center=True)
    rms = librosa.feature.rms(y=y16, frame_length=PITCH_FRAME, hop_length=PITCH_HOP, center=True)[0][: len(f0)]
    level = 20 * np.log10(np.maximum(rms, 1e-10) / max(float(rms.max()), 1e-10))
    f0 = np.where(level > -PITCH_GATE_DB, f0, np.nan)
    return librosa.times_like(f0, sr=PITCH_SR, hop_length=PITCH_HOP), f0


def read_f0_file(path: Path, seconds: tuple[float, float | None]) -> tuple[np.ndarray, np.ndarray]:
    """(times s from ``seconds``' start, f0 Hz, NaN where 0) of a URMP F0s file (time<TAB>f0)."""
    try:
        table = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable F0 file (time, f0 per line): {err}") from err
    if table.shape[1] < 2:
        raise ValueError(f"{path}: expected two columns (time, f0), found {table.shape[1]}")
    a, b = seconds
    keep = (table[:, 0] >= a) & (table[:, 0] < (math.inf if b is None else b))
    times, f0 = table[keep, 0] - a, table[keep, 1].astype(float)
    f0[f0 <= 0] = np.nan
    return times, f0


def pitch_record(times: np.ndarray, f0: np.ndarray, source: str) -> dict:
    """The pitch track as JSON (rounded; null where unvoiced)."""
    return {"source": source, "times": [round(float(t), 3) for t in times],
            "f0": [None if not np.isfinite(v) else round(float(v), 2) for v in f0]}
