"""Where each player sits in a URMP ensemble video, and how a panel becomes a square image.

URMP videos put the players side by side in part order. The default panels are equal-width
(what public code that crops URMP assumes, to first order); ``data.panels`` overrides the
edges of a piece whose panels are off. A panel is rarely square (a duet's is wide, a quintet's
narrow), so ``dataset.panel_fit`` says how it becomes S x S: ``stretch`` ignores the aspect
(a quintet's players are squeezed 2.8x, a cue that correlates with the instrument), ``pad``
keeps the whole panel with black bars, ``crop`` keeps the centre square.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

# numpy and PIL load only when an image is fitted: the box and geometry arithmetic is what
# `crossmodal extract` needs before it starts ffmpeg (crossmodal.dataset.decoder).
if TYPE_CHECKING:
    import numpy as np

PANEL_FITS = ("stretch", "pad", "crop")
#: Narrowest panel (px) a box may have.
MIN_PANEL_PX = 2


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [height, width, 3]; area averaging when shrinking (ffmpeg's ``area``)."""
    import numpy as np
    from PIL import Image

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(image)
    shrink = width <= w and height <= h
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((width, height), resample))


def fit_geometry(height: int, width: int, size: int, mode: str) -> tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int]]:
    """How :func:`fit_square` maps an H x W panel to size x size, as integers.

    Returns ((x, y, w, h) of the source region kept, (w, h) it is scaled to, (left, top) where
    it is placed on the black size x size canvas).
    """
    if mode not in PANEL_FITS:
        raise ValueError(f"panel fit {mode!r} is not one of {', '.join(PANEL_FITS)}")
    if size < 1 or height < 1 or width < 1:
        raise ValueError(f"cannot fit a {width}x{height} panel into {size}x{size}")
    if mode == "stretch":
        return (0, 0, width, height), (size, size), (0, 0)
    if mode == "crop":  # the centred square of side min(H, W), then scaled
        side = min(height, width)
        return ((width - side) // 2, (height - side) // 2, side, side), (size, size), (0, 0)
    # pad: the longer side becomes size, the shorter keeps the aspect (at least 1 px), centred
    if width >= height:
        w, h = size, max(1, round(height * size / width))
    else:
        w, h = max(1, round(width * size / height)), size
    return (0, 0, width, height), (w, h), ((size - w) // 2, (size - h) // 2)


def fit_square(image: np.ndarray, size: int, mode: str) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3] by ``mode`` (one of PANEL_FITS); deterministic.

    stretch: resized ignoring the aspect; pad: the longer side scaled to size, the rest black
    and the image centred; crop: the centred square of the panel scaled to size (the same as
    scaling the shorter side to size and centre-cropping, without resampling what is cut).
    """
    import numpy as np

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got {image.dtype} {list(image.shape)}")
    (x, y, w, h), (sw, sh), (left, top) = fit_geometry(image.shape[0], image.shape[1], size, mode)
    scaled = _resize(image[y:y + h, x:x + w], sw, sh)
    if (sw, sh) == (size, size):
        return scaled
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[top:top + sh, left:left + sw] = scaled
    return out


def equal_boxes(frame_width: int, n_panels: int) -> list[tuple[int, int]]:
    """Equal-width panels in part order: panel i spans [i*W // n, (i+1)*W // n)."""
    return [(i * frame_width // n_panels, (i + 1) * frame_width // n_panels) for i in range(n_panels)]


def _edge_px(value, frame_width: int, fractions: bool) -> int:
    return round(value * frame_width) if fractions else int(value)


def panel_boxes(frame_width: int, n_panels: int, override: Sequence | None = None,
                piece: str = "") -> list[tuple[int, int]]:
    """(left, right) pixel edges of each panel, in part order; right is exclusive.

    Default: equal-width panels. ``override`` (a piece's ``data.panels`` entry) gives one
    [left, right] per player, either as fractions of the frame width (a box with any float,
    0..1) or as pixels (a box of ints). ValueError naming the piece and ``data.panels`` when
    it does not hold one box per player, or a box is reversed, outside the frame or too narrow.
    """
    where = f"data.panels[{piece!r}]" if piece else "data.panels"
    if n_panels < 1:
        raise ValueError(f"{where}: a piece needs at least one player, got {n_panels}")
    if override is None:
        boxes = equal_boxes(frame_width, n_panels)
        if boxes[0][1] - boxes[0][0] < MIN_PANEL_PX:
            raise ValueError(f"a {frame_width} px wide video cannot hold {n_panels} panels")
        return boxes
    if isinstance(override, (str, bytes)) or not isinstance(override, Sequence) or len(override) != n_panels:
        count = len(override) if isinstance(override, Sequence) and not isinstance(override, (str, bytes)) else "no list of"
        raise ValueError(f"{where}: the piece has {n_panels} players but the override gives {count} boxes; "
                         f"give one [left, right] per player, in part order")
    boxes = []
    for part, box in enumerate(override, start=1):
        if (isinstance(box, (str, bytes)) or not isinstance(box, Sequence) or len(box) != 2
                or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in box)):
            raise ValueError(f"{where}: box of part {part} is {box!r}, not a [left, right] pair of numbers")
        fractions = any(not isinstance(v, numbers.Integral) for v in box)
        if fractions and not all(0.0 <= v <= 1.0 for v in box):
            raise ValueError(f"{where}: box of part {part} {list(box)} has fractions outside 0..1 "
                             f"(write whole numbers for pixels)")
        left, right = (_edge_px(v, frame_width, fractions) for v in box)
        if not 0 <= left < right <= frame_width:
            raise ValueError(f"{where}: box of part {part} {list(box)} is [{left}, {right}) px, which is not "
                             f"inside the {frame_width} px wide frame with left < right")
        if right - left < MIN_PANEL_PX:
            raise ValueError(f"{where}: box of part {part} {list(box)} is {right - left} px wide "
                             f"(at least {MIN_PANEL_PX}; write fractions as floats, e.g. 1.0)")
        boxes.append((left, right))
    return boxes
