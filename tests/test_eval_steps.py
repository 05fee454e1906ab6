"""The evaluation steps end to end on a tiny world: a windows manifest with frames and audio,
encodings, LMS, and small untrained networks saved in the formats the training steps write
(judges and GANs with random weights: the steps' wiring and outputs are what is tested; the
accuracy of an untrained judge is whatever it is)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from PIL import Image

from windows_world import Track, audio_length

from crossmodal import cli, manifests
from crossmodal.evaluation import generate, selection

torch.set_num_threads(1)
INSTRUMENTS = ("cello", "flute")
PER_TRACK = 12
SR, WINDOW = 44100, 22050


def save_models(path, models, extra):
    """A model file as crossmodal.training.TrainingRun.save_final writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"models": {n: m.state_dict() for n, m in models.items()}, "extra": extra}, path)


@pytest.fixture(scope="module")
def world(tmp_path_factory, windows_world):
    from crossmodal.models.gan import build_gan
    from crossmodal.models.image import ImageClassifier, classifier_payload
    from crossmodal.sound.classifier import ClassifierSettings, build_classifier

    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    tracks = []
    for instrument in INSTRUMENTS:
        for split in ("train", "test"):
            frames = rng.integers(0, 256, (PER_TRACK, 64, 64, 3), dtype=np.uint8)
            audio = (0.1 * rng.standard_normal(audio_length(PER_TRACK))).astype(np.float32)
            tracks.append(Track(f"01_Piece_{len(tracks) + 1}_{instrument[:2]}", instrument, split, frames, audio,
                                piece="01_Piece_vc_fl"))
    n = len(windows_world(root, tracks))
    np.save(root / "sound_encodings.npy", rng.standard_normal((n, 128)).astype(np.float32))
    np.save(root / "image_encodings.npy", rng.standard_normal((n, 128)).astype(np.float32))
    np.save(root / "lms.npy", (rng.random((n, 128, 44)) * -80).astype(np.float32))

    torch.manual_seed(0)
    gamma = ImageClassifier(channels=(4, 4, 4, 4, 4, 4), hidden=16)
    save_models(root / "gamma.pt", {"image_classifier": gamma}, classifier_payload(gamma))
    settings = ClassifierSettings()
    sound = build_classifier((128, 44), 4, settings)
    save_models(root / "sound.pt", {"classifier": sound},
                {"kind": "audio_classifier", "representation": "lms", "conv_layers": 4, "in_shape": [128, 44],
                 "settings": json.dumps(dataclasses.asdict(settings))})
    for name in ("s2i_c", "s2i_n", "s2i_a", "pose_s2i_cello", "pose_s2i_flute"):
        g_kwargs = {"encoding_dim": 128, "condition_dim": 16, "z_dim": 8, "ngf": 4}
        d_kwargs = {"encoding_dim": 128, "condition_dim": 16, "ndf": 4}
        extra = {"kind": "s2i", "kwargs": {"generator": g_kwargs, "discriminator": d_kwargs},
                 "settings": {"epochs": 3}}
        for epoch in (1, 2, 3):  # kept checkpoints; model.pt holds the last epoch's weights
            g, d = build_gan("s2i", g_kwargs, d_kwargs)
            path = root / "gan" / name / "checkpoints" / f"epoch_{epoch:04d}.pt"
            save_models(path, {"generator": g, "discriminator": d}, extra)
        save_models(root / "gan" / name / "model.pt", {"generator": g, "discriminator": d}, extra)
    g_kwargs = {"encoding_dim": 128, "condition_dim": 16, "z_dim": 8, "ngf": 4, "extra_layers": 0,
                "resize": "interpolate"}
    d_kwargs = {"encoding_dim": 128, "condition_dim": 16, "ndf": 4, "extra_layers": 0}
    g, d = build_gan("i2s", g_kwargs, d_kwargs)
    g.set_lms_range(-80.0, 0.0)
    save_models(root / "gan" / "i2s" / "model.pt", {"generator": g, "discriminator": d},
                {"kind": "i2s", "kwargs": {"generator": g_kwargs, "discriminator": d_kwargs}})
    return root


