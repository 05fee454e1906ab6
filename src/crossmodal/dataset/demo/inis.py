"""Generate a demo INIS: photo-like instrument pictures and solo songs in two class-labelled folders.

The paper's INIS (Sec. 4, Table 3) pairs ImageNet photos of five instruments with 0.5 s chunks of
77 solo recordings; it was never released. The demo writes what a user would point the workflow
at instead, ``<out>/images/<class>/*.{png,jpg}`` and ``<out>/audio/<class>/*.{wav,flac}``, so it
goes through exactly the paired-folders path (crossmodal.dataset.inis) a user's own data takes.

Images: the instrument drawn at a random size, position and angle over a varied background
(gradients, two-tone rooms, clutter, noise), in pictures of varied sizes and aspect ratios:
the variety of photos rather than the fixed framing of the URMP panels. Songs: seeded melodies
(chords for the piano, arpeggios for the guitar, a beat on the General MIDI drum kit for the
drum) of varied tempo and length, with rests, rendered through the General MIDI SoundFont.
Everything depends only on (seed, class, index): the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from crossmodal.dataset.demo import audio
from crossmodal.dataset.demo.melody import MAJOR_SCALE, midi_to_hz, seeded_rng
from crossmodal.store import atomic_directory, atomic_output

log = logging.getLogger(__name__)

#: The paper's five INIS classes, in Fig. 7's order.
CLASSES = ("drum", "saxophone", "piano", "guitar", "violin")
#: General MIDI program (0-based) of each class; the drum plays the standard kit on channel 10.
GM_PROGRAM = {"drum": 0, "saxophone": 65, "piano": 0, "guitar": 25, "violin": 40}
#: Melody range (sounding MIDI keys) of the melodic classes.
MELODY_KEYS = {"saxophone": (51, 75), "piano": (55, 84), "guitar": (45, 74), "violin": (57, 88)}
#: GM percussion keys: bass drum, snare, closed hi-hat, crash cymbal, low and high tom.
KICK, SNARE, HIHAT, CRASH, TOM_LOW, TOM_HIGH = 36, 38, 42, 49, 45, 50
#: Sample rate of the demo songs (Hz), a common rate of downloaded recordings.
SR = 44100

RGBA = tuple[int, int, int, int]


class InisDemoError(ValueError):
    """The demo INIS cannot be generated as asked; the message says why."""


# ---------------------------------------------------------------------------------------------
# Songs


def song_notes(cls: str, rng: np.random.Generator, duration_s: float) -> np.ndarray:
    """Notes ``[shape=(n, 3)]`` (onset s, pitch Hz, duration s) of one song of ``cls``.

    A silent lead-in, then bars at a seeded tempo (66-150 bpm) with a rest of one or two bars
    now and then (the silence the pairing step must drop). Piano: melody over a chord per bar;
    guitar: arpeggios; saxophone and violin: a melody; drum: kick, snare and hi-hat, a fill now
    and then. Pitches of the drum are the GM percussion keys.
    """
    beat = 60.0 / rng.uniform(66.0, 150.0)
    tonic = int(rng.integers(0, 12))
    t = float(rng.uniform(0.2, 0.8))
    end = duration_s - 0.2
    notes: list[tuple[float, float, float]] = []

    def add(onset: float, key: float, length: float) -> None:
        if onset < end:
            notes.append((onset, float(midi_to_hz(key)), min(length, end - onset)))

    if cls != "drum":
        low, high = MELODY_KEYS[cls]
        keys = np.array([k for k in range(low, high + 1) if (k - tonic) % 12 in MAJOR_SCALE])
        index = len(keys) // 2
    bar = 0
    while t < end:
        if bar > 0 and rng.random() < 0.15:  # a rest of one or two bars
            t += 4 * beat * int(rng.integers(1, 3))
            bar += 1
            continue
        if cls == "drum":
            fill = rng.random() < 0.25
            for k in range(8):
                at = t + k * beat / 2
                add(at, HIHAT, beat / 4)
                if k in (0, 4) or (k == 5 and rng.random() < 0.4):
                    add(at, KICK, beat / 2)
                if k in (2, 6):
                    add(at, SNARE, beat / 2)
                if fill and k >= 6:
                    add(at + beat / 4, TOM_HIGH if k == 6 else TOM_LOW, beat / 4)
            if bar == 0:
                add(t, CRASH, 2 * beat)
            t += 4 * beat
        elif cls == "guitar":
            root = int(keys[int(rng.integers(0, max(1, len(keys) - 8)))])
            chord = [root, root + 4 + int(rng.integers(0, 2)) * -1, root + 7, root + 12]
            for k in range(8):
                add(t + k * beat / 2, chord[[0, 1, 2, 3, 2, 1, 2, 3][k]], beat * 0.9)
            t += 4 * beat
        else:
            beats_left = 4.0
            if cls == "piano":
                root = int(keys[0]) - 12 + int(rng.choice([0, 5, 7, 9]))
                for key in (root, root + 4, root + 7):
                    add(t, key, 4 * beat * 0.95)
            while beats_left > 0:
                length = float(min(beats_left, rng.choice([0.5, 1.0, 1.0, 1.5, 2.0] if cls != "violin"
                                                          else [1.0, 2.0, 2.0, 3.0])))
                index = int(np.clip(index + rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(keys) - 1))
                add(t + (4.0 - beats_left) * beat, keys[index], length * beat * 0.9)
                beats_left -= length
            t += 4 * beat
        bar += 1
    return np.array(sorted(notes), dtype=np.float64).reshape(-1, 3)


def render_song(cls: str, notes: np.ndarray, duration_s: float, soundfont: bytes, gain: float) -> np.ndarray:
    """float32 [round(duration_s * SR)] mono: ``notes`` on the class's GM program, peak ``gain`` x 0.5."""
    samples = audio.render_part(notes, cls, duration_s, soundfont, sr=SR, program=GM_PROGRAM[cls],
                                drums=cls == "drum")
    return (samples * gain).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Pictures: an instrument on a transparent layer (unit coordinates), put on a background


