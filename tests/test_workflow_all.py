"""`snakemake all` on the tiny config, executed once (tests/conftest.py: tiny_all_run) and read by
every test here: each target of `all` exists and has its expected shape or rows, a second `all`
schedules nothing, a changed features setting reruns exactly what lies downstream of it, the
report holds every table and figure with its caption, and every result is readable by others.

The list of targets comes from the workflow itself (rule all's inputs), so a target that a
stage adds to `all` is checked here without editing this file: by its kind (suffix) always, and
by its paper-specific content where this file knows it.
"""

from __future__ import annotations

import html
import json
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
from PIL import Image
from workflow_helpers import REPO, all_targets, planned_rules, snakemake

from crossmodal import manifests, media

pytestmark = pytest.mark.workflow

# tests/configs/tiny.yaml: 15_Surprise (3 players), 24_Pirates and 25_Pirates (4 each), 6 kept
# instruments, 4 s per track: floor((4 - 0.5) / 0.1) + 1 = 36 windows per track.
N_TRACKS = 11
N_WINDOWS = 11 * 36
INSTRUMENTS = ["cello", "sax", "trombone", "trumpet", "viola", "violin"]
PAPER_REPS = ["MS", "LMS", "CQT", "MFCC", "STFT"]
GANS = ["s2i_c", "s2i_n", "s2i_a", "pose_s2i_violin", "pose_s2i_viola", "pose_s2i_cello", "i2s"]
#: Every table and figure of the paper that `all` must produce on the tiny config.
PAPER_OUTPUTS = {
    "results/table1.csv", "results/table2.csv", "results/table5.csv", "results/i2s_accuracy.csv",
    "results/figures/fig1_generated.png", "results/figures/fig3_representations.png",
    "results/figures/fig6_dataset_examples.png", "results/figures/fig9_accuracy_evolution.png",
    "results/figures/fig10_pose.png", "results/figures/fig11_i2s_spectrograms.png",
    "results/human_eval/index.html",
}


@pytest.fixture(scope="module")
def run(tiny_all_run) -> Path:
    return tiny_all_run


@pytest.fixture(scope="module")
def targets(run) -> list[str]:
    return all_targets(run)


@pytest.fixture(scope="module")
def windows(run) -> pd.DataFrame:
    return manifests.read(run / "results/manifests/windows.parquet", "windows")


# ---------------------------------------------------------------- every target, by its kind
def decoded_png(path: Path) -> np.ndarray:
    """Every pixel of a PNG (a truncated or corrupt file fails here, not only a wrong header).
    Images a two-epoch GAN draws may be flat; figures are checked for content below."""
    with Image.open(path) as image:
        assert image.format == "PNG", path
        pixels = np.asarray(image.convert("RGB"))
    assert min(pixels.shape[:2]) >= 32, f"{path}: {pixels.shape[1]}x{pixels.shape[0]} px"
    return pixels


def figure(path: Path) -> np.ndarray:
    """A figure's pixels; a figure of a few colours is a blank page with a title, not a figure."""
    pixels = decoded_png(path)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 64, f"{path}: (almost) blank"
    return pixels


def check_csv(path: Path) -> None:
    frame = pd.read_csv(path)
    assert len(frame) >= 1 and len(frame.columns) >= 2, f"{path}: {frame.shape}"


def check_npy(path: Path) -> None:
    array = np.load(path, mmap_mode="r")
    assert array.size > 0, path
    if array.dtype.kind == "f":
        assert np.isfinite(array).all(), f"{path}: holds NaN or inf"


def check_parquet(path: Path) -> None:
    assert pq.read_metadata(path).num_rows > 0, path


def check_model(path: Path) -> None:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    tensors = [t for state in payload["models"].values() for t in state.values() if t.is_floating_point()]
    assert tensors and all(torch.isfinite(t).all() for t in tensors), f"{path}: no or non-finite weights"


def check_json(path: Path) -> None:
    assert json.loads(path.read_text()), path


def check_html(path: Path) -> None:
    text = path.read_text()
    assert text.lstrip().lower().startswith("<!doctype html") and "</html>" in text, path


