"""The image encoder of Sec. 3.4: the classifier's layers and shapes, training, saving, the CLI step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from windows_world import Track

from crossmodal import cli
from crossmodal.image.classifier import (
    ClassifierSettings,
    accuracy_table,
    train_image_classifier,
)
from crossmodal.models.image import (
    ImageClassifier,
    images_to_tensor,
    load_image_classifier,
    predict,
)
from crossmodal.training import CheckpointError, read_metrics
from crossmodal.urmp import INSTRUMENT_NAMES

torch.set_num_threads(1)


def test_classifier_has_six_3x3_convs_and_three_fc_layers():
    model = ImageClassifier()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 6 and all(c.kernel_size == (3, 3) for c in convs)
    assert len(fcs) == 3
    assert fcs[1].out_features == 128 and fcs[2].out_features == 13


def test_classifier_gives_13_logits_and_a_128d_encoding():
    model = ImageClassifier(channels=(4, 4, 8, 8, 8, 8), hidden=32).eval()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    assert model(x).shape == (3, len(INSTRUMENT_NAMES))
    code = model.encode(x)
    assert code.shape == (3, 128) and (code >= 0).all()
    torch.testing.assert_close(model.classifier(code), model(x))  # the last layer reads the encoding


def test_global_max_pool_feeds_the_fc_layers_one_value_per_channel():
    model = ImageClassifier(channels=(4, 4, 8, 8, 8, 12), hidden=32, pool="max").eval()
    assert model.encoder_fc[2].in_features == 12
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 13)
    assert ImageClassifier(channels=(4, 4, 8, 8, 8, 12), hidden=32).encoder_fc[2].in_features == 12 * 8 * 8


def test_augment_mirrors_and_shifts_without_changing_the_shape():
    from crossmodal.image.classifier import augment

    x = torch.rand(32, 3, 16, 16)
    out = augment(x, torch.Generator().manual_seed(0), shift=0)
    mirrored = [torch.equal(out[i], x[i].flip(-1)) for i in range(32)]
    assert all(m or torch.equal(out[i], x[i]) for i, m in enumerate(mirrored))
    assert 0 < sum(mirrored) < 32
    shifted = augment(x, torch.Generator().manual_seed(1), shift=4)
    assert shifted.shape == x.shape


def test_classifier_refuses_sizes_it_cannot_pool():
    with pytest.raises(ValueError, match="divisible by 8"):
        ImageClassifier(image_size=60)
    with pytest.raises(ValueError, match="six conv layers"):
        ImageClassifier(channels=(4, 4, 4))


def test_images_to_tensor_maps_uint8_rgb_to_channels_first_minus_one_to_one():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[0, :, :, 0] = 255
    x = images_to_tensor(images)
    assert x.shape == (2, 3, 4, 4) and x.dtype == torch.float32
    assert x[0, 0].eq(1).all() and x[0, 1].eq(-1).all() and x[1].eq(-1).all()


def _toy_images(n_per_class=24, size=16, seed=0):
    """Three classes told apart by colour, with noise: red, green, blue images."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], n_per_class)
    images = rng.integers(0, 60, (len(labels), size, size, 3)).astype(np.uint8)
    images[np.arange(len(labels)), :, :, labels] += 150
    return images, labels


SMALL = dict(channels=(4, 4, 8, 8, 8, 8), fc_units=16, batch_size=16, learning_rate=3e-3, dropout=0.0)


def test_classifier_learns_a_toy_colour_set_and_reloads_identically(tmp_path):
    images, labels = _toy_images()
    test_images, test_labels = _toy_images(8, seed=1)
    settings = ClassifierSettings(epochs=10, **SMALL)
    model, run = train_image_classifier(tmp_path / "cls", images, labels, settings, torch.device("cpu"),
                                        test_images, test_labels)
    logits, codes = predict(model, test_images)
    assert (logits.argmax(1) == test_labels).mean() == 1.0
    assert codes.shape == (len(test_labels), 128) and codes.dtype == np.float32
    rows = read_metrics(tmp_path / "cls" / "metrics.csv")
    assert len(rows) == 10 and float(rows[-1]["test_accuracy"]) == 1.0
    run.save_final(tmp_path / "model.pt", extra={"kwargs": model.kwargs})
    judge = load_image_classifier(tmp_path / "model.pt")
    assert not judge.training
    np.testing.assert_allclose(predict(judge, test_images)[0], logits, rtol=1e-5, atol=1e-5)


