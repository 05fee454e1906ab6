"""Drawing one player's panel: a seated figure holding an instrument, posed by the note played.

Each of the 13 instruments has its own shape and colour (violin and viola small under the chin,
cello and double bass big and upright, flute horizontal, oboe and clarinet vertical and narrow,
sax curved, bassoon a long diagonal tube, brass with bells of different sizes, tuba large), so
the instrument can be told from the image. The pose follows the sound: while a note sounds, the
hand that sets the pitch (fingers on a string's neck or a woodwind's tube, a trombone's slide,
a brass bell's angle) moves with the pitch normalised within the instrument's range, and a string
player's bow travels across the note; when the part is silent the instrument is lowered and the
arms rest. Everything is pure: (look, pose, size) -> RGB array.

Coordinates are normalised to a unit square (x to the right, y down, the figure centred), whose
VIEW part is scaled into the panel; drawing is supersampled and box-filtered for smooth edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from crossmodal.dataset.demo.melody import seeded_rng

RGB = tuple[int, int, int]
Point = tuple[float, float]


@dataclass(frozen=True)
class Pose:
    """What a player is doing in one frame.

    playing: a note sounds (or the player holds through a short gap); False is the rest pose.
    position: the pitch normalised within the instrument's range, 0 (lowest) .. 1 (highest).
    stroke: where a bow is along its stroke, -1 (frog end) .. 1 (tip end); 0 for winds.
    """

    playing: bool
    position: float = 0.5
    stroke: float = 0.0


REST = Pose(playing=False)


@dataclass(frozen=True)
class Player:
    """How a player looks apart from the instrument (skin, clothes, hair); never encodes it."""

    skin: RGB
    shirt: RGB
    trousers: RGB
    hair: RGB


@dataclass(frozen=True)
class Room:
    """A panel's background: wall and floor colours, and where the floor starts (0..1)."""

    wall: RGB
    floor: RGB
    horizon: float


#: Colour of each instrument (instruments of one shape family get clearly different colours).
INSTRUMENT_COLOUR: dict[str, RGB] = {
    "violin": (222, 128, 40),      # orange varnish
    "viola": (160, 80, 30),        # darker brown, a bit bigger
    "cello": (140, 45, 30),        # red-brown, upright
    "double_bass": (80, 52, 30),   # very dark brown, biggest upright
    "flute": (222, 224, 235),      # bright silver, horizontal
    "oboe": (75, 45, 105),         # purplish wood, short and narrow
    "clarinet": (22, 22, 26),      # black with silver keys
    "bassoon": (196, 112, 92),     # rosewood, long diagonal
    "sax": (190, 140, 20),         # amber lacquer, curved
    "trumpet": (245, 205, 40),     # bright yellow brass, small bell
    "trombone": (250, 232, 150),   # pale brass, slide and big bell
    "horn": (205, 115, 55),        # copper coil
    "tuba": (160, 166, 182),       # silver, large
}
SILVER: RGB = (200, 200, 210)
BOW_STICK: RGB = (70, 40, 20)
BOW_HAIR: RGB = (245, 240, 225)

SKINS: tuple[RGB, ...] = ((241, 194, 160), (224, 172, 130), (198, 134, 90), (141, 85, 55), (95, 60, 40))
#: Clothes are greens and teals, a hue no instrument uses, so a shirt can never pass for an
#: instrument (dark shirts once hid the black clarinet and the judge learnt shirts instead).
SHIRTS: tuple[RGB, ...] = ((50, 120, 70), (90, 150, 80), (40, 110, 120), (70, 140, 140), (30, 90, 60), (110, 160, 120))
HAIRS: tuple[RGB, ...] = ((20, 15, 10), (70, 45, 25), (150, 110, 60), (200, 200, 200))

SHOULDERS: tuple[Point, Point] = ((0.38, 0.43), (0.62, 0.43))
ARM_SEGMENT = 0.16  # upper arm and forearm length
MOUTH: Point = (0.5, 0.335)
#: The part of the unit square a panel shows (x0, y0, side): the player fills the panel.
VIEW = (0.1, 0.15, 0.8)