def gans(root, names=(("S2I-C", "s2i_c"), ("S2I-A", "s2i_a"), ("S2I-N", "s2i_n"))):
    args = []
    for label, folder in names:
        args += ["--gan", label, str(root / "gan" / folder / "model.pt"), str(root / "sound_encodings.npy")]
    return args


def common(root):
    return ["--windows", str(root / "windows.parquet"), "--device", "cpu", "--batch-size", "16"]


def test_window_noise_depends_on_window_and_seed_only():
    a = generate.window_noise(np.array([3, 7]), 5, seed=1)
    b = generate.window_noise(np.array([7]), 5, seed=1)
    np.testing.assert_array_equal(a[1], b[0])
    assert not np.allclose(a[0], a[1])
    assert not np.allclose(generate.window_noise(np.array([7]), 5, seed=2), b)


def test_generated_images_do_not_depend_on_the_batch_size(world):
    from crossmodal.models.gan import load_gan

    g = load_gan(world / "gan" / "s2i_c" / "model.pt")[0]
    codes = np.load(world / "sound_encodings.npy")[:10]
    ids = np.arange(10)
    one = generate.generate_images(g, codes, ids, seed=0, batch_size=3)
    two = generate.generate_images(g, codes, ids, seed=0, batch_size=10)
    assert one.dtype == np.uint8 and one.shape == (10, 64, 64, 3)
    np.testing.assert_array_equal(one, two)


def test_selection_picks_are_seeded_per_instrument_and_sequences_are_spaced(world):
    windows = manifests.read(world / "windows.parquet", "windows")
    picks = selection.per_instrument(windows, "test", 3, seed=0)
    assert list(picks) == ["cello", "flute"] and all(len(v) == 3 for v in picks.values())
    only_flute = selection.per_instrument(windows, "test", 3, seed=0, instruments=["flute"])
    np.testing.assert_array_equal(only_flute["flute"], picks["flute"])
    assert (windows.loc[picks["cello"], "split"] == "test").all()
    seq = selection.sequence(windows, "cello", "test", length=3, step=4)
    assert np.diff(windows.loc[seq, "window_index"]).tolist() == [4, 4]
    assert len(selection.split_ids(windows, "train", 5, seed=0)) == 5
    assert len(selection.split_ids(windows, "train", 0, seed=0)) == 2 * PER_TRACK


def test_table5_step_writes_accuracy_per_method_split_and_instrument(world, tmp_path):
    out = tmp_path / "table5.csv"
    argv = ["eval-table5", *common(world), "--judge", str(world / "gamma.pt"), *gans(world), "--out", str(out)]
    assert cli.main(argv) == 0
    table = pd.read_csv(out)
    overall = table[table.instrument == "all"].set_index(["method", "split"])
    assert sorted(overall.index) == sorted((m, s) for m in ("real", "S2I-C", "S2I-A", "S2I-N") for s in ("train", "test"))
    assert (overall["n"] == 2 * PER_TRACK).all()
    assert overall["accuracy"].between(0, 1).all()
    assert overall.loc[("S2I-C", "train"), "paper_accuracy"] == pytest.approx(0.8737)
    assert np.isfinite(overall.loc[("S2I-A", "test"), "fid"]) and overall.loc[("S2I-A", "test"), "fid"] > 0
    per = table[(table.instrument != "all") & (table.method == "S2I-N") & (table.split == "test")]
    assert sorted(per.instrument) == ["cello", "flute"] and (per["n"] == PER_TRACK).all()
    # The per-instrument accuracies average (equal counts) to the overall one.
    assert per["accuracy"].mean() == pytest.approx(overall.loc[("S2I-N", "test"), "accuracy"])


def test_table5_step_refuses_an_i2s_model_as_s2i(world, tmp_path, caplog):
    argv = ["eval-table5", *common(world), "--judge", str(world / "gamma.pt"),
            "--gan", "S2I-C", str(world / "gan" / "i2s" / "model.pt"), str(world / "sound_encodings.npy"),
            "--out", str(tmp_path / "t.csv")]
    assert cli.main(argv) == 1
    assert "is a i2s GAN" in caplog.text and not (tmp_path / "t.csv").exists()


