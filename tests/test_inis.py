"""INIS from paired class folders: window cutting and the silence rule, the split by song, the
pairing, Table 3, the class list the labels index, bad input, and the demo INIS."""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from crossmodal import cli, manifests, store, urmp
from crossmodal.dataset import inis
from crossmodal.dataset.demo import inis as demo_inis
from crossmodal.dataset.extract import WindowGrid

SR = 8000  # a 0.5 s window is 4000 samples
COLOURS = {"bell": (200, 30, 30), "gong": (30, 30, 200), "harp": (30, 200, 30)}


def tone(seconds: float, freq: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_tree(root, classes=("bell", "gong", "harp"), songs=3, images=5, song_s=2.0):
    """``root/images/<class>/*.png`` (one colour per class, a shade per picture, sizes varied)
    and ``root/audio/<class>/*.wav|flac`` (a tone per song; each song a frequency of its own)."""
    for c, cls in enumerate(classes):
        (root / "images" / cls).mkdir(parents=True)
        (root / "audio" / cls).mkdir(parents=True)
        for i in range(images):
            colour = tuple(min(255, v + 5 * i) for v in COLOURS[cls])
            Image.new("RGB", (40 + 4 * i, 30), colour).save(root / "images" / cls / f"{cls}{i}.png")
        for k in range(songs):
            suffix = "flac" if k == 2 else "wav"
            soundfile.write(root / "audio" / cls / f"{cls}_song{k}.{suffix}",
                            tone(song_s + 0.3 * k, 200 + 100 * c + 10 * k), SR)
    return root / "images", root / "audio"


def settings(**changes) -> inis.Settings:
    return inis.Settings(**{"sr": SR, "image_size": 16, "silence_rms": 0.01, "seed": 3, **changes})


@pytest.fixture
def built(tmp_path):
    images, audio = make_tree(tmp_path)
    manifest, table = inis.build_inis(images, audio, tmp_path / "tracks", settings())
    return images, audio, manifest, table


# ---------------------------------------------------------------- windows and silence
def test_silent_windows_are_dropped_and_partial_ones_kept_by_their_rms():
    # 0.5 s silence, 1 s tone, 0.5 s silence: windows of 0.5 s every 0.1 s start at 0.0 .. 1.5.
    song = np.concatenate([np.zeros(SR // 2, np.float32), tone(1.0, 440.0), np.zeros(SR // 2, np.float32)])
    grid = WindowGrid(500, 100, SR)
    starts, n_windows = inis.loud_windows(song, grid, silence_rms=0.1)
    assert n_windows == 16
    # A window is loud when it overlaps the tone by more than 0.04 s (0.354 * sqrt(overlap / 0.5) > 0.1).
    assert (starts / SR).round(3).tolist() == [round(0.1 * k, 3) for k in range(1, 15)]
    rms = inis.window_rms(song, starts, grid.win_samples)
    direct = [np.sqrt(np.mean(np.square(song[s:s + grid.win_samples], dtype=np.float64))) for s in starts]
    np.testing.assert_allclose(rms, direct, rtol=1e-9)
    assert inis.loud_windows(song, grid, silence_rms=0.0)[0].size == 16  # 0 keeps every window
    assert inis.loud_windows(song[: SR // 2 - 1], grid, 0.0) == (pytest.approx(np.zeros(0)), 0)


def test_split_counts_keep_one_item_on_each_side():
    assert [inis.n_test_items(n, 0.8) for n in (2, 3, 5, 10, 23)] == [1, 1, 1, 2, 5]
    assert inis.n_test_items(2, 0.99) == 1 and inis.n_test_items(3, 0.01) == 2
    draws = inis.draw_windows(7, 3, np.random.default_rng(0))
    assert sorted(draws[:3]) == [0, 1, 2] and sorted(draws[3:6]) == [0, 1, 2] and len(draws) == 7


# ---------------------------------------------------------------- split, pairing, Table 3
def test_no_song_is_in_both_splits_and_every_class_has_both(built):
    _, _, manifest, _ = built
    sides = manifest.groupby("take_id")["split"].nunique()
    assert (sides == 1).all()
    per_class = manifest.groupby(["instrument", "split"])["take_id"].nunique().unstack()
    assert per_class["train"].tolist() == [2, 2, 2] and per_class["test"].tolist() == [1, 1, 1]
    assert (manifest["piece"] == manifest["take_id"]).all()
    assert manifest["take_id"].str.split("/").str[0].eq(manifest["instrument"]).all()


def test_pairs_keep_class_and_split_of_picture_and_sound(built):
    images, audio, manifest, _ = built
    assert manifest["window_id"].tolist() == list(range(len(manifest)))
    assert manifests.class_names(manifest) == ("bell", "gong", "harp")
    assert (manifest["label"] == manifest["instrument"].map({"bell": 0, "gong": 1, "harp": 2})).all()
    frames = store.load_frames(manifest)
    sound = store.load_window_audio(manifest)
    assert frames.shape == (15, 16, 16, 3) and sound.shape == (15, SR // 2)
    for row, frame, window in zip(manifest.itertuples(), frames, sound):
        picture = sorted((images / row.instrument).iterdir())[row.frame_index]
        np.testing.assert_array_equal(frame, inis.read_picture(picture, 16))
        np.testing.assert_array_equal(frame[8, 8], np.array(COLOURS[row.instrument]) + 5 * row.frame_index)
        song = next((audio / row.instrument).glob(row.take_id.split("/")[1] + ".*"))
        start = round(row.start_s * SR)
        np.testing.assert_allclose(window, inis.decode_song(song, SR)[start:start + SR // 2], atol=1e-6)
    # Each picture is paired once; pictures are split 4 train / 1 test per class, by the seed.
    assert manifest.groupby("instrument")["frame_index"].apply(lambda s: sorted(s)).map(list).eq([[0, 1, 2, 3, 4]] * 3).all()
    assert manifest.groupby(["instrument", "split"]).size().unstack()["test"].tolist() == [1, 1, 1]


def test_table3_counts_songs_windows_and_pairs_per_class_and_split(built):
    _, _, manifest, table = built
    table = table.set_index("class")
    assert list(table.index) == ["bell", "gong", "harp", "all"]
    pairs = manifest.groupby(["instrument", "split"]).size().unstack()
    for cls in ("bell", "gong", "harp"):
        row = table.loc[cls]
        assert (row["train_pairs"], row["test_pairs"]) == (pairs.loc[cls, "train"], pairs.loc[cls, "test"])
        assert (row["complete_songs"], row["train_songs"], row["test_songs"]) == (3, 2, 1)
        assert row["silent_windows"] == 0 and row["skipped_images"] == 0
        # Songs of 2.0, 2.3 and 2.6 s: 16, 19 and 22 windows of 0.5 s every 0.1 s.
        assert row["train_sound_windows"] + row["test_sound_windows"] == 16 + 19 + 22
        assert np.isnan(row["paper_songs"])
    assert table.loc["all", "train_pairs"] + table.loc["all", "test_pairs"] == len(manifest) == 15
    assert table.loc["all", "complete_songs"] == 9


def test_paper_numbers_stand_beside_the_paper_classes():
    result = inis.ClassResult("piano", counts={k: 1 for k in inis.TABLE3_COLUMNS[1:11]})
    row = inis.table3([result]).set_index("class").loc["piano"]
    assert (row["paper_songs"], row["paper_train"], row["paper_test"]) == (23, 766, 327)


def test_same_seed_same_pairs_other_seed_other_pairs(tmp_path, built):
    images, audio, manifest, _ = built
    again, _ = inis.build_inis(images, audio, tmp_path / "again", settings())
    pd.testing.assert_frame_equal(manifest.drop(columns=["frames_path", "audio_path"]),
                                  again.drop(columns=["frames_path", "audio_path"]))
    other, _ = inis.build_inis(images, audio, tmp_path / "other", settings(seed=4))
    assert not manifest[["start_s", "take_id", "split"]].equals(other[["start_s", "take_id", "split"]])


# ---------------------------------------------------------------- the class list
def test_class_names_are_urmp_for_urmp_labels_and_the_sorted_classes_otherwise():
    urmp_rows = pd.DataFrame({"instrument": ["violin", "cello"], "label": [12, 1]})
    assert manifests.class_names(urmp_rows) == urmp.INSTRUMENT_NAMES
    own = pd.DataFrame({"instrument": ["violin", "drum", "piano"], "label": [2, 0, 1]})
    assert manifests.class_names(own) == ("drum", "piano", "violin")
    with pytest.raises(manifests.ManifestError, match="neither URMP"):
        manifests.class_names(pd.DataFrame({"instrument": ["violin", "drum"], "label": [0, 0]}))


# ---------------------------------------------------------------- bad input
def run_step(images, audio, out, *extra):
    args = ["inis-pairs", "--images-root", str(images), "--audio-root", str(audio), "--tracks-dir", str(out / "tracks"),
            "--windows", str(out / "windows.parquet"), "--table3", str(out / "table3.csv"), "--sr", str(SR),
            "--image-size", "16", *extra]
    return cli.main(args)


def assert_refused(tmp_path, images, audio, caplog, *needles):
    out = tmp_path / "out"
    assert run_step(images, audio, out) == 1
    message = caplog.text
    for needle in needles:
        assert needle in message, message
    assert not out.exists() or not any(out.iterdir())  # nothing half-written


def test_classes_in_one_root_only_are_named(tmp_path, caplog):
    images, audio = make_tree(tmp_path)
    (images / "zither").mkdir()
    (audio / "harp").rename(audio / "lyre")
    assert_refused(tmp_path, images, audio, caplog, "'zither' has pictures but no folder", "'harp' has pictures",
                   "'lyre' has songs but no folder")


def test_an_empty_class_folder_is_named(tmp_path, caplog):
    images, audio = make_tree(tmp_path)
    for path in (images / "gong").iterdir():
        path.unlink()
    (images / "gong" / "notes.txt").write_text("not a picture")
    assert_refused(tmp_path, images, audio, caplog, str(images / "gong"), "holds no jpg/jpeg/png file")


def test_a_single_song_cannot_be_split_and_says_so(tmp_path, caplog):
    images, audio = make_tree(tmp_path)
    for path in sorted((audio / "bell").iterdir())[1:]:
        path.unlink()
    assert_refused(tmp_path, images, audio, caplog, "'bell' has a single usable song (bell_song0.wav)",
                   "cannot be split")


def test_a_song_shorter_than_a_window_is_named(tmp_path, caplog):
    images, audio = make_tree(tmp_path)
    soundfile.write(audio / "gong" / "short.wav", tone(0.3, 300.0), SR)
    assert_refused(tmp_path, images, audio, caplog, "short.wav: the song lasts 0.300 s, shorter than one 0.5 s window")


@pytest.mark.parametrize("kind", ["picture", "song"])
def test_an_unreadable_file_is_refused_by_name_or_skipped_and_counted(tmp_path, caplog, kind):
    images, audio = make_tree(tmp_path)
    bad = images / "harp" / "broken.png" if kind == "picture" else audio / "harp" / "broken.wav"
    bad.write_bytes(b"\x00not a file of its kind\xff" * 20)
    assert_refused(tmp_path, images, audio, caplog, str(bad), "inis.on_unreadable: skip")
    out = tmp_path / "skipped"
    assert run_step(images, audio, out, "--on-unreadable", "skip") == 0
    table = pd.read_csv(out / "table3.csv").set_index("class")
    column = "skipped_images" if kind == "picture" else "skipped_songs"
    assert table[column].to_dict() == {"bell": 0, "gong": 0, "harp": 1, "all": 1}
    manifest = manifests.read(out / "windows.parquet", "windows")
    assert len(manifest) == 15 and (manifest["instrument"] == "harp").sum() == 5


def test_a_class_whose_test_songs_are_silent_is_refused(tmp_path, caplog):
    images, audio = make_tree(tmp_path)
    for path in (audio / "gong").iterdir():
        data, sr = soundfile.read(path)
        soundfile.write(path, data * 0.001, sr)
    assert_refused(tmp_path, images, audio, caplog, "'gong'", "below the silence threshold")


# ---------------------------------------------------------------- the demo INIS
def digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_demo_inis_is_deterministic_and_in_the_paired_folders_layout(tmp_path):
    kwargs = dict(images_per_class=2, songs_per_class=3, song_s=(1.0, 1.5), classes=("drum", "guitar"))
    first = demo_inis.generate_inis_demo(tmp_path / "a", seed=1, **kwargs)
    second = demo_inis.generate_inis_demo(tmp_path / "b", seed=1, **kwargs)
    other = demo_inis.generate_inis_demo(tmp_path / "c", seed=2, **kwargs)
    assert digest(first) == digest(second)
    assert set(digest(other)) == set(digest(first)) and digest(other) != digest(first)
    assert sorted(digest(first)) == [
        "audio/drum/drum_song01.wav", "audio/drum/drum_song02.wav", "audio/drum/drum_song03.flac",
        "audio/guitar/guitar_song01.wav", "audio/guitar/guitar_song02.wav", "audio/guitar/guitar_song03.flac",
        "images/drum/drum_0000.png", "images/drum/drum_0001.jpg",
        "images/guitar/guitar_0000.png", "images/guitar/guitar_0001.jpg",
    ]
    song = inis.decode_song(first / "audio/drum/drum_song01.wav", 44100)
    assert 1.0 <= len(song) / 44100 <= 1.5 and np.abs(song).max() > 0.1  # the drum kit sounds
    scan = inis.scan_folders(first / "images", first / "audio")
    assert [c.name for c in scan] == ["drum", "guitar"]


def test_demo_pictures_vary_in_size_and_background():
    sizes, corners = set(), set()
    for i in range(6):
        rng = demo_inis.seeded_rng(0, "test", i)
        width, height = (int(v) for v in rng.integers(64, 161, size=2))
        picture = demo_inis.draw_picture("violin", rng, width, height)
        assert picture.shape == (height, width, 3) and picture.dtype == np.uint8
        sizes.add(picture.shape)
        corners.add(tuple(picture[0, 0] // 32))
    assert len(sizes) == 6 and len(corners) >= 3


def test_demo_refuses_a_class_with_one_song(tmp_path):
    with pytest.raises(demo_inis.InisDemoError, match="2 songs per class"):
        demo_inis.generate_inis_demo(tmp_path / "x", images_per_class=3, songs_per_class=1)
    assert not (tmp_path / "x").exists()


def test_inis_pairs_step_is_registered():
    parser = cli.build_parser(only="inis-pairs")
    args = parser.parse_args(["inis-pairs", "--images-root", "i", "--audio-root", "a", "--tracks-dir", "t",
                              "--windows", "w", "--table3", "t3"])
    assert isinstance(args, argparse.Namespace) and args.on_unreadable == "error" and args.silence_rms == 0.01


def test_atomic_directory_replaces_a_folder_only_when_complete(tmp_path):
    target = tmp_path / "tracks"
    target.mkdir()
    (target / "old.npy").write_text("old")
    with pytest.raises(RuntimeError):
        with store.atomic_directory(target) as tmp:
            (tmp / "new.npy").write_text("new")
            raise RuntimeError("failed half way")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracks"] and (target / "old.npy").exists()
    with store.atomic_directory(target) as tmp:
        (tmp / "new.npy").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracks"]
    assert target.stat().st_mode & 0o055 == 0o055 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
