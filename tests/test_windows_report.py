"""Gathering per-track windows into the windows manifest, and Table 2 / Fig. 6 from it."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from crossmodal import cli, manifests, urmp
from crossmodal.dataset import report as dataset_report
from crossmodal.dataset import windows

TRACKS = [  # track_id, instrument, take, split, number of windows
    ("24_Pirates_3_va", "viola", "take-a", "train", 4),
    ("24_Pirates_4_vc", "cello", "take-b", "test", 3),
    ("25_Pirates_3_va", "viola", "take-a", "train", 4),
    ("25_Pirates_4_sax", "sax", "take-c", "train", 2),
]


def tracks_table():
    rows = []
    for track_id, instrument, take, split, _ in TRACKS:
        piece = "24_Pirates_vn_vn_va_vc" if track_id.startswith("24") else "25_Pirates_vn_vn_va_sax"
        part = int(track_id.split("_")[2])
        rows.append({
            "track_id": track_id, "piece": piece, "piece_number": int(track_id[:2]), "part": part,
            "n_parts": 4, "instrument": instrument, "instrument_code": urmp.INSTRUMENT_CODES[instrument],
            "video_path": f"{piece}/Vid.mp4", "audio_path": f"{piece}/AuSep.wav", "notes_path": None,
            "f0_path": None, "video_duration_s": 1.0, "audio_duration_s": 1.0, "fps": 29.97,
            "video_width": 64, "video_height": 16, "audio_sr": 48000, "audio_channels": 1,
            "audio_sha256": take * 8, "take_id": take, "split": split,
        })
    return pd.DataFrame(rows)


def write_track(folder, track_id, n, value):
    """A track's outputs as extract writes them; every image is filled with ``value``."""
    folder.mkdir(parents=True)
    np.save(folder / "frames.npy", np.full((n, 8, 8, 3), value, np.uint8))
    np.save(folder / "audio.npy", np.zeros(4410 * (n - 1) + 22050, np.float32))
    manifests.write(pd.DataFrame({
        "track_id": track_id, "window_index": np.arange(n, dtype=np.int32), "start_s": np.arange(n) / 10,
        "frame_index": np.arange(n, dtype=np.int32) * 3, "frame_time_s": np.arange(n) * 0.1001,
        "audio_start": np.arange(n) * 4410, "audio_stop": np.arange(n) * 4410 + 22050,
    }), folder / "windows.parquet", "track_windows")
    return folder / "windows.parquet"


@pytest.fixture
def track_files(tmp_path):
    """windows.parquet of every track, listed in reverse order (the step must not rely on order)."""
    paths = [write_track(tmp_path / "tracks" / t, t, n, 40 * (i + 1)) for i, (t, *_, n) in enumerate(TRACKS)]
    tracks_path = tmp_path / "tracks.parquet"
    manifests.write(tracks_table(), tracks_path, "tracks")
    return tracks_path, paths[::-1]


def test_windows_follow_track_order_with_labels_split_and_array_paths(tmp_path, track_files):
    tracks_path, paths = track_files
    out = tmp_path / "windows.parquet"
    assert cli.main(["windows", "--tracks", str(tracks_path), "--out", str(out), *map(str, paths)]) == 0
    w = manifests.read(out, "windows")
    assert list(w["window_id"]) == list(range(13))
    assert list(w.drop_duplicates("track_id")["track_id"]) == [t[0] for t in TRACKS]
    assert list(w["window_index"][:4]) == [0, 1, 2, 3]
    cello = w[w["track_id"] == "24_Pirates_4_vc"]
    assert set(cello["label"]) == {urmp.INSTRUMENT_NAMES.index("cello")} and set(cello["split"]) == {"test"}
    assert set(cello["piece"]) == {"24_Pirates_vn_vn_va_vc"} and set(cello["take_id"]) == {"take-b"}
    assert cello["frames_path"].iloc[0] == str(tmp_path / "tracks" / "24_Pirates_4_vc" / "frames.npy")
    assert cello["audio_path"].iloc[0].endswith("24_Pirates_4_vc/audio.npy")
    # Row window_index of frames_path is the window's image.
    row = w.iloc[5]
    assert np.load(row["frames_path"])[row["window_index"]][0, 0, 0] == 80


