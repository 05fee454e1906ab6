"""Export to the released Sub-URMP layout, and the round trip: demo -> export -> data.source suburmp."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from test_suburmp import ingest_all, write_tree
from workflow_helpers import make_workdir, planned_rules, snakemake

from crossmodal import cli, manifests, store
from crossmodal.dataset.suburmp import export
from crossmodal.dataset.suburmp import tracks as sub_tracks

SR = 44100


@pytest.fixture
def world(tmp_path):
    """A small windows manifest with real per-track arrays (ingested from a synthetic release)."""
    root = write_tree(tmp_path / "release", {("train", "violin", 3): 4, ("train", "sax", 0): 3,
                                             ("validation", "violin", 7): 2})
    table = sub_tracks.build_tracks(root, ["violin", "sax"])
    return ingest_all(table, tmp_path / "tracks", size=16)


def test_names_number_each_instruments_tracks_and_end_at_the_window_end():
    windows = pd.DataFrame({
        "track_id": ["a", "a", "b", "c", "c"], "instrument": ["violin", "violin", "sax", "violin", "violin"],
        "split": ["train", "train", "test", "test", "test"], "start_s": [0.0, 0.1, 2.3, 0.0, 0.2],
    })
    names = export.export_names(windows, 500)
    assert list(names["stem"]) == ["violin00_500", "violin00_600", "sax00_2800", "violin01_500", "violin01_700"]
    assert list(names["split_folder"]) == ["train", "train", "validation", "validation", "validation"]
    with pytest.raises(ValueError, match="two windows ending at 500 ms"):
        export.export_names(windows.assign(start_s=[0.0, 0.0, 0.0, 0.0, 0.1]), 500)


def test_export_writes_the_release_layout_and_a_manifest(world, tmp_path):
    out = tmp_path / "suburmp"
    manifest = export.export(world, out, 0.5, SR)
    assert len(manifest) == len(world) == 9
    assert sorted(p.relative_to(out).as_posix() for p in (out / "img").rglob("*.jpg"))[:3] == [
        "img/train/sax/sax00_500.jpg", "img/train/sax/sax00_600.jpg", "img/train/sax/sax00_700.jpg"]
    assert sorted(p.name for p in (out / "chunk" / "validation" / "violin").iterdir()) == [
        "violin01_500.wav", "violin01_600.wav"]
    on_disk = pd.read_csv(out / "manifest.csv")
    assert list(on_disk["window_id"]) == list(world["window_id"])
    assert list(on_disk.columns) == ["image", "chunk", "window_id", "track_id", "window_index", "start_s", "end_ms",
                                     "instrument", "label", "split"]
    row = on_disk.iloc[5]
    source = world.iloc[[5]]
    samples, rate = sf.read(out / row["chunk"], dtype="float32")
    assert rate == SR and samples.shape == (22050,)
    assert np.abs(samples - store.load_window_audio(source)[0]).max() < 1 / 2 ** 14  # 16-bit PCM
    image = np.asarray(Image.open(out / row["image"]), dtype=float)
    assert np.abs(image - store.load_frames(source)[0]).mean() < 3  # JPEG quality 95


def test_failed_export_leaves_no_tree(world, tmp_path):
    world = world.copy()
    world.loc[world.index[-1], "audio_path"] = str(tmp_path / "gone.npy")
    with pytest.raises(store.StoreError, match="gone.npy"):
        export.export(world, tmp_path / "suburmp", 0.5, SR)
    assert not (tmp_path / "suburmp").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".suburmp")]


def test_export_refuses_a_window_length_that_does_not_match_the_store(world, tmp_path):
    with pytest.raises(ValueError, match="do not match the stored audio spans"):
        export.export(world, tmp_path / "suburmp", 0.4, SR)


# --- the round trip through the workflow -----------------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(tiny_all_run, tmp_path_factory):
    """The tiny demo's pairs exported (by the CLI step, beside the shared run, which stays as it
    was), then read back by a workflow with data.source suburmp up to Table 1 and S2I-C."""
    base = tmp_path_factory.mktemp("suburmp_round_trip")
    release = base / "suburmp"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_all_run)  # the manifest's array paths are relative to the run's folder
        assert cli.main(["export-suburmp", "--windows", "results/manifests/windows.parquet",
                         "--out", str(release), "--window", "0.5", "--sr", str(SR)]) == 0
    workdir = make_workdir(base / "wd", {
        "data.source": "suburmp", "data.suburmp_root": str(release),
        "audio_classifier.representations": ["lms"], "audio_classifier.conv_layers": [4],
    })
    snakemake(workdir, "--cores", "2", "results/table1.csv", "results/models/gan/s2i_c/model.pt",
              "results/table2.csv", "results/suburmp_ingest.csv")
    return tiny_all_run, release, workdir


@pytest.mark.workflow
def test_export_is_a_target_outside_all(tiny_all_run, tmp_path):
    assert planned_rules(tiny_all_run, "export_suburmp") == {"export_suburmp": 1}
    assert "export_suburmp" not in planned_rules(make_workdir(tmp_path), "all")


def read_windows(workdir):
    """A run's windows manifest with its array paths made absolute."""
    windows = manifests.read(workdir / "results/manifests/windows.parquet", "windows")
    for column in ("frames_path", "audio_path"):
        windows[column] = [str(workdir / p) for p in windows[column]]
    return windows


