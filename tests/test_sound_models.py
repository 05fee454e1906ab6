"""Sound encoders: shapes, the paper's dropout/L2, training on separable sounds, Table 1, the steps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sound_fixtures import make_windows

from crossmodal import cli
from crossmodal.manifests import read_windows
from crossmodal.store import load_window_audio
from crossmodal.models.sound import (
    AudioClassifier,
    SoundAutoencoder,
    dropout_rates,
    freq_pool_factor,
    load_audio_classifier,
    load_sound_autoencoder,
)
from crossmodal.sound import features, fig3, table1
from crossmodal.sound.autoencoder import train_autoencoder
from crossmodal.sound.classifier import (
    ClassifierSettings,
    pooled_inputs,
    predict,
    train_classifier,
)
from crossmodal.sound.data import load_labelled, row_statistics
from crossmodal.sound.feature_store import compute_store
from crossmodal.urmp import INSTRUMENT_NAMES

CPU = torch.device("cpu")


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("shape", [(128, 44), (1025, 44), (84, 44), (20, 44), (13, 44)])
@pytest.mark.parametrize("layers", [3, 4])
def test_classifier_gives_13_logits_and_a_128_d_encoding(shape, layers):
    model = AudioClassifier(shape, n_classes=13, conv_layers=layers).eval()
    x = torch.randn(5, *shape)
    assert model(x).shape == (5, 13)
    assert model.encode(x).shape == (5, 128)


def test_stft_is_pooled_to_128_frequency_rows_and_lms_is_not():
    assert freq_pool_factor(1025, 128) == 8
    assert freq_pool_factor(128, 128) == 1
    assert freq_pool_factor(1025, None) == 1
    model = AudioClassifier((1025, 44), 13)
    assert model.prepare(torch.randn(2, 1025, 44)).shape == (2, 1, 128, 44)


def test_pooled_inputs_are_every_batch_prepared_bit_for_bit():
    """The STFT classifier trains and tests on inputs pooled once; they must be what preparing
    each batch gives, so the cache changes no number."""
    model = AudioClassifier((1025, 44), 13, conv_layers=3).eval()
    rng = np.random.default_rng(0)
    model.standardise.fit(torch.from_numpy(rng.normal(size=1025)), torch.from_numpy(rng.uniform(0.5, 2, size=1025)))
    features = rng.normal(size=(90, 1025, 44)).astype(np.float32)
    pooled = pooled_inputs(model, features, CPU, chunk=32)
    assert pooled.shape == (90, 1, 128, 44) and pooled.dtype == np.float32
    rows = rng.permutation(90)[:40]
    assert torch.equal(torch.from_numpy(pooled[rows]), model.prepare(torch.from_numpy(features[rows])))
    for encodings in (False, True):
        np.testing.assert_array_equal(predict(model, pooled, rows, CPU, batch=16, encodings=encodings, prepared=True),
                                      predict(model, features, rows, CPU, batch=16, encodings=encodings))
    assert pooled_inputs(AudioClassifier((128, 44), 13), features[:, :128], CPU) is None


def test_paper_dropout_read_as_keep_probability_drops_30_and_20_percent():
    assert dropout_rates([0.7, 0.8], "keep_probability") == pytest.approx((0.3, 0.2))
    assert dropout_rates([0.7, 0.8], "drop_rate") == pytest.approx((0.7, 0.8))
    with pytest.raises(ValueError, match="outside"):
        dropout_rates([1.0, 0.5], "drop_rate")
    model = AudioClassifier((128, 44), 13, dropout=dropout_rates([0.7, 0.8], "keep_probability"))
    assert (model.drop1.p, model.drop2.p) == pytest.approx((0.3, 0.2))


def test_l2_penalty_is_half_the_squared_fc_weights_only():
    model = AudioClassifier((20, 44), 13, conv_layers=3)
    expected = sum(layer.weight.square().sum().item() for layer in (model.fc1, model.fc2, model.fc3)) / 2
    assert model.l2_penalty().item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("fit", ["valid_convs", "crop", "resize"])
def test_autoencoder_last_stack_sees_120_by_36_and_encodes_to_128(fit):
    model = SoundAutoencoder((128, 44), channels=(4, 4, 1), fit=fit)
    x = torch.randn(3, 128, 44)
    assert model.stack_input(3, model.prepare(x)).shape == (3, 1, 120, 36)
    assert model.encode(x).shape == (3, 128)
    assert model(x).shape == model.prepare(x).shape
    for stack in range(4):
        h = model.stack_input(stack, model.prepare(x))
        assert model.stack_loss(stack, h).ndim == 0


def test_autoencoder_stacks_have_disjoint_parameters():
    model = SoundAutoencoder((128, 44))
    ids = [{id(p) for p in model.stack_parameters(k)} for k in range(4)]
    assert sum(len(s) for s in ids) == len(set().union(*ids)) == len(list(model.parameters()))


def test_standardise_statistics_per_bin_and_global():
    x = np.stack([np.full((2, 3), 1.0), np.full((2, 3), 3.0)]).astype(np.float32)
    x[:, 1] += 10
    mean, std = row_statistics(x, np.array([0, 1]), "per_bin")
    assert mean.tolist() == [2.0, 12.0] and std.tolist() == [1.0, 1.0]
    mean, std = row_statistics(x, np.array([0, 1]), "global")
    assert mean.tolist() == [7.0, 7.0] and std[0] == pytest.approx(np.sqrt(26.0))


# ---------------------------------------------------------------- training on separable sounds
@pytest.fixture(scope="module")
def lms_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sound")
    manifest = make_windows(root, seconds=2.0)
    compute_store(read_windows(manifest), "lms", features.FeatureParams(), str(root / "lms.npy"), chunk=64)
    return manifest, root / "lms.npy"


SMALL = ClassifierSettings(epochs=4, batch_size=16, channels=(4, 8, 8, 8, 8, 8), fc_units=32)


def test_classifier_learns_instruments_above_chance(lms_data, tmp_path):
    store = load_labelled(*lms_data)
    model, result = train_classifier(store, "lms", 4, seed=0, settings=SMALL, out_dir=tmp_path, device=CPU)
    assert result["test_accuracy"] > 0.6  # 3 instruments: chance is 1/3
    assert result["n_test"] == len(store.test) and result["n_train"] == len(store.train)
    confusion = np.array(result["confusion"])
    assert confusion.shape == (13, 13) and confusion.sum() == len(store.test)
    assert sum(c["test_windows"] for c in result["per_class"].values()) == len(store.test)
    # Rows are true instruments, columns predicted (a swapped argument order transposes it).
    predicted = predict(model, store.features, store.test, CPU)
    expected = np.zeros((13, 13), dtype=int)
    for true, guess in zip(store.labels[store.test], predicted):
        expected[true, guess] += 1
    assert not np.array_equal(expected, expected.T)  # else this check could not see a swap
    np.testing.assert_array_equal(confusion, expected)
    assert result["test_accuracy"] == pytest.approx(np.trace(expected) / len(store.test))
    assert (tmp_path / "model.pt").exists() and (tmp_path / "metrics.csv").exists()
    # The saved model rebuilds to the same predictions.
    again, extra = load_audio_classifier(tmp_path / "model.pt")
    assert extra["representation"] == "lms" and extra["conv_layers"] == 4
    np.testing.assert_array_equal(predict(again, store.features, store.test, CPU),
                                  predict(model, store.features, store.test, CPU))


def test_killed_classifier_job_resumes_to_the_same_weights(lms_data, tmp_path):
    store = load_labelled(*lms_data)
    short = ClassifierSettings(**{**SMALL.__dict__, "epochs": 2})
    straight, _ = train_classifier(store, "lms", 3, 0, short, tmp_path / "straight", CPU)
    once, _ = train_classifier(store, "lms", 3, 0, ClassifierSettings(**{**SMALL.__dict__, "epochs": 1}), tmp_path / "killed", CPU)
    resumed, _ = train_classifier(store, "lms", 3, 0, short, tmp_path / "killed", CPU)  # resumes after epoch 1
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert len(pd.read_csv(tmp_path / "killed" / "metrics.csv")) == 2


def test_autoencoder_trains_stack_by_stack_and_loss_falls(lms_data, tmp_path):
    store = load_labelled(*lms_data)
    model = train_autoencoder(store, tmp_path, seed=0, fit="valid_convs", channels=(4, 4, 1), epochs_per_stack=2,
                              batch_size=16, learning_rate=1e-3, standardise="global", device=CPU)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["stack"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]
    assert (metrics.groupby("stack")["mse"].agg(lambda s: s.iloc[-1] < s.iloc[0])).all()
    again, extra = load_sound_autoencoder(tmp_path / "model.pt")
    x = torch.from_numpy(np.array(store.features[:4]))
    with torch.no_grad():
        assert torch.allclose(again.encode(x), model.eval().encode(x))


# ---------------------------------------------------------------- the steps from the shell
def test_encode_sound_step_writes_one_128_d_row_per_window(lms_data, tmp_path):
    manifest, lms = lms_data
    store = load_labelled(manifest, lms)
    _, result = train_classifier(store, "lms", 4, 0, ClassifierSettings(**{**SMALL.__dict__, "epochs": 1}), tmp_path / "clf", CPU)
    args = ["encode-sound", "--kind", "classifier", "--model", str(tmp_path / "clf" / "model.pt"), "--windows", str(manifest),
            "--features", str(lms), "--out", str(tmp_path / "emb.npy"), "--summary", str(tmp_path / "emb.json"), "--device", "cpu"]
    assert cli.main(args) == 0
    encodings = np.load(tmp_path / "emb.npy")
    assert encodings.shape == (len(store.labels), 128) and encodings.dtype == np.float32
    # Row i is the classifier's 128-d FC feature of window i, whatever batch it was computed in.
    model, _ = load_audio_classifier(tmp_path / "clf" / "model.pt")
    rows = [0, len(store.labels) // 2, len(store.labels) - 1]
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(np.asarray(store.features[rows], dtype=np.float32))).numpy()
    np.testing.assert_allclose(encodings[rows], expected, rtol=1e-5, atol=1e-6)
    summary = json.loads((tmp_path / "emb.json").read_text())
    assert summary["windows"] == len(store.labels)
    # The accuracy it reports is the trained model's own test accuracy (training's result record).
    assert summary["test_accuracy"] == pytest.approx(result["test_accuracy"])


def test_encode_sound_step_refuses_a_store_of_another_shape(lms_data, tmp_path):
    manifest, lms = lms_data
    n = len(read_windows(manifest))
    np.save(tmp_path / "mfcc.npy", np.zeros((n, 20, 44), np.float32))
    store = load_labelled(manifest, lms)
    train_classifier(store, "lms", 4, 0, ClassifierSettings(**{**SMALL.__dict__, "epochs": 1}), tmp_path / "clf", CPU)
    args = ["encode-sound", "--kind", "classifier", "--model", str(tmp_path / "clf" / "model.pt"), "--windows", str(manifest),
            "--features", str(tmp_path / "mfcc.npy"), "--out", str(tmp_path / "e.npy"), "--summary", str(tmp_path / "e.json")]
    assert cli.main(args) == 1
    assert not (tmp_path / "e.npy").exists()


def test_fig3_step_draws_the_window_from_every_store(lms_data, tmp_path, monkeypatch):
    manifest, _ = lms_data
    windows = read_windows(manifest)
    paths = {}
    for rep in features.REPRESENTATIONS:
        paths[rep] = tmp_path / f"{rep}.npy"
        compute_store(windows, rep, features.FeatureParams(), str(paths[rep]), chunk=64)
    drawn = {}
    real_draw = fig3.draw

    def spy(wave, sr, panels, title, out):
        drawn.update(wave=wave, sr=sr, panels=panels, title=title)
        real_draw(wave, sr, panels, title, out)

    monkeypatch.setattr(fig3, "draw", spy)
    args = ["fig3", "--windows", str(manifest), *sum(([f"--{r}", str(p)] for r, p in paths.items()), []),
            "--out", str(tmp_path / "fig3.png")]
    assert cli.main(args) == 0
    # The window shown is the loudest of the first track, and every panel is its row of a store.
    first = windows[windows["track_id"] == sorted(windows["track_id"])[0]]
    audio = load_window_audio(first)
    loudest = int(first["window_id"].iloc[int(np.argmax(np.sqrt(np.mean(audio.astype(np.float64) ** 2, axis=1))))])
    np.testing.assert_array_equal(drawn["wave"], load_window_audio(windows.iloc[[loudest]])[0])
    assert sorted(drawn["panels"]) == sorted(features.REPRESENTATIONS)
    for rep, path in paths.items():
        np.testing.assert_array_equal(drawn["panels"][rep], np.load(path)[loudest])
    assert f"Window {loudest}: {windows.at[loudest, 'instrument']}" in drawn["title"]
    with Image.open(tmp_path / "fig3.png") as png:
        assert png.size == (12 * 120, round(6.5 * 120))  # figsize (12, 6.5) in at 120 dpi
        pixels = np.asarray(png.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # colour maps drawn, not a blank page


# ---------------------------------------------------------------- Table 1 aggregation
def _fake_result(rep, layers, seed, correct_per_class):
    confusion = np.zeros((13, 13), int)
    per_class = {}
    for name in INSTRUMENT_NAMES:
        i = INSTRUMENT_NAMES.index(name)
        correct = correct_per_class.get(name)
        if correct is not None:
            confusion[i, i] = correct
            confusion[i, (i + 1) % 13] = 10 - correct
        per_class[name] = {"test_windows": 10 if correct is not None else 0, "correct": correct or 0}
    total = 10 * len(correct_per_class)
    return {"representation": rep, "conv_layers": layers, "seed": seed, "per_class": per_class,
            "test_accuracy": sum(correct_per_class.values()) / total, "confusion": confusion.tolist()}


def test_table1_one_seed_has_accuracy_columns_in_the_papers_order():
    results = [_fake_result(rep, layers, 0, {"cello": 8, "flute": 6}) for rep in ("lms", "stft", "ms") for layers in (3, 4)]
    table = table1.table1(results)
    assert list(table.columns) == ["conv_layers", "MS", "LMS", "STFT"]
    assert table["conv_layers"].tolist() == [3, 4]
    assert table["LMS"].tolist() == [70.0, 70.0]


def test_table1_several_seeds_reports_mean_spread_and_count():
    results = [_fake_result("lms", 4, 0, {"cello": 10}), _fake_result("lms", 4, 1, {"cello": 8}),
               _fake_result("lms", 4, 2, {"cello": 6})]
    table = table1.table1(results)
    assert table.loc[0, "LMS"] == 80.0
    assert table.loc[0, "LMS_std"] == 20.0
    assert table.loc[0, "seeds"] == 3
    per_class = table1.per_class_table(results)
    assert per_class[["instrument", "test_windows", "accuracy", "seeds"]].values.tolist() == [["cello", 10, 80.0, 3]]
    confusion = table1.summed_confusions(results)["lms_4"]
    assert confusion.sum() == 30 and confusion[INSTRUMENT_NAMES.index("cello")].max() == 24


def test_table1_refuses_two_results_of_one_model():
    with pytest.raises(ValueError, match="same model"):
        table1.table1([_fake_result("lms", 4, 0, {"cello": 1}), _fake_result("lms", 4, 0, {"cello": 2})])


def test_table1_step_writes_tables_and_confusions(tmp_path):
    paths = []
    for rep, layers, seed in [("lms", 4, 0), ("mfcc", 4, 0), ("lms", 3, 0)]:
        path = tmp_path / f"{rep}_{layers}_{seed}.json"
        path.write_text(json.dumps(_fake_result(rep, layers, seed, {"violin": 9, "viola": 7})))
        paths.append(str(path))
    args = ["table1", *paths, "--out", str(tmp_path / "t1.csv"), "--per-class", str(tmp_path / "pc.csv"),
            "--confusion-dir", str(tmp_path / "conf")]
    assert cli.main(args) == 0
    table = pd.read_csv(tmp_path / "t1.csv")
    assert table.set_index("conv_layers").loc[4, "MFCC"] == 80.0
    assert np.isnan(table.set_index("conv_layers").loc[3, "MFCC"])
    confusion = pd.read_csv(tmp_path / "conf" / "lms_4" / "confusion.csv", index_col=0)
    assert confusion.loc["violin", "violin"] == 9 and confusion.shape == (13, 13)
    assert len(pd.read_csv(tmp_path / "pc.csv")) == 6
