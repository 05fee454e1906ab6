"""The released Sub-URMP as a source: scanning, pairing, ingesting, bad input; take dedupe; the contact sheet."""

import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from crossmodal import cli, manifests, store
from crossmodal.dataset import panels_sheet, suburmp, tracks, windows
from crossmodal.dataset.suburmp import ingest, summary
from crossmodal.dataset.suburmp import tracks as sub_tracks
from test_tracks import make_piece, noise, video_file  # noqa: F401  (video_file: a fixture)

SR_IN = 48000
#: (split folder, instrument folder, NN) -> number of pairs
RECORDINGS = {
    ("train", "violin", 0): 6,
    ("train", "violin", 1): 4,
    ("train", "sax", 0): 5,
    ("validation", "violin", 2): 3,
    ("validation", "sax", 1): 4,
}


def tone(freq, n, channels=2, amp=0.3):
    y = amp * np.sin(2 * np.pi * freq * np.arange(n) / SR_IN).astype(np.float32)
    return np.repeat(y[:, None], channels, axis=1)


def chunk_length(k):
    """0.5 s at 48 kHz, except every third chunk 10 samples short and every fourth 7 long."""
    return 24000 - 10 * (k % 3 == 1) + 7 * (k % 4 == 3)


def write_tree(root, recordings=RECORDINGS, image_size=(80, 60), skip=()):
    """A Sub-URMP tree: stereo 48 kHz chunks of slightly wrong lengths, 80x60 JPEGs whose red
    channel encodes the pair number and green the recording."""
    for (split, folder, nn), count in recordings.items():
        for sub in ("img", "chunk"):
            (root / sub / split / folder).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            stem = f"{folder}{nn:02d}_{500 + 100 * k}"
            if f"{stem}.jpg" not in skip:
                pixels = np.zeros((image_size[1], image_size[0], 3), np.uint8)
                pixels[..., 0], pixels[..., 1], pixels[..., 2] = 20 * k, 40 * (nn % 6), 200
                Image.fromarray(pixels).save(root / "img" / split / folder / f"{stem}.jpg", quality=95)
            if f"{stem}.wav" not in skip:
                freq = 220 * (1 + nn) + 20 * k + 10 * (folder != "violin")
                sf.write(str(root / "chunk" / split / folder / f"{stem}.wav"), tone(freq, chunk_length(k)), SR_IN,
                         subtype="PCM_16")
    return root


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "suburmp")


def ingest_all(table, out_root, fit="stretch", size=16):
    """Runs the per-track step for every track; returns the gathered windows manifest."""
    per_track = []
    for row in table.itertuples():
        frames, audio, wins, report = ingest.ingest_track(row.track_id, row.video_path, row.audio_path,
                                                          row.piece_number, 0.5, 44100, size, fit)
        out = out_root / row.track_id
        ingest.write_outputs(out, frames, audio, wins, report, out_root / "pieces" / f"{row.track_id}.csv")
        per_track.append(windows.read_track_windows(out / "windows.parquet"))
    return windows.gather(table, per_track)


# --- scanning -----------------------------------------------------------------------------------


def test_tracks_are_recordings_with_the_release_split(tree):
    table = sub_tracks.build_tracks(tree, ["sax", "violin", "cello"])
    manifests.to_table(table, "tracks")  # fits the schema
    assert list(table["track_id"]) == ["suburmp_sax00", "suburmp_violin00", "suburmp_violin01",
                                       "suburmp_sax01", "suburmp_violin02"]
    assert list(table["split"]) == ["train"] * 3 + ["test"] * 2
    row = table.set_index("track_id").loc["suburmp_violin00"]
    assert (row["piece"], row["piece_number"], row["part"], row["n_parts"]) == ("suburmp_violin00", 0, 1, 1)
    assert (row["instrument_code"], row["audio_sr"], row["audio_channels"]) == ("vn", SR_IN, 2)
    assert (row["video_width"], row["video_height"], row["fps"]) == (80, 60, 10.0)
    assert row["video_duration_s"] == pytest.approx(1.0)  # last window ends at 1000 ms
    assert pd.isna(row["notes_path"]) and pd.isna(row["f0_path"])
    assert table["take_id"].nunique() == len(table)


def test_instruments_not_kept_are_left_out(tree):
    table = sub_tracks.build_tracks(tree, ["violin", "cello"])
    assert set(table["instrument"]) == {"violin"}