def seeded_player(seed: int, *keys: object) -> Player:
    """A player's look drawn from (seed, keys)."""
    rng = seeded_rng(seed, "player", *keys)
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    return Player(skin=pick(SKINS), shirt=pick(SHIRTS), trousers=pick(SHIRTS[:3]), hair=pick(HAIRS))


def seeded_room(seed: int, *keys: object) -> Room:
    """A room drawn from (seed, keys): a light wall and a darker floor, varying a little."""
    rng = seeded_rng(seed, "room", *keys)
    base = np.array([205, 200, 190]) + rng.integers(-18, 19, size=3)
    floor = np.array([120, 100, 80]) + rng.integers(-25, 26, size=3)
    return Room(wall=tuple(int(v) for v in base), floor=tuple(int(v) for v in floor),
                horizon=float(rng.uniform(0.78, 0.86)))


# ---------------------------------------------------------------------------------------------
# Geometry helpers (normalised coordinates)


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _rotate(points: list[Point], origin: Point, degrees: float, shift: Point = (0.0, 0.0)) -> list[Point]:
    """Points rotated about ``origin`` by ``degrees`` (clockwise on screen), then shifted."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    ox, oy = origin
    return [(ox + (x - ox) * c - (y - oy) * s + shift[0], oy + (x - ox) * s + (y - oy) * c + shift[1])
            for x, y in points]


def _ellipse(center: Point, rx: float, ry: float, degrees: float = 0.0, n: int = 28) -> list[Point]:
    pts = [(center[0] + rx * math.cos(2 * math.pi * k / n), center[1] + ry * math.sin(2 * math.pi * k / n))
           for k in range(n)]
    return _rotate(pts, center, degrees)


def _elbow(shoulder: Point, hand: Point) -> Point:
    """Elbow of a two-segment arm from ``shoulder`` to ``hand``, bent outwards and down."""
    dx, dy = hand[0] - shoulder[0], hand[1] - shoulder[1]
    d = math.hypot(dx, dy)
    mid = _lerp(shoulder, hand, 0.5)
    if d >= 2 * ARM_SEGMENT or d == 0:
        return mid
    h = math.sqrt(ARM_SEGMENT ** 2 - (d / 2) ** 2)
    nx, ny = -dy / d, dx / d
    side = 1.0 if shoulder[0] > 0.5 else -1.0
    if nx * side + 0.5 * ny < 0:
        nx, ny = -nx, -ny
    return (mid[0] + nx * h, mid[1] + ny * h)


class _Canvas:
    """An ImageDraw that takes normalised coordinates and widths."""

    def __init__(self, image: Image.Image, scale: float, offset: Point):
        self.draw = ImageDraw.Draw(image)
        self.scale, self.offset = scale, offset

    def _xy(self, pts: list[Point]) -> list[tuple[float, float]]:
        return [(self.offset[0] + x * self.scale, self.offset[1] + y * self.scale) for x, y in pts]

    def poly(self, pts: list[Point], fill: RGB) -> None:
        self.draw.polygon(self._xy(pts), fill=fill)

    def line(self, pts: list[Point], width: float, fill: RGB) -> None:
        w = max(1, int(round(width * self.scale)))
        self.draw.line(self._xy(pts), fill=fill, width=w, joint="curve")
        r = w / 2
        for x, y in self._xy([pts[0], pts[-1]]):  # round caps
            self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def ellipse(self, center: Point, rx: float, ry: float, fill: RGB, degrees: float = 0.0) -> None:
        self.poly(_ellipse(center, rx, ry, degrees), fill)


def _shade(colour: RGB, factor: float) -> RGB:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in colour)


# ---------------------------------------------------------------------------------------------
# Instruments: each draws itself for a pose and returns (left hand, right hand) in image terms.


def _strings_chin(cv: _Canvas, pose: Pose, colour: RGB, size: float) -> tuple[Point, Point]:
    """Violin / viola: under the chin, neck to the image right; left hand on the neck, bow across."""
    body_len, body_w, neck_len = 0.15 * size, 0.085 * size, 0.13 * size
    if pose.playing:
        angle = -22.0  # neck rising to the right
        chin = (0.47, 0.39)
    else:  # held upright on the lap, bow hanging
        angle = -90.0
        chin = (0.60, 0.82)
    ux, uy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    body_c = (chin[0] + ux * body_len * 0.35, chin[1] + uy * body_len * 0.35)
    neck_a = (body_c[0] + ux * body_len * 0.5, body_c[1] + uy * body_len * 0.5)
    neck_b = (neck_a[0] + ux * neck_len, neck_a[1] + uy * neck_len)
    cv.ellipse(body_c, body_len * 0.55, body_w * 0.5, colour, angle)
    cv.ellipse(_lerp(body_c, neck_a, 0.15), body_len * 0.12, body_w * 0.22, _shade(colour, 0.6), angle)
    cv.line([neck_a, neck_b], 0.022 * size, (30, 20, 15))
    cv.ellipse(neck_b, 0.018 * size, 0.018 * size, _shade(colour, 0.8))
    bridge = _lerp(body_c, neck_a, -0.35)
    bow_len = 0.30 * size
    if pose.playing:
        # Higher pitch: hand nearer the body; bow tilts as it crosses to higher strings.
        left = _lerp(neck_b, neck_a, 0.1 + 0.85 * pose.position)
        bow_angle = 14 - 28 * pose.position
        bx, by = math.cos(math.radians(bow_angle)), math.sin(math.radians(bow_angle))
        along = (0.5 + 0.4 * pose.stroke) * bow_len  # contact point's distance from the frog
        frog = (bridge[0] - bx * along, bridge[1] - by * along)
        tip = (frog[0] + bx * bow_len, frog[1] + by * bow_len)
        right = frog
    else:
        left = _lerp(body_c, neck_a, 0.9)
        frog = (0.34, 0.74)
        tip = (0.30, 0.74 + bow_len * 0.9)
        right = frog
    cv.line([frog, tip], 0.010 * size, BOW_HAIR)
    cv.line([frog, tip], 0.006 * size, BOW_STICK)
    # Left hand (on the neck) is on the image right, the bow hand on the image left.
    return right, left


def _strings_upright(cv: _Canvas, pose: Pose, colour: RGB, size: float) -> tuple[Point, Point]:
    """Cello / double bass: standing between the knees; left hand on the neck, bow across."""
    cx, cy = 0.53, 0.72
    lower_r, upper_r = 0.16 * size, 0.125 * size
    lower_c, upper_c = (cx, cy + 0.05 * size), (cx, cy - 0.13 * size)
    cv.line([(cx, lower_c[1] + lower_r), (cx, 0.99)], 0.012, (60, 60, 60))  # end pin
    cv.ellipse(lower_c, lower_r, lower_r * 1.05, colour)
    cv.ellipse(upper_c, upper_r, upper_r * 1.1, colour)
    cv.ellipse((cx, cy - 0.04 * size), upper_r * 0.75, 0.05 * size, colour)
    cv.ellipse((cx - 0.05 * size, cy - 0.03 * size), 0.008, 0.035 * size, _shade(colour, 0.45))
    cv.ellipse((cx + 0.05 * size, cy - 0.03 * size), 0.008, 0.035 * size, _shade(colour, 0.45))
    neck_a = (cx, upper_c[1] - upper_r * 1.05)
    neck_b = (cx + 0.02, neck_a[1] - 0.30 * size)
    cv.line([(cx, cy + 0.08 * size), neck_a], 0.018 * size, (30, 20, 15))  # fingerboard
    cv.line([neck_a, neck_b], 0.022 * size, (30, 20, 15))
    cv.ellipse(neck_b, 0.022 * size, 0.03 * size, _shade(colour, 0.8))
    bow_len = 0.36 * size
    bridge = (cx, cy + 0.02 * size)
    if pose.playing:
        left = _lerp(neck_b, neck_a, 0.1 + 0.85 * pose.position)
        left = (left[0] + 0.015, left[1])
        bow_angle = 8 - 16 * pose.position  # near horizontal, tilting with the string
        bx, by = math.cos(math.radians(bow_angle)), math.sin(math.radians(bow_angle))
        along = (0.5 + 0.4 * pose.stroke) * bow_len
        frog = (bridge[0] - bx * along, bridge[1] - by * along)
        tip = (frog[0] + bx * bow_len, frog[1] + by * bow_len)
    else:
        left = (neck_a[0] + 0.02, neck_a[1] + 0.02)
        frog = (0.27, 0.72)
        tip = (0.25, 0.72 + bow_len * 0.8)
    cv.line([frog, tip], 0.010 * size, BOW_HAIR)
    cv.line([frog, tip], 0.006 * size, BOW_STICK)
    return frog, left


def _flute(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Flute: a long thin tube held sideways from the mouth; fingers move along it with pitch."""
    if pose.playing:
        a, b = (MOUTH[0] + 0.05, MOUTH[1] + 0.01), (0.06, 0.40 - 0.04 * pose.position)
    else:
        a, b = (0.66, 0.58), (0.30, 0.86)
    cv.line([a, b], 0.026, colour)
    for k in range(6):
        cv.ellipse(_lerp(a, b, 0.35 + 0.1 * k), 0.006, 0.006, _shade(colour, 0.6))
    cv.ellipse(_lerp(a, b, 0.03), 0.008, 0.006, (40, 40, 40))  # embouchure hole
    near = _lerp(a, b, 0.30)
    far = _lerp(a, b, 0.85 - 0.3 * pose.position) if pose.playing else _lerp(a, b, 0.7)
    return far, near