class _Layer:
    """An RGBA canvas of ``side`` px taking unit coordinates."""

    def __init__(self, side: int):
        self.side = side
        self.image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)

    def _xy(self, points):
        return [(x * self.side, y * self.side) for x, y in points]

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGBA, outline: RGBA | None = None,
                width: float = 0.0) -> None:
        s = self.side
        self.draw.ellipse([(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s], fill=fill, outline=outline,
                          width=max(1, int(width * s)) if outline else 0)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: RGBA) -> None:
        self.draw.rectangle([x0 * self.side, y0 * self.side, x1 * self.side, y1 * self.side], fill=fill)

    def poly(self, points, fill: RGBA) -> None:
        self.draw.polygon(self._xy(points), fill=fill)

    def line(self, points, width: float, fill: RGBA) -> None:
        self.draw.line(self._xy(points), fill=fill, width=max(1, int(round(width * self.side))), joint="curve")


def _rgba(rgb, alpha: int = 255) -> RGBA:
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha)


def _shade(rgb, factor: float) -> RGBA:
    return _rgba([max(0, min(255, round(c * factor))) for c in rgb])


def _jitter(rng: np.random.Generator, rgb, amount: int = 20) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


WOODS = [(214, 160, 92), (176, 96, 40), (140, 60, 30), (196, 120, 60)]


def _draw_guitar(cv: _Layer, rng: np.random.Generator) -> None:
    """Acoustic or electric guitar, neck up: two bouts, a sound hole, a long neck and headstock."""
    body = _jitter(rng, [(214, 160, 92), (150, 40, 30), (25, 25, 30), (40, 70, 150), (196, 120, 60)]
                   [int(rng.integers(0, 5))])
    cv.ellipse(0.5, 0.72, 0.25, 0.22, _rgba(body))
    cv.ellipse(0.5, 0.50, 0.19, 0.16, _rgba(body))
    cv.rect(0.35, 0.50, 0.65, 0.70, _rgba(body))
    cv.ellipse(0.5, 0.60, 0.055, 0.055, (20, 14, 10, 255), outline=_shade(body, 1.3), width=0.01)
    cv.rect(0.44, 0.79, 0.56, 0.815, (40, 28, 20, 255))  # bridge
    cv.rect(0.475, 0.10, 0.525, 0.55, (70, 45, 25, 255))  # neck
    for k in range(7):  # frets
        y = 0.13 + 0.055 * k
        cv.line([(0.475, y), (0.525, y)], 0.004, (200, 200, 200, 255))
    cv.poly([(0.46, 0.02), (0.54, 0.02), (0.535, 0.11), (0.465, 0.11)], (50, 35, 25, 255))  # headstock
    for k in range(6):  # strings
        x = 0.482 + 0.0072 * k
        cv.line([(x, 0.06), (x, 0.80)], 0.002, (225, 225, 215, 255))


