"""Panel boxes (default and data.panels overrides) and the three panel fits' geometry."""

import numpy as np
import pytest

from crossmodal.dataset import panels


# --- fit_square ----------------------------------------------------------------------------------


def test_stretch_fills_the_square_with_the_whole_panel():
    img = np.zeros((40, 20, 3), np.uint8)
    img[:, :10] = (255, 0, 0)  # left half red, right half black
    out = panels.fit_square(img, 16, "stretch")
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[:, :8, 0] == 255).all() and (out[:, 8:] == 0).all()


def test_pad_keeps_the_aspect_with_centred_black_bars():
    tall = np.full((40, 20, 3), 200, np.uint8)  # 1:2 -> 8 wide, 16 high, bars of 4 either side
    out = panels.fit_square(tall, 16, "pad")
    assert out.shape == (16, 16, 3)
    assert (out[:, :4] == 0).all() and (out[:, 12:] == 0).all()
    assert (out[:, 4:12] == 200).all()
    wide = np.full((10, 40, 3), 90, np.uint8)  # 4:1 -> 16 wide, 4 high, rows 6..9
    out = panels.fit_square(wide, 16, "pad")
    assert (out[6:10] == 90).all() and (out[:6] == 0).all() and (out[10:] == 0).all()


def test_crop_keeps_the_centred_square_only():
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, 20:40] = (0, 255, 0)  # the centre square green; the sides (cut) red
    img[:, :20] = img[:, 40:] = (255, 0, 0)
    out = panels.fit_square(img, 10, "crop")
    assert out.shape == (10, 10, 3)
    assert (out == (0, 255, 0)).all()
    tall = np.zeros((60, 20, 3), np.uint8)
    tall[20:40] = 77
    assert (panels.fit_square(tall, 10, "crop") == 77).all()


def test_square_panel_is_the_same_under_every_fit():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    outs = [panels.fit_square(img, 16, mode) for mode in panels.PANEL_FITS]
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    # area averaging: each output pixel is the mean of a 2x2 block
    np.testing.assert_allclose(outs[0].astype(float), img.reshape(16, 2, 16, 2, 3).mean((1, 3)), atol=1)


def test_fit_is_deterministic_and_refuses_unknown_modes_and_bad_images():
    img = np.random.default_rng(1).integers(0, 256, (37, 23, 3), dtype=np.uint8)
    for mode in panels.PANEL_FITS:
        assert np.array_equal(panels.fit_square(img, 16, mode), panels.fit_square(img, 16, mode))
    with pytest.raises(ValueError, match="squash"):
        panels.fit_square(img, 16, "squash")
    with pytest.raises(ValueError, match="uint8"):
        panels.fit_square(img.astype(np.float32), 16, "pad")


# --- panel_boxes ---------------------------------------------------------------------------------


def test_default_boxes_are_equal_width_in_part_order():
    assert panels.panel_boxes(1920, 4) == [(0, 480), (480, 960), (960, 1440), (1440, 1920)]
    assert panels.panel_boxes(101, 3) == [(0, 33), (33, 67), (67, 101)]


def test_override_in_fractions_and_in_pixels():
    assert panels.panel_boxes(1000, 2, [[0.0, 0.3], [0.3, 1.0]]) == [(0, 300), (300, 1000)]
    assert panels.panel_boxes(1000, 2, [[0, 0.25], [250, 900]]) == [(0, 250), (250, 900)]
    assert panels.panel_boxes(1000, 2, [[10, 400], [340, 1000]]) == [(10, 400), (340, 1000)]


@pytest.mark.parametrize("override, message", [
    ([[0.0, 0.5]], "2 players but the override gives 1 boxes"),
    ([[0.0, 0.5], [0.5, 1.0], [0.0, 1.0]], "2 players but the override gives 3"),
    ([[0.5, 0.2], [0.5, 1.0]], "part 1 .* left < right"),
    ([[0.0, 0.5], [0.5, 1.5]], "part 2 .* outside 0..1"),
    ([[0, 500], [500, 1200]], "part 2 .* inside the 1000 px"),
    ([[0, 1], [1, 1000]], "part 1 .* 1 px wide"),
    ([[0.0, 0.5], "right half"], "part 2 .* not a \\[left, right\\] pair"),
])
def test_bad_override_is_refused_naming_the_piece_and_key(override, message):
    with pytest.raises(ValueError, match=r"data\.panels\['03_Dance_fl_cl'\].*" + message):
        panels.panel_boxes(1000, 2, override, piece="03_Dance_fl_cl")