def _vertical_reed(cv: _Canvas, pose: Pose, colour: RGB, length: float, bell: float,
                   keys: RGB) -> tuple[Point, Point]:
    """Oboe / clarinet: a narrow tube down from the mouth with a flared bell; the lower hand
    slides down the tube as the pitch falls."""
    if pose.playing:
        top, bottom = (MOUTH[0], MOUTH[1] + 0.01), (0.52, MOUTH[1] + length)
    else:
        top, bottom = (0.63, 0.53), (0.72, 0.53 + length)
    cv.line([top, bottom], 0.034, colour)
    direction = (bottom[0] - top[0], bottom[1] - top[1])
    norm = math.hypot(*direction)
    ux, uy = direction[0] / norm, direction[1] / norm
    flare = [(bottom[0] - uy * 0.014, bottom[1] + ux * 0.014),
             (bottom[0] + uy * 0.014, bottom[1] - ux * 0.014),
             (bottom[0] + uy * bell + ux * 0.05, bottom[1] - ux * bell + uy * 0.05),
             (bottom[0] - uy * bell + ux * 0.05, bottom[1] + ux * bell + uy * 0.05)]
    cv.poly(flare, colour)
    for k in range(5):
        cv.ellipse(_lerp(top, bottom, 0.2 + 0.15 * k), 0.009, 0.004, keys)
    upper = _lerp(top, bottom, 0.3)
    lower = _lerp(top, bottom, 0.5 + 0.45 * (1 - pose.position)) if pose.playing else _lerp(top, bottom, 0.75)
    return upper, lower