def test_alias_folder_maps_to_the_project_name(tmp_path):
    root = write_tree(tmp_path / "s", {("train", "saxophone", 0): 2, ("validation", "violin", 1): 2})
    table = sub_tracks.build_tracks(root, ["sax", "violin"])
    assert list(table["instrument"]) == ["sax", "violin"]


def test_same_recording_number_in_both_splits_gets_split_in_its_id(tmp_path):
    root = write_tree(tmp_path / "s", {("train", "violin", 0): 2, ("validation", "violin", 0): 2})
    assert set(sub_tracks.build_tracks(root, ["violin"])["track_id"]) == {"suburmp_violin00_train",
                                                                          "suburmp_violin00_validation"}


def test_table2_counts_the_release_pairs(tree, tmp_path):
    from crossmodal.dataset import report

    wins = ingest_all(sub_tracks.build_tracks(tree, ["violin", "sax"]), tmp_path / "tracks")
    table = report.table2(wins).set_index("instrument")
    for instrument in ("sax", "violin"):
        for split, side in (("train", "train"), ("validation", "test")):
            expected = sum(n for (sp, folder, _), n in RECORDINGS.items() if sp == split and folder == instrument)
            assert table.loc[instrument, side] == expected
    # the caption's numbers: the release's totals, and the paper's inconsistent printed test row
    assert sum(t for t, _ in report.RELEASE_TABLE2.values()) == 71230
    assert sum(v for _, v in report.RELEASE_TABLE2.values()) == 9575
    release_test = {k: v for k, (_, v) in report.RELEASE_TABLE2.items()}
    assert sum({**release_test, **report.PAPER_TABLE2_TEST}.values()) == 8915


# --- bad input ----------------------------------------------------------------------------------


def test_config_needs_the_root_and_refuses_a_split_file_for_suburmp():
    from crossmodal.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="data.suburmp_root"):
        load_config(overrides={"data.source": "suburmp"})
    with pytest.raises(ConfigError, match="split.file"):
        load_config(overrides={"data.source": "suburmp", "data.suburmp_root": "/x", "split.file": "s.csv"})
    config = load_config(overrides={"data.source": "suburmp", "data.suburmp_root": "/x"})
    assert (config["data"]["suburmp_unpaired"], config["data"]["dedupe_takes"]) == ("error", False)


def test_two_spellings_of_one_recording_number_are_refused(tmp_path):
    root = write_tree(tmp_path / "s", {("train", "violin", 0): 2, ("validation", "violin", 1): 2})
    (root / "img/train/violin/violin00_500.jpg").rename(root / "img/train/violin/vn00_500.jpg")
    (root / "chunk/train/violin/violin00_500.wav").rename(root / "chunk/train/violin/vn00_500.wav")
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"share the number 00"):
        sub_tracks.build_tracks(root, ["violin"])


@pytest.mark.parametrize("missing", ["img", "chunk"])
def test_missing_img_or_chunk_folder_is_refused(tree, missing):
    import shutil

    shutil.rmtree(tree / missing)
    with pytest.raises(suburmp.SubURMPLayoutError, match=f"no {missing}/ folder"):
        sub_tracks.build_tracks(tree, ["violin", "sax"])


def test_image_without_chunk_is_refused_naming_it(tmp_path):
    root = write_tree(tmp_path / "s", skip={"violin01_700.wav"})
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"violin01_700\.jpg: image without its chunk"):
        sub_tracks.build_tracks(root, ["violin", "sax"])


def test_chunk_without_image_is_refused_naming_it(tmp_path):
    root = write_tree(tmp_path / "s", skip={"sax01_600.jpg"})
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"sax01_600\.wav: chunk without its image"):
        sub_tracks.build_tracks(root, ["violin", "sax"])


def test_unpaired_files_are_skipped_and_counted_when_asked(tmp_path, caplog):
    root = write_tree(tmp_path / "s", skip={"violin01_700.wav", "sax01_600.jpg", "sax01_700.jpg"})
    with caplog.at_level(logging.WARNING):
        recordings, counts = suburmp.scan_release(root, ["violin", "sax"], unpaired="skip")
    assert (len(counts.images_without_chunk), len(counts.chunks_without_image)) == (1, 2)
    assert "skipped 3 unpaired file(s)" in caplog.text
    by_name = {r.name: r for r in recordings}
    assert by_name["violin01"].ms == [500, 600, 800]
    assert by_name["sax01"].ms == [500, 800]
    # the per-track job skips the same files
    frames, audio, wins, _ = ingest.ingest_track("suburmp_violin01", root / "img/train/violin",
                                                 root / "chunk/train/violin", 1, 0.5, 44100, 8,
                                                 "stretch", unpaired="skip")
    assert list(wins["start_s"]) == pytest.approx([0.0, 0.1, 0.3])