def test_evolution_step_judges_every_kept_checkpoint_and_reports_best_beside_last(world, tmp_path):
    argv = ["eval-evolution", *common(world), "--judge", str(world / "gamma.pt"),
            "--model", str(world / "gan" / "s2i_c" / "model.pt"), "--encodings", str(world / "sound_encodings.npy"),
            "--max-windows", "8", "--history", str(tmp_path / "h.csv"), "--figure", str(tmp_path / "fig9.png"),
            "--best", str(tmp_path / "best.csv")]
    assert cli.main(argv) == 0
    history = pd.read_csv(tmp_path / "h.csv")
    assert history["epoch"].tolist() == [1, 2, 3]
    assert (history["n_train"] == 8).all() and (history["n_test"] == 8).all()
    best = pd.read_csv(tmp_path / "best.csv")
    assert best["checkpoint"].tolist() == ["best", "last"]
    assert best["epoch"].iloc[1] == 3
    assert best["test_accuracy"].iloc[0] == history["test_accuracy"].max()
    assert Image.open(tmp_path / "fig9.png").size[0] > 300


def test_i2s_step_writes_accuracy_fig11_and_listenable_wavs(world, tmp_path):
    argv = ["eval-i2s", *common(world), "--judge", str(world / "sound.pt"),
            "--model", str(world / "gan" / "i2s" / "model.pt"), "--encodings", str(world / "image_encodings.npy"),
            "--lms", str(world / "lms.npy"), "--clips", "2", "--griffin-lim-iters", "2", "--examples", "2",
            "--accuracy", str(tmp_path / "i2s.csv"), "--fig11", str(tmp_path / "fig11.png"),
            "--audio-dir", str(tmp_path / "wav")]
    assert cli.main(argv) == 0
    table = pd.read_csv(tmp_path / "i2s.csv")
    overall = table[table.instrument == "all"].set_index(["method", "split"])
    assert overall.loc[("I2S", "test"), "paper_accuracy"] == pytest.approx(0.1117)
    assert (overall["n"] == 2 * PER_TRACK).all()
    wavs = sorted(p.name for p in (tmp_path / "wav").iterdir())
    assert wavs == sorted(f"{i}_{k}.wav" for i in INSTRUMENTS for k in ("generated", "real_lms", "original"))
    info = soundfile.info(tmp_path / "wav" / "cello_generated.wav")
    assert info.samplerate == SR and info.frames == 2 * WINDOW + int(0.1 * SR)
    assert Image.open(tmp_path / "fig11.png").size[1] > 100


def test_fig11_examples_mix_good_and_bad_and_fill_when_one_kind_is_short():
    from crossmodal.evaluation.i2s import fig11_examples

    ids, labels = np.arange(6), np.array([0, 0, 1, 1, 2, 2])
    mixed = fig11_examples(ids, labels, np.array([0, 1, 1, 0, 2, 0]), 4, seed=0)
    assert sorted(k for k, _ in mixed) == ["bad", "bad", "good", "good"]
    assert all((labels[w] == p) == (k == "good") for k, w in mixed for p in [np.array([0, 1, 1, 0, 2, 0])[w]])
    all_good = fig11_examples(ids, labels, labels, 4, seed=0)
    assert [k for k, _ in all_good] == ["good"] * 4
    assert len({labels[w] for _, w in all_good[:3]}) == 3  # spread over instruments first