def _sax(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Alto sax: neck from the mouth, body down the right side, U-bend and a bell opening up."""
    shift = (0.0, 0.0) if pose.playing else (0.08, 0.16)
    pts = [MOUTH, (0.55, 0.36), (0.60, 0.42), (0.61, 0.55), (0.61, 0.72), (0.64, 0.79), (0.70, 0.79),
           (0.73, 0.72), (0.74, 0.65)]
    pts = [(x + shift[0], y + shift[1]) for x, y in pts]
    cv.line(pts[:3], 0.018, colour)
    cv.line(pts[2:5], 0.04, colour)
    cv.line(pts[4:], 0.05, colour)
    cv.ellipse((pts[-1][0] + 0.005, pts[-1][1] - 0.02), 0.05, 0.022, _shade(colour, 0.55))
    for k in range(4):
        cv.ellipse((pts[3][0] - 0.012, 0.50 + 0.06 * k + shift[1]), 0.008, 0.008, _shade(colour, 0.7))
    upper = (pts[3][0] - 0.015, 0.49 + shift[1])
    lower = (pts[3][0] + 0.01, (0.57 + 0.14 * (1 - pose.position) if pose.playing else 0.66) + shift[1])
    return upper, lower


def _bassoon(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Bassoon: a long thick diagonal tube reaching above the head, a thin bocal to the mouth."""
    if pose.playing:
        bottom, top, bocal = (0.32, 0.92), (0.66, 0.08), [(0.56, 0.38), MOUTH]
    else:
        bottom, top, bocal = (0.66, 0.96), (0.80, 0.20), [(0.76, 0.44), (0.70, 0.46)]
    cv.line([bottom, top], 0.055, colour)
    cv.line([_lerp(bottom, top, 0.985), _lerp(bottom, top, 1.02)], 0.06, _shade(colour, 1.2))
    cv.line(bocal, 0.01, SILVER)
    for k in range(4):
        cv.ellipse(_lerp(bottom, top, 0.25 + 0.1 * k), 0.008, 0.008, SILVER)
    upper = _lerp(bottom, top, 0.55)
    lower = _lerp(bottom, top, 0.15 + 0.25 * pose.position) if pose.playing else _lerp(bottom, top, 0.3)
    return lower, upper


def _trumpet(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Trumpet: a short pipe from the mouth to a small bell, raised with the pitch; valves on top."""
    if pose.playing:
        origin, angle = MOUTH, -4.0 - 18.0 * pose.position
    else:
        origin, angle = (0.55, 0.64), 40.0
    pipe = _rotate([origin, (origin[0] + 0.30, origin[1])], origin, angle)
    bell = _rotate([(origin[0] + 0.26, origin[1] - 0.012), (origin[0] + 0.36, origin[1] - 0.05),
                    (origin[0] + 0.36, origin[1] + 0.05), (origin[0] + 0.26, origin[1] + 0.012)], origin, angle)
    loop = _rotate([(origin[0] + 0.10, origin[1] + 0.035), (origin[0] + 0.24, origin[1] + 0.035)], origin, angle)
    cv.line(pipe, 0.018, colour)
    cv.line(loop, 0.016, colour)
    cv.poly(bell, colour)
    for k in range(3):
        valve = _rotate([(origin[0] + 0.14 + 0.025 * k, origin[1] - 0.03),
                         (origin[0] + 0.14 + 0.025 * k, origin[1] + 0.045)], origin, angle)
        cv.line(valve, 0.014, _shade(colour, 0.8))
    valves = _rotate([(origin[0] + 0.165, origin[1] - 0.03)], origin, angle)[0]
    hold = _rotate([(origin[0] + 0.20, origin[1] + 0.05)], origin, angle)[0]
    return hold, valves


def _trombone(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Trombone: a big bell over the image-left shoulder and a slide to the right; the slide
    extends as the pitch falls."""
    if pose.playing:
        origin, angle = MOUTH, 0.0
        extension = 0.08 + 0.30 * (1 - pose.position)
    else:
        origin, angle = (0.56, 0.52), 70.0
        extension = 0.08
    bell_pipe = _rotate([origin, (origin[0] - 0.22, origin[1] - 0.01)], origin, angle)
    bell = _rotate([(origin[0] - 0.20, origin[1] - 0.015), (origin[0] - 0.33, origin[1] - 0.075),
                    (origin[0] - 0.33, origin[1] + 0.055), (origin[0] - 0.20, origin[1] + 0.005)], origin, angle)
    inner = _rotate([origin, (origin[0] + 0.18, origin[1])], origin, angle)
    end = origin[0] + 0.18 + extension
    slide = _rotate([(origin[0] + 0.12, origin[1] - 0.008), (end, origin[1] - 0.008), (end, origin[1] + 0.03),
                     (origin[0] + 0.12, origin[1] + 0.03)], origin, angle)
    cv.line(bell_pipe, 0.016, colour)
    cv.poly(bell, colour)
    cv.line(inner, 0.016, colour)
    cv.line(slide, 0.012, _shade(colour, 0.9))
    brace = _rotate([(origin[0] - 0.06, origin[1] + 0.02)], origin, angle)[0]
    hand = _rotate([(end - 0.03, origin[1] + 0.035)], origin, angle)[0]
    return brace, hand


def _horn(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Horn: a round coil at the chest, the bell to the right with the right hand in it; the horn
    tilts and the valve hand moves with the pitch."""
    if pose.playing:
        origin, angle = MOUTH, -10.0 + 20.0 * pose.position
    else:
        origin, angle = (0.50, 0.56), 25.0
    coil_c = _rotate([(origin[0] + 0.06, origin[1] + 0.17)], origin, angle)[0]
    lead = _rotate([origin, (origin[0] + 0.02, origin[1] + 0.06)], origin, angle) + [coil_c]
    cv.line(lead[:2], 0.014, colour)
    cv.ellipse(coil_c, 0.115, 0.115, colour)
    cv.ellipse(coil_c, 0.075, 0.075, _shade(colour, 0.55))
    cv.ellipse(coil_c, 0.045, 0.045, colour)
    bell_c = _rotate([(origin[0] + 0.22, origin[1] + 0.25)], origin, angle)[0]
    cv.ellipse(bell_c, 0.075, 0.065, colour, angle + 20)
    cv.ellipse(bell_c, 0.05, 0.042, _shade(colour, 0.5), angle + 20)
    valves = _rotate([(origin[0] + 0.02 - 0.04 * (pose.position if pose.playing else 0.5), origin[1] + 0.10)],
                     origin, angle)[0]
    return valves, bell_c


def _tuba(cv: _Canvas, pose: Pose, colour: RGB) -> tuple[Point, Point]:
    """Tuba: a large upright body on the lap with a wide bell on top; tilts with the pitch."""
    if pose.playing:
        origin, angle = (0.58, 0.60), -6.0 + 12.0 * pose.position
    else:
        origin, angle = (0.64, 0.68), 14.0
    body = _rotate([(origin[0] - 0.07, origin[1] - 0.28), (origin[0] + 0.07, origin[1] - 0.28),
                    (origin[0] + 0.09, origin[1] + 0.22), (origin[0] - 0.09, origin[1] + 0.22)], origin, angle)
    bell_c = _rotate([(origin[0] + 0.02, origin[1] - 0.36)], origin, angle)[0]
    bottom = _rotate([(origin[0], origin[1] + 0.22)], origin, angle)[0]
    cv.poly(body, colour)
    cv.ellipse(bottom, 0.09, 0.035, colour, angle)
    cv.poly(_rotate([(origin[0] - 0.07, origin[1] - 0.27), (origin[0] - 0.15, origin[1] - 0.36),
                     (origin[0] + 0.19, origin[1] - 0.36), (origin[0] + 0.07, origin[1] - 0.27)],
                    origin, angle), colour)
    cv.ellipse(bell_c, 0.17, 0.035, _shade(colour, 0.6), angle)
    mouthpiece = MOUTH if pose.playing else _rotate([(origin[0] - 0.16, origin[1] - 0.1)], origin, angle)[0]
    lead_start = _rotate([(origin[0] - 0.07, origin[1] - 0.12)], origin, angle)[0]
    cv.line([lead_start, mouthpiece], 0.016, colour)
    for k in range(4):
        cv.line(_rotate([(origin[0] - 0.11, origin[1] - 0.06 + 0.03 * k),
                         (origin[0] - 0.02, origin[1] - 0.06 + 0.03 * k)], origin, angle), 0.014,
                _shade(colour, 0.75))
    valves = _rotate([(origin[0] - 0.10, origin[1] - 0.03 + (0.06 * (1 - pose.position) if pose.playing else 0.03))],
                     origin, angle)[0]
    side = _rotate([(origin[0] + 0.08, origin[1] + 0.0)], origin, angle)[0]
    return valves, side


def _draw_instrument(cv: _Canvas, instrument: str, pose: Pose) -> tuple[Point, Point]:
    colour = INSTRUMENT_COLOUR[instrument]
    if instrument in ("violin", "viola"):
        return _strings_chin(cv, pose, colour, 1.0 if instrument == "violin" else 1.18)
    if instrument in ("cello", "double_bass"):
        return _strings_upright(cv, pose, colour, 1.0 if instrument == "cello" else 1.22)
    if instrument == "flute":
        return _flute(cv, pose, colour)
    if instrument == "oboe":
        return _vertical_reed(cv, pose, colour, 0.30, 0.022, (190, 190, 195))
    if instrument == "clarinet":
        return _vertical_reed(cv, pose, colour, 0.36, 0.04, (200, 200, 210))
    if instrument == "bassoon":
        return _bassoon(cv, pose, colour)
    if instrument == "sax":
        return _sax(cv, pose, colour)
    if instrument == "trumpet":
        return _trumpet(cv, pose, colour)
    if instrument == "trombone":
        return _trombone(cv, pose, colour)
    if instrument == "horn":
        return _horn(cv, pose, colour)
    if instrument == "tuba":
        return _tuba(cv, pose, colour)
    raise ValueError(f"no drawing for instrument {instrument!r}")


def draw_panel(instrument: str, pose: Pose, width: int, height: int, room: Room, player: Player,
               supersample: int | None = None) -> np.ndarray:
    """One player's panel.

    Returns ``np.ndarray [shape=(height, width, 3), dtype=uint8]`` (RGB). The figure fills the
    panel's height and is centred horizontally.
    """
    ss = supersample or max(2, math.ceil(192 / min(width, height)))
    W, H = width * ss, height * ss
    image = Image.new("RGB", (W, H), room.wall)
    side = float(min(W, H))
    x0, y0, extent = VIEW
    scale = side / extent
    cv = _Canvas(image, scale, ((W - side) / 2 - x0 * scale, (H - side) / 2 - y0 * scale))
    ImageDraw.Draw(image).rectangle([0, int(room.horizon * H), W, H], fill=room.floor)

    # Chair, legs, torso, head.
    cv.poly([(0.33, 0.72), (0.67, 0.72), (0.67, 0.77), (0.33, 0.77)], (90, 70, 55))
    cv.line([(0.36, 0.77), (0.35, 0.98)], 0.02, (60, 45, 35))
    cv.line([(0.64, 0.77), (0.65, 0.98)], 0.02, (60, 45, 35))
    cv.line([(0.43, 0.74), (0.40, 0.84), (0.40, 0.97)], 0.065, player.trousers)
    cv.line([(0.57, 0.74), (0.60, 0.84), (0.60, 0.97)], 0.065, player.trousers)
    cv.poly([SHOULDERS[0], SHOULDERS[1], (0.60, 0.76), (0.40, 0.76)], player.shirt)
    cv.ellipse((0.5, 0.43), 0.12, 0.03, player.shirt)
    cv.line([(0.5, 0.36), (0.5, 0.42)], 0.04, player.skin)
    cv.ellipse((0.5, 0.27), 0.068, 0.08, player.skin)
    cv.ellipse((0.5, 0.215), 0.07, 0.035, player.hair)

    hands = _draw_instrument(cv, instrument, pose)
    for shoulder, hand in zip(SHOULDERS, hands):
        elbow = _elbow(shoulder, hand)
        cv.line([shoulder, elbow], 0.05, player.shirt)
        cv.line([elbow, hand], 0.042, player.shirt)
        cv.ellipse(hand, 0.022, 0.022, player.skin)
    return np.asarray(image.reduce(ss), dtype=np.uint8).copy()