def test_unknown_instrument_folder_is_refused(tree):
    (tree / "img" / "train" / "banjo").mkdir()
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"banjo: unknown instrument folder"):
        sub_tracks.build_tracks(tree, ["violin", "sax"])


def test_empty_split_is_refused(tmp_path):
    root = write_tree(tmp_path / "s", {("train", "violin", 0): 2})
    for sub in ("img", "chunk"):
        (root / sub / "validation").mkdir()
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"validation split holds no pair"):
        sub_tracks.build_tracks(root, ["violin"])


def test_stray_file_is_refused_but_hidden_files_are_skipped(tree):
    (tree / "img" / "train" / "sax" / "._sax00_500.jpg").write_bytes(b"\0")
    assert len(sub_tracks.build_tracks(tree, ["violin", "sax"])) == 5
    (tree / "chunk" / "train" / "sax" / "notes.txt").write_text("x")
    with pytest.raises(suburmp.SubURMPLayoutError, match=r"notes\.txt: not a Sub-URMP pair file"):
        sub_tracks.build_tracks(tree, ["violin", "sax"])


@pytest.mark.parametrize("bad", ["img/train/violin/violin00_700.jpg", "chunk/train/violin/violin00_700.wav"])
def test_unreadable_file_stops_the_track_naming_it_and_writes_nothing(tree, tmp_path, bad):
    (tree / bad).write_bytes(b"not a media file")
    args = cli.build_parser("ingest-suburmp").parse_args([
        "ingest-suburmp", "--track-id", "suburmp_violin00", "--images", str(tree / "img/train/violin"),
        "--chunks", str(tree / "chunk/train/violin"), "--number", "0", "--out-dir", str(tmp_path / "out"),
        "--summary", str(tmp_path / "summary.csv")])
    with pytest.raises(ValueError, match=bad.split("/")[-1]):
        args._run(args)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "summary.csv").exists()


# --- ingesting ----------------------------------------------------------------------------------


def test_ingest_writes_the_urmp_path_arrays_from_stereo_48k_chunks_of_wrong_lengths(tree, tmp_path):
    table = sub_tracks.build_tracks(tree, ["violin", "sax"])
    wins = ingest_all(table, tmp_path / "tracks", size=16)
    manifests.to_table(wins, "windows")
    assert wins.groupby("track_id", sort=False).size().to_dict() == {
        "suburmp_sax00": 5, "suburmp_violin00": 6, "suburmp_violin01": 4, "suburmp_sax01": 4, "suburmp_violin02": 3}
    assert set(wins.loc[wins["instrument"] == "violin", "label"]) == {12}
    v0 = wins[wins["track_id"] == "suburmp_violin00"]
    assert list(v0["start_s"]) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    frames = store.load_frames(v0)
    assert frames.shape == (6, 16, 16, 3)
    # the red channel says which pair (JPEG error only: the image is uniform)
    assert np.abs(frames[..., 0].mean(axis=(1, 2)) - 20 * np.arange(6)).max() < 3
    audio = store.load_window_audio(v0)
    assert audio.shape == (6, 22050)
    # pair 2 is a 240 Hz tone: its spectrum peaks there after downmix and resampling
    spectrum = np.abs(np.fft.rfft(audio[2]))
    assert np.argmax(spectrum) * 44100 / 22050 == pytest.approx(220 + 40, abs=2)
    # chunk 1 was 10 samples short: its end is zero-padded
    assert np.all(audio[1][-8:] == 0) and np.abs(audio[0][-8:]).max() > 0
    report = pd.read_csv(tmp_path / "tracks" / "pieces" / "suburmp_violin00.csv").iloc[0]
    assert (report["chunks"], report["downmixed"], report["resampled"], report["padded"], report["trimmed"]) == \
        (6, 6, 6, 2, 1)
    assert str(report["rates_hz"]) == "48000"


def test_images_of_another_size_follow_the_panel_fit(tmp_path):
    root = write_tree(tmp_path / "s", {("train", "violin", 0): 1, ("validation", "violin", 1): 1},
                      image_size=(40, 20))
    for fit, black_rows in (("stretch", 0), ("crop", 0), ("pad", 4)):
        frames, *_ = ingest.ingest_track("suburmp_violin00", root / "img/train/violin", root / "chunk/train/violin",
                                         0, 0.5, 44100, 16, fit)
        assert frames.shape == (1, 16, 16, 3)
        dark = (frames[0].max(axis=(1, 2)) < 5).sum() if fit == "pad" else 0
        # pad: 40x20 -> 16x8 centred, 4 black rows above and below; the others fill the square
        assert dark == 2 * black_rows


