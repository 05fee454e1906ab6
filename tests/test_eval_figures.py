"""Evaluation figures: each writes one readable PNG atomically and refuses inconsistent inputs."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from crossmodal.evaluation import figures

RED = np.zeros((16, 16, 3), np.uint8)
RED[..., 0] = 255


def png(path):
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 50 and image.shape[1] > 50
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left
    return image


def has_pure_red(image):
    return bool(np.any((image[..., 0] == 255) & (image[..., 1] == 0) & (image[..., 2] == 0)))


def test_fig1_grid_shows_the_generated_images_and_an_lms_row(tmp_path):
    path = tmp_path / "fig1.png"
    rows = {"S2I-C": [RED, None], "S2I-A": [None, RED], "S2I-N": [None, None]}
    figures.plot_generated_grid(rows, ["cello", "double_bass"], path, lms_row=[np.random.rand(128, 34)] * 2)
    assert has_pure_red(png(path))


def test_fig1_refuses_a_row_of_the_wrong_length(tmp_path):
    with pytest.raises(ValueError, match="'S2I-C' has 1 images for 2 columns"):
        figures.plot_generated_grid({"S2I-C": [RED]}, ["cello", "flute"], tmp_path / "f.png")
    assert not list(tmp_path.iterdir())


def test_fig9_plots_train_and_test_accuracy_with_sample_strips(tmp_path):
    history = pd.DataFrame({"epoch": [5, 10, 15], "train_accuracy": [0.2, 0.8, 0.4],
                            "test_accuracy": [0.1, 0.6, 0.3]})
    path = tmp_path / "fig9.png"
    figures.plot_accuracy_evolution(history, path, samples={10: [RED, RED], 5: [RED]})
    assert has_pure_red(png(path))
    with pytest.raises(ValueError, match="test_accuracy"):
        figures.plot_accuracy_evolution(history.drop(columns="test_accuracy"), tmp_path / "x.png")


def test_fig8_needs_an_overall_row_per_method(tmp_path):
    rows = [{"instrument": "all", "method": m, "mean_score": 1.5, "votes_0": 1, "votes_1": 2,
             "votes_2": 3, "votes_3": 4} for m in ("S2I-C", "S2I-N", "S2I-A", "ground_truth")]
    path = tmp_path / "fig8.png"
    figures.plot_human_eval(pd.DataFrame(rows), path)
    png(path)
    with pytest.raises(ValueError, match="ground_truth"):
        figures.plot_human_eval(pd.DataFrame(rows[:3]), tmp_path / "y.png")


def test_fig10_pairs_real_frames_with_generated_poses(tmp_path):
    path = tmp_path / "fig10.png"
    figures.plot_pose([("violin", [RED] * 4, [RED] * 4), ("cello", [RED] * 3, [RED] * 2)], path)
    assert has_pure_red(png(path))


def test_fig11_shows_image_and_both_spectrograms_on_one_scale(tmp_path):
    path = tmp_path / "fig11.png"
    figures.plot_spectrogram_triples([("flute", RED, np.random.rand(128, 44) * -80, np.random.rand(128, 44))], path)
    assert has_pure_red(png(path))
    with pytest.raises(ValueError, match="uint8"):
        figures.plot_spectrogram_triples([("flute", RED.astype(float), np.zeros((4, 4)), np.zeros((4, 4)))],
                                         tmp_path / "z.png")