def test_windows_refuse_a_track_of_the_table_without_windows(tmp_path, track_files):
    tracks_path, paths = track_files
    with pytest.raises(windows.WindowsError, match="25_Pirates_4_sax"):
        windows.gather(manifests.read(tracks_path, "tracks"),
                       [windows.read_track_windows(p) for p in paths if "sax" not in str(p)])


def test_windows_refuse_a_track_missing_from_the_table(tmp_path, track_files):
    tracks_path, paths = track_files
    extra = write_track(tmp_path / "tracks" / "01_Jupiter_1_vn", "01_Jupiter_1_vn", 2, 9)
    per_track = [windows.read_track_windows(p) for p in [*paths, extra]]
    with pytest.raises(windows.WindowsError, match="01_Jupiter_1_vn.*not in the tracks manifest"):
        windows.gather(manifests.read(tracks_path, "tracks"), per_track, [str(p) for p in [*paths, extra]])


def test_windows_refuse_frames_that_do_not_match_their_windows(tmp_path, track_files):
    _, paths = track_files
    np.save(paths[0].parent / "frames.npy", np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(windows.WindowsError, match="frames.npy.*1 images for the 2 windows"):
        windows.read_track_windows(paths[0])


def test_windows_refuse_missing_audio_array(tmp_path, track_files):
    _, paths = track_files
    (paths[1].parent / "audio.npy").unlink()
    with pytest.raises(windows.WindowsError, match="audio.npy.*missing"):
        windows.read_track_windows(paths[1])


def test_table2_counts_pairs_per_instrument_and_split_with_a_total_row(tmp_path, track_files):
    tracks_path, paths = track_files
    w = windows.gather(manifests.read(tracks_path, "tracks"), [windows.read_track_windows(p) for p in paths])
    table = dataset_report.table2(w)
    assert list(table.columns) == ["instrument", "train", "test", "total"]
    assert table.to_dict("records") == [
        {"instrument": "cello", "train": 0, "test": 3, "total": 3},
        {"instrument": "sax", "train": 2, "test": 0, "total": 2},
        {"instrument": "viola", "train": 8, "test": 0, "total": 8},
        {"instrument": "total", "train": 10, "test": 3, "total": 13},
    ]


def test_fig6_example_is_one_window_per_instrument_from_its_first_track(tmp_path, track_files):
    tracks_path, paths = track_files
    w = windows.gather(manifests.read(tracks_path, "tracks"), [windows.read_track_windows(p) for p in paths])
    ex = dataset_report.example_windows(w)
    assert list(ex["instrument"]) == ["cello", "sax", "viola"]
    assert list(ex["track_id"]) == ["24_Pirates_4_vc", "25_Pirates_4_sax", "24_Pirates_3_va"]
    assert list(ex["window_index"]) == [1, 1, 2]  # the middle window


def test_dataset_report_cli_writes_table2_csv_and_fig6_png(tmp_path, track_files):
    tracks_path, paths = track_files
    wpath = tmp_path / "windows.parquet"
    assert cli.main(["windows", "--tracks", str(tracks_path), "--out", str(wpath), *map(str, paths)]) == 0
    table2, fig6 = tmp_path / "results" / "table2.csv", tmp_path / "results" / "figures" / "fig6.png"
    assert cli.main(["dataset-report", "--windows", str(wpath), "--table2", str(table2), "--fig6", str(fig6)]) == 0
    csv = pd.read_csv(table2)
    assert csv.iloc[-1].to_dict() == {"instrument": "total", "train": 10, "test": 3, "total": 13}
    with Image.open(fig6) as img:
        assert img.format == "PNG" and img.width > img.height > 100
    assert sorted(p.name for p in fig6.parent.iterdir()) == ["fig6.png"]  # no temp file left