def test_summary_totals_the_tracks(tree, tmp_path):
    table = sub_tracks.build_tracks(tree, ["violin", "sax"])
    ingest_all(table, tmp_path / "tracks")
    rows = [pd.read_csv(tmp_path / "tracks" / "pieces" / f"{t}.csv") for t in table["track_id"]]
    total = summary.summarise(rows).iloc[-1]
    assert total["track_id"] == "total"
    assert total["chunks"] == sum(RECORDINGS.values()) == 22
    assert total["padded"] == sum(sum(chunk_length(k) < 24000 for k in range(n)) for n in RECORDINGS.values())
    assert total["channels"] == "2"


# --- dedupe takes ---------------------------------------------------------------------------------


def test_dedupe_keeps_the_first_track_of_each_take():
    table = pd.DataFrame({"track_id": ["24_P_3_va", "25_P_3_va", "24_P_1_vn", "25_P_4_sax"],
                          "take_id": ["take-a", "take-a", "take-b", "take-c"]})
    assert list(tracks.dedupe_takes(table)["track_id"]) == ["24_P_3_va", "24_P_1_vn", "25_P_4_sax"]
    assert list(tracks.dedupe_takes(table.iloc[[0, 2, 3]])["track_id"]) == ["24_P_3_va", "24_P_1_vn", "25_P_4_sax"]


def test_dedupe_takes_on_a_urmp_tree_drops_the_reused_viola(tmp_path, video_file):  # noqa: F811 (fixture)
    viola = noise(7)
    make_piece(tmp_path, video_file, "24_Pirates_vn_vn_va_vc", audio={3: viola})
    make_piece(tmp_path, video_file, "25_Pirates_vn_vn_va_sax", audio={3: viola})
    kept = tracks.build_tracks(tmp_path, ["violin", "viola", "cello", "sax"], dedupe=True)
    assert "24_Pirates_3_va" in set(kept["track_id"]) and "25_Pirates_3_va" not in set(kept["track_id"])
    assert len(kept) == 7 and kept["take_id"].is_unique
    assert len(tracks.build_tracks(tmp_path, ["violin", "viola", "cello", "sax"])) == 8  # default: as the paper


def test_tracks_step_dedupe_flag(tmp_path, monkeypatch):
    """--dedupe-takes reaches build_tracks and drops the repeated take before the split."""
    def fake_scan(root, instruments, pieces, on_incomplete):
        return pd.DataFrame({"track_id": ["a", "b", "c"], "instrument": ["viola"] * 3, "take_id": ["t1", "t1", "t2"],
                             "video_duration_s": [4.0] * 3, "audio_duration_s": [4.0] * 3})

    monkeypatch.setattr(tracks, "scan_tree", fake_scan)
    kept = tracks.build_tracks(tmp_path, ["viola"], dedupe=True)
    assert list(kept["track_id"]) == ["a", "c"]
    assert sorted(kept["split"]) == ["test", "train"]
    assert len(tracks.build_tracks(tmp_path, ["viola"], dedupe=False)) == 3


# --- contact sheet ------------------------------------------------------------------------------


def test_first_voiced_window_skips_the_silent_start():
    audio = np.zeros(10 * 100, np.float32)
    audio[430:] = 0.05  # -26 dBFS from sample 430
    starts = np.arange(0, 900, 100)
    assert panels_sheet.first_voiced(audio, starts, 100)[0] == 4  # window [400, 500) is 70% voiced
    assert panels_sheet.first_voiced(audio, starts, 100, voiced_db=-10)[0] == 5  # the loudest when none
    assert panels_sheet.first_voiced(audio, starts[:2], 100)[0] == 0


def test_contact_sheet_has_one_labelled_cell_per_track(tree, tmp_path):
    table = sub_tracks.build_tracks(tree, ["violin", "sax"])
    wins = ingest_all(table, tmp_path / "tracks")
    cells = panels_sheet.sheet_cells(wins)
    assert list(cells["track_id"]) == list(table["track_id"])
    fig = panels_sheet.draw_sheet(cells)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == len(table) and all(ax.images for ax in titled)
    for ax, row in zip(titled, table.itertuples()):
        assert row.track_id in ax.get_title() and row.instrument in ax.get_title()
    panels_sheet.plot_sheet(cells, tmp_path / "panels.png")
    assert Image.open(tmp_path / "panels.png").size[0] > 200