def test_resumed_classifier_training_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    from crossmodal.training import TrainingRun

    images, labels = _toy_images(8)
    straight, _ = train_image_classifier(tmp_path / "a", images, labels, ClassifierSettings(epochs=3, **SMALL), "cpu")

    class Killed(Exception):
        pass

    end_epoch = TrainingRun.end_epoch

    def end_epoch_then_die(self, epoch, metrics):  # the job dies right after its first checkpoint
        end_epoch(self, epoch, metrics)
        raise Killed

    monkeypatch.setattr(TrainingRun, "end_epoch", end_epoch_then_die)
    with pytest.raises(Killed):
        train_image_classifier(tmp_path / "b", images, labels, ClassifierSettings(epochs=3, **SMALL), "cpu")
    monkeypatch.undo()
    resumed, run = train_image_classifier(tmp_path / "b", images, labels, ClassifierSettings(epochs=3, **SMALL), "cpu")
    assert run.start_epoch == 1
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_load_image_classifier_refuses_a_file_that_is_not_one(tmp_path):
    torch.save({"models": {}, "extra": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an image classifier"):
        load_image_classifier(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_image_classifier(tmp_path / "missing.pt")


def test_cosine_step_size_falls_from_the_base_towards_zero():
    from crossmodal.image.classifier import learning_rate_at

    rates = [learning_rate_at(1e-3, e, 4, "cosine") for e in range(4)]
    assert rates[0] == 1e-3 and rates[2] == pytest.approx(0.5e-3)
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] > 0
    assert learning_rate_at(1e-3, 3, 4, "none") == 1e-3


def test_accuracy_table_counts_per_instrument_and_overall():
    labels = np.array([0, 0, 0, 12])
    table = accuracy_table(labels, np.array([0, 0, 5, 12]), "test")
    assert list(table["instrument"]) == [INSTRUMENT_NAMES[0], INSTRUMENT_NAMES[12], "all"]
    assert list(table["correct"]) == [2, 1, 3]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 1.0, 0.75])


def _write_windows(root, windows_world, n=8):
    """Four tracks: violin (dark) and cello (bright), one train and one test take each."""
    rng = np.random.default_rng(0)
    tracks = []
    for t, (instrument, split) in enumerate([("violin", "train"), ("cello", "train"), ("violin", "test"), ("cello", "test")]):
        shade = 30 if instrument == "violin" else 220
        frames = np.clip(shade + rng.normal(0, 15, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
        tracks.append(Track(f"0{t}_Toy_1_vn", instrument, split, frames, np.zeros(22050 + n * 4410, np.float32),
                            piece=f"0{t}_Toy_vn", take_id=f"take{t}", folder=f"t{t}"))
    return windows_world(root, tracks)


def test_image_encoder_step_writes_classifier_accuracy_and_one_encoding_per_window(tmp_path, windows_world):
    windows = _write_windows(tmp_path, windows_world)
    out = tmp_path / "out"
    argv = ["image-encoder", "--windows", str(tmp_path / "windows.parquet"), "--model", str(out / "model" / "model.pt"),
            "--embeddings", str(out / "image_classifier.npy"), "--accuracy", str(out / "model" / "accuracy.csv"),
            "--epochs", "10", "--batch-size", "4", "--channels", "4", "4", "8", "8", "8", "8", "--fc-units", "16", "--dropout", "0",
            "--learning-rate", "3e-3"]
    assert cli.main(argv) == 0
    codes = np.load(out / "image_classifier.npy")
    assert codes.shape == (len(windows), 128) and codes.dtype == np.float32
    judge = load_image_classifier(out / "model" / "model.pt")
    frames = np.load(tmp_path / "t2" / "frames.npy")
    _, again = predict(judge, frames)
    np.testing.assert_allclose(codes[16:24], again, rtol=1e-5, atol=1e-5)  # row = window_id
    table = pd.read_csv(out / "model" / "accuracy.csv")
    assert set(table["split"]) == {"train", "test"}
    assert table.set_index(["split", "instrument"]).loc[("test", "all"), "n"] == 16
    assert table.set_index(["split", "instrument"]).loc[("test", "all"), "accuracy"] == 1.0
    assert torch.load(out / "model" / "model.pt", weights_only=True)["extra"]["test_accuracy"] == 1.0