def spy_on(monkeypatch, module, name):
    """Records each call of ``module.name`` (args, kwargs) and still makes it (the PNG is written)."""
    calls, real = [], getattr(module, name)

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_pose_fig1_and_human_eval_page_steps_write_their_outputs(world, tmp_path, monkeypatch):
    from crossmodal import store
    from crossmodal.evaluation import figures
    from crossmodal.evaluation.inputs import load_generator

    pose_calls = spy_on(monkeypatch, figures, "plot_pose")
    fig1_calls = spy_on(monkeypatch, figures, "plot_generated_grid")
    pose = ["eval-pose", *common(world), "--encodings", str(world / "sound_encodings.npy"),
            "--gan", "cello", str(world / "gan" / "pose_s2i_cello" / "model.pt"),
            "--gan", "flute", str(world / "gan" / "pose_s2i_flute" / "model.pt"),
            "--length", "4", "--step", "2", "--out", str(tmp_path / "fig10.png")]
    assert cli.main(pose) == 0
    fig1 = ["eval-fig1", *common(world), *gans(world), "--i2s", str(world / "gan" / "i2s" / "model.pt"),
            str(world / "image_encodings.npy"), "--lms", str(world / "lms.npy"), "--out", str(tmp_path / "fig1.png")]
    assert cli.main(fig1) == 0
    page = ["human-eval-page", *common(world), *gans(world), "--sets", "3",
            "--out-dir", str(tmp_path / "human_eval"), "--key", str(tmp_path / "human_eval_key.csv")]
    assert cli.main(page) == 0
    windows = manifests.read(world / "windows.parquet", "windows")
    encodings = np.load(world / "sound_encodings.npy")
    # Fig. 10: per pose model, a test sequence of 4 sounds 2 windows apart of one player: its real
    # frames, and the images that model draws from those sounds with one noise for the row.
    (rows, _), _ = pose_calls[0]
    assert [row[0].split("\n")[0] for row in rows] == list(INSTRUMENTS)
    for (_, real, fake, *_), instrument in zip(rows, INSTRUMENTS):
        ids = selection.sequence(windows, instrument, "test", 4, 2)
        assert windows.loc[ids, "track_id"].nunique() == 1 and np.diff(windows.loc[ids, "window_index"]).tolist() == [2, 2, 2]
        np.testing.assert_array_equal(np.stack(real), store.load_frames(windows.iloc[ids]))
        generator, _ = load_generator(world / "gan" / f"pose_s2i_{instrument}" / "model.pt", "s2i", "cpu")
        z = torch.from_numpy(np.repeat(generate.window_noise(np.array([ids[0]]), generator.z_dim, 0), 4, 0))
        with torch.no_grad():
            expected = generate.images_to_uint8(generator(torch.from_numpy(encodings[ids]), z))
        np.testing.assert_array_equal(np.stack(fake), expected)
    # Fig. 1: a column per instrument (one test window each); the real frames, then each S2I
    # model's image of that window's sound, and I2S's LMS at the real store's 44 frames.
    (rows, columns, _), kwargs = fig1_calls[0]
    picks = selection.per_instrument(windows, "test", 1, seed=0)
    ids = np.concatenate(list(picks.values()))
    assert columns == list(picks) and sorted(columns) == sorted(INSTRUMENTS)
    assert list(rows) == ["real frame", "S2I-C", "S2I-A", "S2I-N"]
    np.testing.assert_array_equal(np.stack(rows["real frame"]), store.load_frames(windows.iloc[ids]))
    for label, folder in (("S2I-C", "s2i_c"), ("S2I-A", "s2i_a"), ("S2I-N", "s2i_n")):
        generator, _ = load_generator(world / "gan" / folder / "model.pt", "s2i", "cpu")
        np.testing.assert_array_equal(np.stack(rows[label]), generate.generate_images(generator, encodings[ids], ids, 0, "cpu"))
    assert [lms.shape for lms in kwargs["lms_row"]] == [(128, 44)] * len(columns)
    for name in ("fig10.png", "fig1.png"):
        with Image.open(tmp_path / name) as png:
            png.load()  # every pixel decodes
    key = pd.read_csv(tmp_path / "human_eval_key.csv")
    assert len(key) == 2 * 3 * 4 and set(key.instrument) == set(INSTRUMENTS)
    # The ground-truth slot holds the window's real frame.
    windows = manifests.read(world / "windows.parquet", "windows")
    picks = selection.per_instrument(windows, "test", 3, seed=0)
    first = key[(key.set_id == "cello-01") & (key.method == "ground_truth")].iloc[0]
    real = np.load(windows.at[int(picks["cello"][0]), "frames_path"])[windows.at[int(picks["cello"][0]), "window_index"]]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "human_eval" / first.image_file)), real)