def check_text(path: Path) -> None:
    assert len(path.read_text().split()) >= 5, f"{path}: (almost) empty"


def check_wav(path: Path) -> None:
    samples, sr = soundfile.read(path)
    assert sr > 0 and len(samples) > 0 and np.abs(samples).max() > 0, f"{path}: empty or silent"


def check_video(path: Path) -> None:
    info = media.video_info(path)
    assert info["duration_s"] > 0 and info["width"] > 0, path


CHECKS = {".csv": check_csv, ".npy": check_npy, ".parquet": check_parquet, ".pt": check_model,
          ".json": check_json, ".html": check_html, ".png": decoded_png, ".wav": check_wav,
          ".mp4": check_video, ".md": check_text, ".txt": check_text}


def check_output(path: Path) -> None:
    if path.is_dir():
        # .snakemake_timestamp: Snakemake's own mark on a directory output.
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp")
        assert files, f"{path}: an empty folder"
        for file in files:
            check_output(file)
        return
    assert path.suffix in CHECKS, f"{path}: no check for a {path.suffix} output; add one to CHECKS"
    CHECKS[path.suffix](path)


def test_all_lists_every_table_and_figure_of_the_paper(targets):
    assert PAPER_OUTPUTS <= set(targets), sorted(PAPER_OUTPUTS - set(targets))
    assert {f"results/models/gan/{name}/model.pt" for name in GANS} <= set(targets)


def test_every_target_of_all_exists_and_reads_as_its_kind(run, targets):
    missing = [t for t in targets if not (run / t).exists()]
    assert not missing, missing
    for target in targets:
        check_output(run / target)


# ---------------------------------------------------------------- the paper's outputs, by content
def test_manifests_hold_every_player_and_window_with_per_track_arrays(run, windows):
    tracks = manifests.read(run / "results/manifests/tracks.parquet", "tracks")
    assert len(tracks) == N_TRACKS and sorted(set(tracks["instrument"])) == INSTRUMENTS
    assert len(windows) == N_WINDOWS and windows["window_id"].tolist() == list(range(N_WINDOWS))
    for track_id, rows in windows.groupby("track_id"):
        frames = np.load(run / rows["frames_path"].iloc[0], mmap_mode="r")
        audio = np.load(run / rows["audio_path"].iloc[0], mmap_mode="r")
        assert frames.shape == (36, 64, 64, 3) and frames.dtype == np.uint8, track_id
        assert audio.dtype == np.float32 and len(audio) >= rows["audio_stop"].max(), track_id


def test_table2_counts_the_windows_per_instrument_and_split(run, windows):
    table2 = pd.read_csv(run / "results/table2.csv").set_index("instrument")
    assert list(table2.index) == [*INSTRUMENTS, "total"]
    counts = windows.groupby(["instrument", "split"]).size().unstack(fill_value=0)
    for instrument in INSTRUMENTS:
        row = table2.loc[instrument]
        assert (row["train"], row["test"]) == (counts.loc[instrument].get("train", 0), counts.loc[instrument].get("test", 0))
        assert row["total"] == 36 * windows[windows.instrument == instrument]["track_id"].nunique()
    assert table2.loc["total", "total"] == N_WINDOWS
    assert table2.loc["total", "train"] + table2.loc["total", "test"] == N_WINDOWS


def test_table1_has_both_depths_for_every_representation_and_a_confusion_each(run, windows):
    table1 = pd.read_csv(run / "results/table1.csv")
    assert sorted(table1["conv_layers"]) == [3, 4]
    values = table1[PAPER_REPS].to_numpy()
    assert ((values >= 0) & (values <= 100)).all()
    per_class = pd.read_csv(run / "results/table1_per_class.csv")
    test_instruments = sorted(set(windows[windows.split == "test"]["instrument"]))
    assert len(per_class) == 5 * 2 * len(test_instruments)
    for rep in ("stft", "ms", "lms", "cqt", "mfcc"):
        for layers in (3, 4):
            confusion = pd.read_csv(run / f"results/audio_classifiers/{rep}_{layers}/confusion.csv", index_col=0)
            assert confusion.to_numpy().sum() == (windows.split == "test").sum(), (rep, layers)
            assert (run / f"results/features/{rep}.npy").exists()
    lms = np.load(run / "results/features/lms.npy", mmap_mode="r")
    assert lms.shape == (N_WINDOWS, 128, 44)


