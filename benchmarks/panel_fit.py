"""How much each `dataset.panel_fit` lets a model read the ensemble size (and so the instrument)
from a panel's shape, measured on demo players drawn with URMP's real panel geometry.

URMP composites every piece into one 16:9 frame, so a player's panel is 1/n of the width: a
duet's panels are 0.89 as wide as high, a quintet's 0.36. Each player is drawn here as the demo
draws them (crossmodal.dataset.demo.figure, in a 16:9 recording the player fills in height) and
cut to the centred panel of its piece's width, for all 149 tracks of URMP's 44 pieces, at
several poses; every panel is then fitted to 64 x 64 by each mode. A linear probe (ridge
classifier on 16 x 16 RGB thumbnails), cross-validated by piece (no piece in both folds), says:

  A. instrument from shape alone: every player drawn with the SAME instrument, so any accuracy
     above the majority class comes from the panel geometry (label leakage); the ceiling is a
     rule that knows the ensemble size (most common instrument of that size in training);
  B. ensemble size from the real drawings (is the aspect visible at all);
  C. instrument from the real drawings (the signal the models should use);
  D. how much the same player in the same pose changes between a duet and a quintet panel
     (mean absolute difference of the fitted images, 0-255): a model that must recognise, or
     a GAN that must draw, one instrument at several distortions has a harder task.

    .venv/bin/python benchmarks/panel_fit.py [--poses 6] [--height 216]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image

from crossmodal import urmp
from crossmodal.dataset.demo.figure import REST, Pose, draw_panel, seeded_player, seeded_room
from crossmodal.dataset.panels import PANEL_FITS, fit_geometry, fit_square

SIZE = 64


def poses(k: int, rng: np.random.Generator) -> list[Pose]:
    out = [REST]
    while len(out) < k:
        out.append(Pose(playing=True, position=float(rng.uniform()), stroke=float(rng.uniform(-1, 1))))
    return out


def render(height: int, n_poses: int, fixed: str | None, seed: int = 0):
    """(panels per pose, instrument, n_parts, piece) for every track of URMP's piece list."""
    rows = []
    width = round(height * 16 / 9)
    for name in urmp.load_piece_list():
        piece = urmp.parse_piece_dir(name)
        n = len(piece.codes)
        left, right = (width - width // n) // 2, (width - width // n) // 2 + width // n
        room = seeded_room(seed, name)
        for part in range(1, n + 1):
            instrument = piece.instrument(part)
            player = seeded_player(seed, name, part)
            rng = np.random.default_rng([seed, piece.number, part])
            panels = []
            for pose in poses(n_poses, rng):
                square = draw_panel(fixed or instrument, pose, width, height, room, player)
                panels.append(square[:, left:right])
            rows.append((panels, instrument, n, name))
    return rows


def thumbs(rows, fit: str, by: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(16 x 16 thumbnails, instrument, ensemble size, fold group: the piece or the track)."""
    x, instrument, n_parts, piece = [], [], [], []
    for track, (panels, inst, n, name) in enumerate(rows):
        for panel in panels:
            img = fit_square(panel, SIZE, fit)
            x.append(np.asarray(Image.fromarray(img).resize((16, 16), Image.Resampling.BOX), np.float32).ravel() / 255)
            instrument.append(inst)
            n_parts.append(n)
            piece.append(name if by == "piece" else track)
    return np.array(x), np.array(instrument), np.array(n_parts), np.array(piece)


def probe(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Cross-validated (by piece) accuracy of a linear (ridge) probe."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    correct = 0
    for train, test in GroupKFold(5).split(x, y, groups):
        model = make_pipeline(StandardScaler(), RidgeClassifier(alpha=100.0))
        model.fit(x[train], y[train])
        correct += int((model.predict(x[test]) == y[test]).sum())
    return correct / len(y)


def size_rule(y: np.ndarray, n_parts: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(majority-class accuracy, accuracy of 'most common instrument of this ensemble size'), by piece folds."""
    from sklearn.model_selection import GroupKFold

    majority = by_size = 0
    for train, test in GroupKFold(5).split(y, y, groups):
        values, counts = np.unique(y[train], return_counts=True)
        majority += int((y[test] == values[counts.argmax()]).sum())
        for n in np.unique(n_parts[test]):
            pool = y[train][n_parts[train] == n]
            values, counts = np.unique(pool if len(pool) else y[train], return_counts=True)
            by_size += int((y[test][n_parts[test] == n] == values[counts.argmax()]).sum())
    return majority / len(y), by_size / len(y)


def content_mask(height: int, width: int, fit: str) -> np.ndarray:
    """bool [SIZE, SIZE]: where the fitted image shows the panel (not pad's bars)."""
    _, (w, h), (left, top) = fit_geometry(height, width, SIZE, fit)
    mask = np.zeros((SIZE, SIZE), bool)
    mask[top:top + h, left:left + w] = True
    return mask


def consistency(height: int, fit: str, seed: int = 0) -> float:
    """Mean |duet panel - quintet panel| of the same players and poses after fitting (0-255),
    over the pixels both show (pad's bars left out: they are D's business only as leakage)."""
    width = round(height * 16 / 9)
    rng = np.random.default_rng(seed)
    diffs = []
    for instrument in ("violin", "cello", "flute", "trumpet", "tuba", "double_bass"):
        room, player = seeded_room(seed, instrument), seeded_player(seed, instrument)
        for pose in poses(4, rng):
            square = draw_panel(instrument, pose, width, height, room, player)
            fitted, both = [], np.ones((SIZE, SIZE), bool)
            for n in (2, 5):
                w = width // n
                left = (width - w) // 2
                fitted.append(fit_square(square[:, left:left + w], SIZE, fit).astype(np.float32))
                both &= content_mask(height, w, fit)
            diffs.append(np.abs(fitted[0] - fitted[1])[both].mean())
    return float(np.mean(diffs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=6, help="poses drawn per track")
    parser.add_argument("--height", type=int, default=216, help="frame height drawn (URMP 1080, here / 5)")
    args = parser.parse_args()

    real = render(args.height, args.poses, fixed=None)
    same = render(args.height, args.poses, fixed="violin")
    print(f"{len(real)} tracks x {args.poses} poses, {args.height} px high frames")
    for by in ("piece", "track"):  # the project's split is by track: a test player's piece has train players
        _, instrument, n_parts, groups = thumbs(real, "stretch", by)
        majority, by_size = size_rule(instrument, n_parts, groups)
        print(f"\nfolds by {by}: instrument by majority class {majority:.3f}, by ensemble size alone "
              f"{by_size:.3f} (the ceiling of shape leakage)")
        print(f"{'panel_fit':<10} {'A instr|shape':>14} {'B size|image':>13} {'C instr|image':>14} {'D duet-quintet':>15}")
        for fit in PANEL_FITS:
            x_same, y_same, _, g_same = thumbs(same, fit, by)
            x_real, y_real, n_real, g_real = thumbs(real, fit, by)
            print(f"{fit:<10} {probe(x_same, y_same, g_same):14.3f} {probe(x_real, n_real, g_real):13.3f} "
                  f"{probe(x_real, y_real, g_real):14.3f} {consistency(args.height, fit):15.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