def _draw_violin(cv: _Layer, rng: np.random.Generator) -> None:
    """Violin, neck up: a narrow-waisted varnished body, f-holes, a black fingerboard, the scroll;
    sometimes the bow beside it."""
    body = _jitter(rng, [(222, 128, 40), (170, 78, 28), (196, 100, 36)][int(rng.integers(0, 3))], 15)
    cv.ellipse(0.5, 0.70, 0.14, 0.14, _rgba(body))
    cv.ellipse(0.5, 0.46, 0.115, 0.11, _rgba(body))
    cv.rect(0.42, 0.46, 0.58, 0.70, _rgba(body))
    for side in (-1, 1):  # C-bouts: the waist cut in
        cv.ellipse(0.5 + side * 0.135, 0.58, 0.05, 0.055, (0, 0, 0, 0))
    for side in (-1, 1):  # f-holes
        x = 0.5 + side * 0.055
        cv.line([(x - side * 0.01, 0.55), (x, 0.60), (x + side * 0.01, 0.66)], 0.008, (30, 15, 8, 255))
    cv.rect(0.485, 0.16, 0.515, 0.66, (20, 20, 20, 255))  # fingerboard
    cv.rect(0.47, 0.74, 0.53, 0.80, (25, 25, 25, 255))  # tailpiece
    cv.ellipse(0.5, 0.12, 0.028, 0.04, _shade(body, 0.8))  # scroll
    cv.ellipse(0.5, 0.12, 0.012, 0.018, _shade(body, 0.5))
    if rng.random() < 0.5:  # the bow
        x = 0.73 + rng.uniform(-0.03, 0.03)
        cv.line([(x, 0.08), (x + 0.04, 0.92)], 0.012, (235, 225, 200, 255))
        cv.line([(x - 0.012, 0.08), (x + 0.028, 0.92)], 0.008, (90, 45, 20, 255))


def _draw_saxophone(cv: _Layer, rng: np.random.Generator) -> None:
    """Alto saxophone: neck and mouthpiece, a conical body, the U-bend and an upturned bell, keys."""
    brass = _jitter(rng, [(200, 150, 40), (220, 175, 60), (180, 120, 30), (190, 190, 200)][int(rng.integers(0, 4))], 12)
    pts = [(0.34, 0.06), (0.40, 0.10), (0.45, 0.16), (0.46, 0.30), (0.47, 0.50), (0.48, 0.70),
           (0.52, 0.82), (0.60, 0.85), (0.66, 0.80), (0.68, 0.68), (0.69, 0.58)]
    cv.line(pts[:3], 0.025, (30, 30, 30, 255))
    widths = [0.04, 0.05, 0.065, 0.08, 0.09, 0.10, 0.10, 0.11]
    for k, w in enumerate(widths):
        cv.line([pts[2 + k], pts[3 + k]], w, _rgba(brass))
        cv.ellipse(*pts[3 + k], w / 2, w / 2, _rgba(brass))
    cv.ellipse(0.69, 0.56, 0.09, 0.035, _shade(brass, 0.55))  # bell opening
    cv.ellipse(0.69, 0.56, 0.09, 0.035, (0, 0, 0, 0), outline=_shade(brass, 1.2), width=0.008)
    for k in range(6):
        cv.ellipse(0.43 + 0.006 * k, 0.30 + 0.075 * k, 0.016, 0.016, _shade(brass, 0.75))


def _draw_piano(cv: _Layer, rng: np.random.Generator) -> None:
    """An upright piano (front view: case, music desk, keyboard, legs) or a close-up keyboard."""
    case = [(20, 20, 22), (70, 40, 25), (235, 235, 230), (110, 60, 35)][int(rng.integers(0, 4))]
    if rng.random() < 0.6:
        cv.rect(0.08, 0.12, 0.92, 0.58, _rgba(case))
        cv.rect(0.25, 0.30, 0.75, 0.40, _shade(case, 0.7))  # music desk
        key_top, key_bottom, x0, x1 = 0.58, 0.72, 0.06, 0.94
        cv.rect(0.05, 0.72, 0.95, 0.78, _rgba(case))
        cv.rect(0.10, 0.78, 0.15, 0.92, _rgba(case))
        cv.rect(0.85, 0.78, 0.90, 0.92, _rgba(case))
    else:  # close-up of the keys
        key_top, key_bottom, x0, x1 = 0.30, 0.72, 0.02, 0.98
        cv.rect(0.0, 0.18, 1.0, key_top, _rgba(case))
    n_white = 21 if key_bottom - key_top < 0.2 else 10
    width = (x1 - x0) / n_white
    cv.rect(x0, key_top, x1, key_bottom, (245, 244, 238, 255))
    for k in range(n_white + 1):
        x = x0 + k * width
        cv.line([(x, key_top), (x, key_bottom)], 0.004, (90, 90, 90, 255))
    for k in range(n_white - 1):
        if k % 7 in (0, 1, 3, 4, 5):  # black keys after C, D, F, G, A
            x = x0 + (k + 1) * width
            cv.rect(x - width * 0.3, key_top, x + width * 0.3, key_top + (key_bottom - key_top) * 0.6, (15, 15, 15, 255))