def test_encodings_are_one_128_d_row_per_window(run):
    for name in ("sound_classifier", "sound_autoencoder", "image_classifier"):
        encodings = np.load(run / f"results/embeddings/{name}.npy", mmap_mode="r")
        assert encodings.shape == (N_WINDOWS, 128) and encodings.dtype == np.float32, name
    accuracy = pd.read_csv(run / "results/image_classifier/accuracy.csv")
    assert set(accuracy["split"]) == {"train", "test"}


def test_every_gan_kept_each_epoch_and_logged_its_losses(run):
    for name in GANS:
        folder = run / "results/models/gan" / name
        metrics = pd.read_csv(folder / "metrics.csv")
        assert metrics["epoch"].tolist() == [1, 2], name
        assert {"loss_d", "loss_g"} <= set(metrics.columns), name
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["epoch_0001.pt", "epoch_0002.pt"]
        assert sorted(p.name for p in (folder / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]


def test_table5_rows_are_each_method_split_and_instrument_with_an_all_row(run, windows):
    table5 = pd.read_csv(run / "results/table5.csv")
    expected = set()
    for split, rows in windows.groupby("split"):
        for method in ("real", "S2I-C", "S2I-A", "S2I-N"):
            expected |= {(method, split, i) for i in [*sorted(set(rows["instrument"])), "all"]}
    assert set(zip(table5["method"], table5["split"], table5["instrument"])) == expected
    assert len(table5) == len(expected)
    overall = table5[table5.instrument == "all"].set_index(["method", "split"])
    assert (overall["n"] == windows.groupby("split").size().reindex(overall.index.get_level_values(1)).to_numpy()).all()
    assert overall["accuracy"].between(0, 1).all()


def test_fig9_history_has_one_row_per_kept_checkpoint(run):
    history = pd.read_csv(run / "results/figures/fig9_accuracy_evolution.csv")
    assert history["epoch"].tolist() == [1, 2]
    best = pd.read_csv(run / "results/best_checkpoint_s2i_c.csv")
    assert set(best["epoch"]) <= {1, 2}


def test_i2s_outputs_accuracy_and_griffin_lim_clips(run):
    accuracy = pd.read_csv(run / "results/i2s_accuracy.csv")
    assert {"real", "I2S"} <= set(accuracy["method"])
    wavs = sorted((run / "results/i2s_audio").glob("*.wav"))
    assert wavs and all(soundfile.info(w).samplerate == 44100 for w in wavs)


def test_human_eval_page_has_four_blinded_images_per_set(run, windows, targets):
    key = pd.read_csv(run / next(t for t in targets if re.search(r"human_eval.*key\.csv$", t)))
    test_instruments = set(windows[windows.split == "test"]["instrument"])
    assert set(key["instrument"]) == test_instruments
    assert len(key) == 2 * 4 * len(test_instruments)  # evaluation.human_eval_sets: 2
    for set_id, methods in key.groupby("set_id")["method"]:
        assert sorted(methods) == ["S2I-A", "S2I-C", "S2I-N", "ground_truth"], set_id
    images = sorted(p.name for p in (run / "results/human_eval/images").glob("*.png"))
    assert images == sorted(Path(f).name for f in key["image_file"])
    page = (run / "results/human_eval/index.html").read_text()
    assert all(Path(f).name in page for f in key["image_file"])


def test_figures_decode_to_the_layouts_they_draw(run, windows):
    sizes = {name: figure(run / "results/figures" / name).shape[:2] for name in (
        "fig1_generated.png", "fig3_representations.png", "fig6_dataset_examples.png",
        "fig9_accuracy_evolution.png", "fig10_pose.png", "fig11_i2s_spectrograms.png")}
    # Fig. 3: a 2 x 3 grid at its fixed size, 12 x 6.5 in at 120 dpi.
    assert sizes["fig3_representations.png"] == (780, 1440)
    # Fig. 1: one column per instrument with test windows, rows S2I-C, S2I-A, S2I-N and I2S.
    height, width = sizes["fig1_generated.png"]
    columns = len(set(windows[windows.split == "test"]["instrument"]))
    assert width > height * columns / 4 * 0.8
    # Fig. 10: two rows (real, generated) per pose instrument, pose_length 4 columns.
    height, width = sizes["fig10_pose.png"]
    assert height > 3 * 2 * 0.9 * 100 and width > 4 * 100
    # Fig. 6: one frame per instrument.
    height, width = sizes["fig6_dataset_examples.png"]
    assert width >= len(INSTRUMENTS) * 64 or height >= len(INSTRUMENTS) * 64


# ---------------------------------------------------------------- reruns
def test_second_all_schedules_nothing(run):
    assert planned_rules(run, "all") == {}


def test_long_chains_are_scheduled_first_and_table1s_other_classifiers_fill_gaps(run):
    # Priorities (common.smk) start the data stage, Gamma -> I2S and the sound encoder's chain
    # first; on 2 cores they decide whether `all` ends with one job running alone (README).
    # Every job from the extraction on (forcing the tracks checkpoint would leave them unknown).
    done = snakemake(run, "-n", "--cores", "1", "all", "--forcerun", "extract_piece")
    text = done.stdout + done.stderr
    jobs = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n)+)", text, re.MULTILINE)
    priority = {}
    for rule, block in jobs:
        wildcards = re.search(r"wildcards: (.*)", block)
        level = re.search(r"priority: (\d+)", block)
        priority[(rule, wildcards[1] if wildcards else "")] = int(level[1]) if level else 0
    assert priority[("windows", "")] == 20
    assert [p for (rule, _), p in priority.items() if rule == "extract_piece"] == [20, 20, 20]
    assert priority[("image_classifier", "")] == priority[("i2s", "")] == 10
    assert priority[("features", "rep=lms")] == priority[("audio_classifier", "rep=lms, layers=4, seed=0")] == 5
    assert priority[("sound_autoencoder", "")] == priority[("s2i_a", "")] == priority[("s2i_c", "")] == 5
    others = {w: p for (rule, w), p in priority.items() if rule == "audio_classifier" and w != "rep=lms, layers=4, seed=0"}
    assert len(others) == 9 and set(others.values()) == {0}
    assert priority[("eval_table5", "")] == priority[("eval_i2s", "")] == 1


