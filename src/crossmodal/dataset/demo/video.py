"""The ensemble video: players' panels side by side, posed frame by frame, encoded with the mix.

Frames are drawn with :func:`crossmodal.dataset.demo.figure.draw_panel` and piped as raw RGB into one
ffmpeg process (libx264, yuv420p, one thread, fixed settings, bit-exact flags) that also muxes
the AuMix as AAC, so the same notes give the same decoded frames. A panel depends only on its
player's pose, which is quantised, so each distinct pose is drawn once and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from crossmodal.dataset.demo.figure import REST, Player, Pose, Room, draw_panel
from crossmodal.dataset.demo.melody import pitch_position

#: A player keeps the playing pose through silences shorter than this (s): a breath or a bow
#: change is not a rest.
HOLD_S = 0.25
#: Pose quantisation: positions in 1/POSITION_STEPS, bow strokes in 1/STROKE_STEPS of a half stroke.
POSITION_STEPS = 64
STROKE_STEPS = 6
BOWED = frozenset({"violin", "viola", "cello", "double_bass"})
#: Encoder settings, fixed so that reruns give the same frames.
X264_PRESET = "medium"
X264_CRF = 18
AAC_BITRATE = "128k"


@dataclass(frozen=True)
class Panel:
    """One player of the video: instrument, notes [shape=(n, 3)] and look."""

    instrument: str
    notes: np.ndarray
    player: Player


def parse_fps(text: str | Fraction | float) -> Fraction:
    """``30000/1001``, ``25`` or a number -> Fraction; ValueError when not a positive rate."""
    try:
        fps = Fraction(str(text)) if not isinstance(text, Fraction) else text
    except (ValueError, ZeroDivisionError) as err:
        raise ValueError(f"frame rate {text!r} is not a number or a ratio like 30000/1001") from err
    if fps <= 0:
        raise ValueError(f"frame rate {text!r} must be positive")
    return fps


def frame_times(duration_s: float, fps: Fraction) -> np.ndarray:
    """Presentation times (s) of the frames of a ``duration_s`` video: ``[shape=(n_frames,)]``."""
    n_frames = int(round(duration_s * fps))
    return np.arange(n_frames) * float(1 / fps)


def pose_at(notes: np.ndarray, instrument: str, t: float) -> Pose:
    """The pose at time ``t`` (s) of a player playing ``notes [shape=(n, 3)]``.

    While a note sounds, position is its pitch within the instrument's range and (bowed strings)
    the bow travels from one end to the other over the note, changing direction every note.
    Through a gap shorter than HOLD_S the previous note's pose is held; otherwise REST. Poses
    are quantised (POSITION_STEPS, STROKE_STEPS) so equal poses draw equal panels.
    """
    if len(notes) == 0:
        return REST
    index = int(np.searchsorted(notes[:, 0], t, side="right")) - 1
    if index < 0:
        return REST
    onset, pitch, length = notes[index]
    progress = (t - onset) / length if length > 0 else 1.0
    if progress > 1.0:
        following = notes[index + 1, 0] if index + 1 < len(notes) else np.inf
        if t - (onset + length) >= HOLD_S or following - (onset + length) >= HOLD_S:
            return REST
        progress = 1.0
    position = round(pitch_position(pitch, instrument) * POSITION_STEPS) / POSITION_STEPS
    stroke = 0.0
    if instrument in BOWED:
        direction = 1.0 if index % 2 == 0 else -1.0
        stroke = direction * (round(progress * STROKE_STEPS * 2) / STROKE_STEPS - 1.0)
    return Pose(playing=True, position=position, stroke=stroke)


class PanelPainter:
    """Draws a player's panel per pose, remembering each distinct pose's drawing."""

    def __init__(self, panel: Panel, width: int, height: int, room: Room):
        self.panel, self.width, self.height, self.room = panel, width, height, room
        self.cache: dict[Pose, np.ndarray] = {}

    def __call__(self, pose: Pose) -> np.ndarray:
        image = self.cache.get(pose)
        if image is None:
            image = draw_panel(self.panel.instrument, pose, self.width, self.height, self.room, self.panel.player)
            self.cache[pose] = image
        return image


def render_frames(panels: list[Panel], room: Room, panel_width: int, height: int, times: np.ndarray):
    """Yields each frame ``np.ndarray [shape=(height, panel_width * len(panels), 3), dtype=uint8]``."""
    painters = [PanelPainter(p, panel_width, height, room) for p in panels]
    for t in times:
        yield np.concatenate([paint(pose_at(p.notes, p.instrument, float(t))) for p, paint in zip(panels, painters)],
                             axis=1)


def encode_video(out: Path, panels: list[Panel], room: Room, panel_width: int, height: int,
                 fps: Fraction, duration_s: float, audio: Path) -> None:
    """Writes the MP4: H.264 yuv420p video at ``fps`` and ``audio`` (a WAV) as AAC.

    OSError naming ``out`` and ffmpeg's message when encoding fails.
    """
    import ffmpeg

    from crossmodal.media import ffmpeg_exe

    if panel_width % 2 or height % 2:
        raise ValueError(f"{out}: panel width {panel_width} and height {height} must be even for yuv420p")
    width = panel_width * len(panels)
    times = frame_times(duration_s, fps)
    fps_text = f"{fps.numerator}/{fps.denominator}"
    video_in = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps_text)
    audio_in = ffmpeg.input(str(audio))
    stream = ffmpeg.output(
        video_in.video, audio_in.audio, str(out), format="mp4",
        vcodec="libx264", pix_fmt="yuv420p", preset=X264_PRESET, crf=X264_CRF, threads=1,
        r=fps_text, acodec="aac", audio_bitrate=AAC_BITRATE, ac=1,
        fflags="+bitexact", **{"flags:v": "+bitexact", "flags:a": "+bitexact", "map_metadata": -1},
    ).global_args("-nostdin", "-loglevel", "error").overwrite_output()
    process = stream.run_async(cmd=ffmpeg_exe(), pipe_stdin=True, pipe_stderr=True)
    try:
        for frame in render_frames(panels, room, panel_width, height, times):
            process.stdin.write(frame.tobytes())
    except BrokenPipeError:
        pass  # ffmpeg stopped early; its message is read below
    finally:
        process.stdin.close()
    stderr = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        raise OSError(f"{out}: ffmpeg failed to encode the demo video: {stderr or 'no message'}")