def _draw_drum(cv: _Layer, rng: np.random.Generator) -> None:
    """A snare or tom (a shell with a pale head, rims and lugs, sticks on top) or a bass drum
    seen from the front with a cymbal above it."""
    shell = _jitter(rng, [(180, 30, 40), (30, 60, 150), (20, 20, 20), (190, 190, 200), (120, 60, 140)]
                    [int(rng.integers(0, 5))], 15)
    head = (236, 232, 218, 255)
    silver = (200, 200, 205, 255)
    if rng.random() < 0.55:
        cv.rect(0.15, 0.45, 0.85, 0.75, _rgba(shell))
        cv.ellipse(0.5, 0.75, 0.35, 0.10, _shade(shell, 0.7))
        cv.ellipse(0.5, 0.45, 0.35, 0.10, head, outline=silver, width=0.015)
        for k in range(7):  # lugs
            x = 0.2 + 0.1 * k
            cv.rect(x - 0.012, 0.55, x + 0.012, 0.66, silver)
        cv.line([(0.30, 0.25), (0.58, 0.42)], 0.02, (220, 190, 140, 255))  # sticks
        cv.line([(0.72, 0.24), (0.45, 0.41)], 0.02, (220, 190, 140, 255))
    else:
        cv.line([(0.5, 0.30), (0.5, 0.05)], 0.012, silver)  # cymbal stand
        cv.ellipse(0.5, 0.08, 0.30, 0.04, (205, 165, 60, 255))
        cv.ellipse(0.5, 0.60, 0.34, 0.34, _rgba(shell))
        cv.ellipse(0.5, 0.60, 0.29, 0.29, head)
        cv.ellipse(0.5, 0.60, 0.12, 0.06, _rgba(shell))  # logo
        for k in range(8):
            a = 2 * math.pi * k / 8
            cv.ellipse(0.5 + 0.315 * math.cos(a), 0.60 + 0.315 * math.sin(a), 0.015, 0.015, silver)


DRAWERS = {"drum": _draw_drum, "saxophone": _draw_saxophone, "piano": _draw_piano,
           "guitar": _draw_guitar, "violin": _draw_violin}