@pytest.mark.workflow
def test_round_trip_keeps_counts_labels_audio_and_images(round_trip):
    source_run, release, workdir = round_trip
    before, after = read_windows(source_run), read_windows(workdir)
    count = lambda w: w.groupby(["instrument", "split"]).size().to_dict()  # noqa: E731
    assert count(after) == count(before)
    assert after.groupby("label").size().to_dict() == before.groupby("label").size().to_dict()
    # pair each read-back window with its source window through the export's manifest
    files = pd.read_csv(release / "manifest.csv")
    recording = files["image"].str.extract(r"/([a-z_]+\d+)_\d+\.jpg$")[0]
    files["track_id"] = "suburmp_" + recording
    after_key = after.set_index(["track_id", "start_s"])["window_id"]
    files["after_id"] = [after_key[(t, s)] for t, s in zip(files["track_id"], files["start_s"])]
    src = before.set_index("window_id").loc[files["window_id"]].reset_index()
    dst = after.set_index("window_id").loc[files["after_id"]].reset_index()
    assert list(dst["label"]) == list(src["label"]) and list(dst["split"]) == list(src["split"])
    assert np.abs(store.load_window_audio(dst) - store.load_window_audio(src)).max() < 1 / 2 ** 14
    assert np.abs(store.load_frames(dst).astype(float) - store.load_frames(src)).mean() < 3
    summary = pd.read_csv(workdir / "results/suburmp_ingest.csv").set_index("track_id").loc["total"]
    assert (summary["chunks"], summary["resampled"], summary["padded"], summary["trimmed"]) == (len(before), 0, 0, 0)


@pytest.mark.workflow
def test_suburmp_source_reaches_table1_and_s2i_c(round_trip):
    _, _, workdir = round_trip
    tracks = manifests.read(workdir / "results/manifests/tracks.parquet", "tracks")
    assert tracks["track_id"].str.startswith("suburmp_").all() and tracks["notes_path"].isna().all()
    table1 = pd.read_csv(workdir / "results/table1.csv")
    assert list(table1.columns[:2]) == ["conv_layers", "LMS"] and 0 <= table1["LMS"].iloc[0] <= 100
    assert (workdir / "results/models/gan/s2i_c/model.pt").stat().st_size > 0
    table2 = pd.read_csv(workdir / "results/table2.csv").set_index("instrument")
    assert table2.loc["total", "total"] == len(manifests.read(workdir / "results/manifests/windows.parquet",
                                                              "windows"))
