"""End to end: Snakemake on the tiny demo config up to Table 2; reruns schedule only what changed."""

import re

import pandas as pd
import pytest
from PIL import Image
from workflow_helpers import make_workdir, planned_rules, snakemake

from crossmodal import manifests
from crossmodal.config import section_defaults
from crossmodal.dataset import extract
from crossmodal.dataset.panels import PANEL_FITS

pytestmark = pytest.mark.workflow

TARGETS = ("results/table2.csv", "results/figures/fig6_dataset_examples.png")


@pytest.fixture(scope="module")
def data_run(tmp_path_factory):
    workdir = make_workdir(tmp_path_factory.mktemp("wf_data"))
    snakemake(workdir, "--cores", "2", *TARGETS)
    return workdir


def test_data_stage_produces_manifests_table2_and_fig6(data_run):
    tracks = manifests.read(data_run / "results/manifests/tracks.parquet", "tracks")
    windows = manifests.read(data_run / "results/manifests/windows.parquet", "windows")
    # 15_Surprise (3 players) + 24_Pirates (4) + 25_Pirates (4), less the instruments not kept.
    assert len(tracks) == 11
    assert set(tracks["instrument"]) == {"cello", "sax", "trombone", "trumpet", "viola", "violin"}
    assert tracks.set_index("track_id").loc["15_Surprise_3_tbn", "instrument"] == "trombone"
    # 4 s tracks: floor((4 - 0.5) / 0.1) + 1 = 36 windows each.
    assert windows.groupby("track_id").size().eq(36).all()
    for take, sides in tracks.groupby("take_id")["split"]:
        assert sides.nunique() == 1, take
    table2 = pd.read_csv(data_run / "results/table2.csv").set_index("instrument")
    assert table2.loc["total"].to_dict() == {"train": (windows.split == "train").sum(),
                                             "test": (windows.split == "test").sum(), "total": 11 * 36}
    players = tracks.groupby("instrument").size()
    assert table2.drop("total")["total"].to_dict() == (36 * players).to_dict()
    with Image.open(data_run / "results/figures/fig6_dataset_examples.png") as fig6:
        fig6.load()  # every pixel decodes
        assert min(fig6.size) >= 64


def test_finished_run_schedules_nothing(data_run):
    assert planned_rules(data_run, *TARGETS) == {}


def test_changing_stride_reruns_extraction_and_what_follows_only(data_run):
    (data_run / "stride.yaml").write_text("dataset: {window_s: 0.5, stride_s: 0.2, audio_sr: 44100, image_size: 64}\n")
    plan = planned_rules(data_run, *TARGETS, extra=("--configfile", "config.yaml", "tiny.yaml", "stride.yaml"))
    assert set(plan) == {"extract_piece", "windows", "dataset_report"}
    assert plan["extract_piece"] == 3  # one job per piece (11 tracks in 3 pieces)


def test_a_data_panels_override_reruns_that_piece_only_and_panel_fit_reruns_every_piece(data_run):
    summary = pd.read_csv(data_run / "results/manifests/pieces/15_Surprise_tpt_tpt_tbn.csv")
    assert summary["track_id"].tolist() == ["15_Surprise_1_tpt", "15_Surprise_2_tpt", "15_Surprise_3_tbn"]
    assert summary["right_px"].tolist() == [48, 96, 144]  # equal 48 px panels by default
    (data_run / "panels.yaml").write_text(
        "data: {source: demo, panels: {15_Surprise_tpt_tpt_tbn: [[0, 50], [46, 98], [94, 144]]}}\n")
    plan = planned_rules(data_run, *TARGETS, extra=("--configfile", "config.yaml", "tiny.yaml", "panels.yaml"))
    assert plan == {"extract_piece": 1, "windows": 1, "dataset_report": 1}
    other = next(fit for fit in PANEL_FITS if fit != section_defaults("dataset")["panel_fit"])
    (data_run / "fit.yaml").write_text(f"dataset: {{panel_fit: {other}}}\n")
    plan = planned_rules(data_run, *TARGETS, extra=("--configfile", "config.yaml", "tiny.yaml", "fit.yaml"))
    assert plan == {"extract_piece": 3, "windows": 1, "dataset_report": 1}


def test_each_piece_job_asks_for_the_memory_and_time_its_video_needs(data_run):
    out = snakemake(data_run, "-n", "--cores", "4", "--set-threads", "extract_piece=3", "--forcerun", "extract_piece",
                    "results/table2.csv")
    jobs = re.findall(r"rule extract_piece:.*?wildcards: piece=(\S+).*?threads: (\d+).*?resources: ([^\n]+)",
                      out.stdout + out.stderr, flags=re.S)
    assert len(jobs) == 3 and {threads for _, threads, _ in jobs} == {"3"}
    tracks = manifests.read(data_run / "results/manifests/tracks.parquet", "tracks")
    for piece, threads, resources in jobs:
        first = tracks[tracks["piece"] == piece].iloc[0]
        size = extract.job_size(int(first["video_width"]), int(first["video_height"]),
                                float(first["video_duration_s"]), int((tracks["piece"] == piece).sum()),
                                44100, 64, 0.1, int(threads))
        assert f"mem_mb={size['mem_mb']}," in resources and f"runtime={size['runtime']}," in resources, resources
