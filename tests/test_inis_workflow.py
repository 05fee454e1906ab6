"""The INIS side of `all` on the tiny config (tests/conftest.py: tiny_all_run, shared with
test_workflow_all.py): Table 3, the INIS classifiers with INIS's own five classes, Table 5 and
Fig. 7; an INIS setting reruns the INIS chain and nothing of Sub-URMP; a single INIS target reruns
alone; inis.enabled: false takes INIS out of `all`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from workflow_helpers import planned_rules

from crossmodal import manifests
from crossmodal.dataset.inis import n_test_items

pytestmark = pytest.mark.workflow

CLASSES = ["drum", "guitar", "piano", "saxophone", "violin"]
# tests/configs/tiny.yaml: inis.demo 6 pictures and 2 songs per class, one Fig. 7 column per class.
PICTURES, SONGS = 6, 2
INIS_CHAIN = {
    "inis_pairs": 1, "inis_features": 1, "inis_audio_classifier": 1, "inis_encode_sound_classifier": 1,
    "inis_sound_autoencoder": 1, "inis_encode_sound_autoencoder": 1, "inis_image_classifier": 1,
    "inis_s2i_c": 1, "inis_s2i_a": 1, "inis_eval_table5": 1, "inis_fig7": 1,
}


@pytest.fixture(scope="module")
def run(tiny_all_run) -> Path:
    return tiny_all_run


def test_table3_matches_the_pairs_of_the_manifest(run):
    windows = manifests.read(run / "results/inis/manifests/windows.parquet", "windows")
    assert manifests.class_names(windows) == tuple(CLASSES)
    table = pd.read_csv(run / "results/inis/table3.csv").set_index("class")
    assert list(table.index) == [*CLASSES, "all"]
    n_test = n_test_items(PICTURES, 0.8)
    for cls in CLASSES:
        rows = windows[windows.instrument == cls]
        assert (table.loc[cls, "train_pairs"], table.loc[cls, "test_pairs"]) == (PICTURES - n_test, n_test)
        assert (rows.split == "train").sum() == PICTURES - n_test and (rows.split == "test").sum() == n_test
        assert (table.loc[cls, "complete_songs"], table.loc[cls, "train_songs"], table.loc[cls, "test_songs"]) == (SONGS, 1, 1)
        assert rows.groupby("take_id")["split"].nunique().eq(1).all()
    assert table.loc["all", "paper_songs"] == 77
    frames = np.load(run / windows["frames_path"].iloc[0], mmap_mode="r")
    assert frames.shape[1:] == (64, 64, 3)


def test_inis_classifiers_have_the_five_inis_classes(run):
    result = json.loads((run / "results/inis/audio_classifiers/lms_4/seed_0/result.json").read_text())
    assert result["instruments"] == CLASSES and result["n_test"] == 5 * n_test_items(PICTURES, 0.8)
    accuracy = pd.read_csv(run / "results/inis/image_classifier/accuracy.csv")
    assert set(accuracy["instrument"]) == {*CLASSES, "all"}
    payload = torch.load(run / "results/inis/image_classifier/model.pt", map_location="cpu", weights_only=True)
    assert payload["extra"]["class_names"] == CLASSES and payload["extra"]["kwargs"]["n_classes"] == 5
    encodings = np.load(run / "results/inis/embeddings/sound_autoencoder.npy", mmap_mode="r")
    assert encodings.shape == (5 * PICTURES, 128)


def test_inis_table5_judges_s2i_c_and_s2i_a_per_class_without_the_papers_sub_urmp_numbers(run):
    table5 = pd.read_csv(run / "results/inis/table5.csv")
    expected = {(m, s, i) for m in ("real", "S2I-C", "S2I-A") for s in ("train", "test") for i in [*CLASSES, "all"]}
    assert set(zip(table5["method"], table5["split"], table5["instrument"])) == expected
    assert table5["paper_accuracy"].isna().all()
    overall = table5[table5.instrument == "all"].set_index(["method", "split"])["n"]
    assert overall[("S2I-A", "test")] == 5 * n_test_items(PICTURES, 0.8)


def test_fig7_shows_a_column_per_class_over_two_rows(run):
    with Image.open(run / "results/inis/figures/fig7_inis.png") as image:
        width, height = image.size
    assert width > 5 * 100 and height > 2 * 100 and width > 1.5 * height


def test_an_inis_setting_reruns_the_inis_chain_and_the_scorecard_only_and_disabling_inis_plans_no_inis_job(run):
    (run / "inis_change.yaml").write_text("inis: {silence_rms: 0.02}\n")
    extra = ("--configfile", "config.yaml", "tiny.yaml", "inis_change.yaml")
    # The scorecard quotes Table 3's totals, so it follows INIS; nothing of the main dataset does.
    assert planned_rules(run, "all", extra=extra) == {**INIS_CHAIN, "scorecard": 1, "all": 1}
    assert planned_rules(run, "results/inis/table3.csv", extra=extra) == {"inis_pairs": 1}
    (run / "inis_off.yaml").write_text("inis: {silence_rms: 0.02, enabled: false}\n")
    # Without INIS only the scorecard is rewritten (its INIS rows go); no INIS job is planned.
    off = ("--configfile", "config.yaml", "tiny.yaml", "inis_off.yaml")
    assert planned_rules(run, "all", extra=off) == {"scorecard": 1, "all": 1}