def background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photo-like backdrop: a gradient, a two-tone room or a plain wall, with clutter."""
    style = int(rng.integers(0, 3))
    a = rng.integers(30, 230, size=3)
    b = np.clip(a + rng.integers(-90, 91, size=3), 0, 255)
    if style == 0:  # vertical gradient
        t = np.linspace(0.0, 1.0, height)[:, None, None]
        pixels = np.broadcast_to(a * (1 - t) + b * t, (height, width, 3))
    elif style == 1:  # wall and floor
        horizon = int(height * rng.uniform(0.55, 0.85))
        pixels = np.empty((height, width, 3))
        pixels[:horizon], pixels[horizon:] = a, b
    else:
        pixels = np.broadcast_to(a.astype(float), (height, width, 3))
    image = Image.fromarray(np.ascontiguousarray(pixels).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 8))):  # clutter: furniture, frames, lamps
        colour = tuple(int(c) for c in rng.integers(20, 235, size=3))
        x0, y0 = rng.uniform(-0.2, 1.0) * width, rng.uniform(-0.2, 1.0) * height
        w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.1, 0.5) * height
        (draw.rectangle if rng.random() < 0.6 else draw.ellipse)([x0, y0, x0 + w, y0 + h], fill=colour)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))


def draw_picture(cls: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """uint8 [height, width, 3]: a ``cls`` instrument at a random size (45-95% of the shorter
    side), position and angle (up to 40 degrees either way) over :func:`background`, with
    sensor noise."""
    image = background(rng, width, height)
    side = int(min(width, height) * rng.uniform(0.45, 0.95))
    layer = _Layer(2 * side)  # supersampled, box-filtered down
    DRAWERS[cls](layer, rng)
    instrument = layer.image.rotate(float(rng.uniform(-40, 40)), resample=Image.BICUBIC, expand=False)
    instrument = instrument.resize((side, side), Image.BOX)
    x = int(rng.integers(-side // 6, max(1, width - side + side // 6)))
    y = int(rng.integers(-side // 6, max(1, height - side + side // 6)))
    image.paste(instrument, (x, y), instrument)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, rng.uniform(1.0, 6.0), (height, width, 3))
    return np.clip(pixels, 0, 255).round().astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The tree


def generate_inis_demo(out: Path, images_per_class: int = 120, songs_per_class: int = 3,
                       song_s: tuple[float, float] = (5.0, 10.0), seed: int = 0,
                       soundfont: Path | None = None, classes: tuple[str, ...] = CLASSES) -> Path:
    """Writes ``out/images/<class>/*`` and ``out/audio/<class>/*`` and returns ``out``.

    Pictures are 64-160 px on each side (PNG and JPEG alternately); songs last between
    ``song_s`` seconds (WAV, every third FLAC). The folder appears only when complete.
    """
    out = Path(out)
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
        raise InisDemoError(f"demo INIS classes {unknown} are not among {list(CLASSES)}")
    if images_per_class < 2 or songs_per_class < 2:
        raise InisDemoError(f"the demo INIS needs 2 images and 2 songs per class at least (for train and "
                            f"test); asked for {images_per_class} and {songs_per_class}")
    if not 0.5 < song_s[0] <= song_s[1]:
        raise InisDemoError(f"song lengths {song_s} s must be increasing and longer than 0.5 s")
    soundfont_bytes = audio.load_soundfont(soundfont)
    started = time.monotonic()
    with atomic_directory(out) as tmp:
        for cls in classes:
            image_dir, audio_dir = tmp / "images" / cls, tmp / "audio" / cls
            image_dir.mkdir(parents=True)
            audio_dir.mkdir(parents=True)
            for i in range(images_per_class):
                rng = seeded_rng(seed, "inis image", cls, i)
                width, height = (int(v) for v in rng.integers(64, 161, size=2))
                picture = Image.fromarray(draw_picture(cls, rng, width, height))
                suffix = ".jpg" if i % 2 else ".png"
                with atomic_output(image_dir / f"{cls}_{i:04d}{suffix}") as path:
                    picture.save(path, quality=90) if suffix == ".jpg" else picture.save(path)
            for k in range(songs_per_class):
                rng = seeded_rng(seed, "inis song", cls, k)
                duration = float(rng.uniform(*song_s))
                samples = render_song(cls, song_notes(cls, rng, duration), duration, soundfont_bytes,
                                      float(rng.uniform(0.5, 1.0)))
                write_song(audio_dir / f"{cls}_song{k + 1:02d}{'.flac' if k % 3 == 2 else '.wav'}", samples)
            log.info("demo INIS %s: %d pictures, %d songs", cls, images_per_class, songs_per_class)
    log.info("demo INIS written to %s in %.1f s", out, time.monotonic() - started)
    return out


def write_song(path: Path, samples: np.ndarray, sr: int = SR) -> None:
    """Mono ``samples`` as 16-bit WAV or FLAC (by ``path``'s suffix), atomically."""
    import soundfile

    with atomic_output(path) as tmp:
        soundfile.write(str(tmp), samples, sr, subtype="PCM_16", format=path.suffix[1:].upper())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="folder to create with images/ and audio/ (replaced)")
    parser.add_argument("--images-per-class", type=int, default=120)
    parser.add_argument("--songs-per-class", type=int, default=3)
    parser.add_argument("--song-s", type=float, nargs=2, default=[5.0, 10.0], metavar=("MIN", "MAX"),
                        help="range of song lengths (s)")
    parser.add_argument("--classes", nargs="+", default=list(CLASSES), choices=CLASSES)
    parser.add_argument("--soundfont", type=Path, default=None,
                        help="SoundFont (.sf2) to render with (default: pretty_midi's TimGM6mb.sf2)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> None:
    generate_inis_demo(args.out, args.images_per_class, args.songs_per_class, tuple(args.song_s), args.seed,
                       args.soundfont, tuple(args.classes))