def downstream_jobs(run: Path, reps: list[str], extra: tuple[str, ...]) -> dict[str, int]:
    """Rule -> count of the jobs of `all` that depend on the `features` jobs of ``reps`` (those
    included), from Snakemake's own DAG (``--dag``, dot format): what a change to those stores
    must rerun, and nothing else."""
    dot = snakemake(run, "--cores", "1", "all", "--dag", *extra).stdout
    rules = {m[1]: m[2].split("\\n")[0] for m in re.finditer(r'^\s*(\d+)\[label = "([^"]*)"', dot, re.MULTILINE)}
    labels = {m[1]: m[2] for m in re.finditer(r'^\s*(\d+)\[label = "([^"]*)"', dot, re.MULTILINE)}
    edges = re.findall(r"^\s*(\d+) -> (\d+)", dot, re.MULTILINE)
    assert rules and edges, dot[-2000:]
    front = {n for n, label in labels.items() if rules[n] == "features" and any(f"rep: {r}" in label for r in reps)}
    assert len(front) == len(reps), f"features jobs of {reps} not found in the DAG: {labels}"
    reached = set(front)
    while front:
        front = {b for a, b in edges if a in front} - reached
        reached |= front
    counts: dict[str, int] = {}
    for node in reached:
        counts[rules[node]] = counts.get(rules[node], 0) + 1
    return counts


@pytest.mark.parametrize("setting, changed_reps", [
    ("n_mfcc: 13", ["mfcc"]),                     # the MFCC store only: Table 1 and Fig. 3
    ("top_db: 60.0", ["lms", "mfcc"]),            # LMS and MFCC: encoders, GANs, evaluation too
])
def test_a_features_setting_reruns_exactly_the_jobs_downstream_of_its_stores(run, setting, changed_reps):
    # INIS left out: its own LMS store reruns too, but the DAG walk below starts from Sub-URMP's
    # stores (tests/test_inis_workflow.py checks what an INIS setting reruns).
    (run / "features_change.yaml").write_text(f"features: {{{setting}}}\ninis: {{enabled: false}}\n")
    extra = ("--configfile", "config.yaml", "tiny.yaml", "features_change.yaml")
    plan = planned_rules(run, "all", extra=extra)
    assert plan["features"] == len(changed_reps)
    assert plan["audio_classifier"] == 2 * len(changed_reps)  # 3 and 4 conv layers each
    for upstream in ("demo_urmp", "tracks", "windows", "dataset_report", "image_classifier"):
        assert upstream not in plan, upstream
    if "lms" in changed_reps:
        assert {"sound_autoencoder", "s2i_c", "s2i_a", "i2s", "eval_table5"} <= set(plan)
    else:
        assert not {"sound_autoencoder", "s2i_c", "i2s", "eval_table5"} & set(plan)
    assert plan == downstream_jobs(run, changed_reps, extra)


def test_the_image_judges_target_reruns_the_judge_and_what_it_scores_nothing_else(run):
    (run / "image_target.yaml").write_text("pitch: {image_target: window}\n")
    plan = planned_rules(run, "all", extra=("--configfile", "config.yaml", "tiny.yaml", "image_target.yaml"))
    assert plan == {"pitch_judge_image": 1, "eval_pitch": 1, "eval_pose": 1, "all": 1}


# ---------------------------------------------------------------- report
def plain_words(text: str) -> list[str]:
    """The words of a caption with HTML tags, rst markup and entities gone."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"[*`\\]", "", text).split()


def test_report_holds_every_table_and_figure_of_all_with_its_caption(run, targets):
    """`snakemake --report report.zip`: report.html lists each result with its rendered caption
    (the `var results = {...}` table the page is built from) and data/ holds the file itself."""
    snakemake(run, "--report", "report.zip")
    with zipfile.ZipFile(run / "report.zip") as archive:
        page = archive.read("report/report.html").decode()
        stored = {name: archive.read(name) for name in archive.namelist()}
    entries = json.loads(re.search(r"^\s*var results = (\{.*\});\s*$", page, re.MULTILINE)[1])
    # The paper's numbered tables (tableN.csv, any dataset) and every figure.
    tables_and_figures = [t for t in targets if re.search(r"(^|/)table\d+\.csv$|\.png$", t)]
    assert set(tables_and_figures) >= PAPER_OUTPUTS - {"results/i2s_accuracy.csv", "results/human_eval/index.html"}
    missing = sorted(set(tables_and_figures) - set(entries))
    assert not missing, f"tables and figures of `all` missing from the report: {missing}"
    captions = {rst.stem: plain_words(rst.read_text())[:6] for rst in (REPO / "workflow/report").glob("*.rst")}
    for target in [*tables_and_figures, *(t for t in PAPER_OUTPUTS if t in entries)]:
        entry = entries[target]
        words = plain_words(entry["caption"])
        assert len(words) >= 12, f"{target}: caption {entry['caption']!r}"
        assert any(words[:6] == first for first in captions.values()), f"{target}: caption not from workflow/report"
        assert stored[f"report/{entry['data_uri']}"] == (run / target).read_bytes(), target
    # Each table and figure has its own caption.
    firsts = [tuple(plain_words(entries[t]["caption"])[:6]) for t in tables_and_figures]
    assert len(set(firsts)) == len(firsts)


# ---------------------------------------------------------------- permissions
def test_every_result_is_readable_by_group_and_others_under_umask_022(run):
    """Issue 9: files written through the atomic writer get the umask's usual mode, not 0600."""
    private = [str(p.relative_to(run)) for p in (run / "results").rglob("*")
               if not p.is_symlink() and (p.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH)) != (stat.S_IRGRP | stat.S_IROTH)]
    assert not private, private
    closed = [str(p.relative_to(run)) for p in (run / "results").rglob("*")
              if p.is_dir() and (p.stat().st_mode & (stat.S_IXGRP | stat.S_IXOTH)) != (stat.S_IXGRP | stat.S_IXOTH)]
    assert not closed, closed
