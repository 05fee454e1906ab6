"""Scanning a URMP tree into tracks: probing, quirks, incomplete pieces, takes and the split."""

import logging
import random
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from crossmodal import cli, manifests, media, urmp
from crossmodal.dataset import tracks

ALL = list(urmp.INSTRUMENT_NAMES)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """A 1.5 s 29.97 fps H.264 video, 160x36, copied into every piece folder."""
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x36:rate=30000/1001:duration=1.5", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def noise(seed, seconds=1.5, sr=48000, channels=1):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32)


def make_piece(root, video_file, dir_name, file_codes=None, audio=None, omit=(), sr=48000):
    """A URMP piece folder: video, AuSep and Notes per part. ``audio`` maps part -> samples or
    (samples, sr);
    ``file_codes`` are the codes the files use (default the folder's); ``omit`` lists files to leave out."""
    piece = urmp.parse_piece_dir(dir_name)
    folder = root / dir_name
    folder.mkdir(parents=True)
    if piece.video_name() not in omit:
        shutil.copy(video_file, folder / piece.video_name())
    codes = file_codes or piece.codes
    for part, code in enumerate(codes, start=1):
        name = piece.part_file_name("AuSep", part, abbr=code)
        if name not in omit:
            samples = (audio or {}).get(part)
            if samples is None:
                samples = noise([piece.number, part])
            samples, rate = samples if isinstance(samples, tuple) else (samples, sr)
            sf.write(str(folder / name), samples, rate, subtype="PCM_24")
        (folder / piece.part_file_name("Notes", part, abbr=code)).write_text("0.5 440.0 0.25\n")
    return folder


def scan(root, instruments=ALL, **kw):
    return tracks.build_tracks(root, instruments, **kw)


# --- scanning ----------------------------------------------------------------------------------

def test_one_row_per_player_with_probed_media_fields(tmp_path, video_file):
    stereo = noise(1, seconds=1.25, sr=44100, channels=2)
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", audio={2: (stereo, 44100)})
    table = scan(tmp_path)
    manifests.to_table(table, "tracks")  # fits the schema
    assert list(table["track_id"]) == ["01_Jupiter_1_vn", "01_Jupiter_2_vc"]
    row = table.set_index("track_id").loc["01_Jupiter_2_vc"]
    assert (row["part"], row["n_parts"], row["instrument"]) == (2, 2, "cello")
    assert (row["video_width"], row["video_height"]) == (160, 36)
    assert row["fps"] == pytest.approx(30000 / 1001)
    assert row["video_duration_s"] == pytest.approx(1.5, abs=0.04)
    assert (row["audio_sr"], row["audio_channels"]) == (44100, 2)
    assert row["audio_duration_s"] == pytest.approx(1.25)
    assert row["notes_path"].endswith("Notes_2_vc_01_Jupiter.txt") and row["f0_path"] is None


def test_surprise_part_3_is_a_trombone_found_by_its_tpt_file_names(tmp_path, video_file):
    make_piece(tmp_path, video_file, "15_Surprise_tpt_tpt_tbn", file_codes=("tpt", "tpt", "tpt"))
    table = scan(tmp_path).set_index("track_id")
    assert table.loc["15_Surprise_3_tbn", "instrument"] == "trombone"
    assert table.loc["15_Surprise_3_tbn", "instrument_code"] == "tbn"
    assert table.loc["15_Surprise_3_tbn", "audio_path"].endswith("AuSep_3_tpt_15_Surprise.wav")
    assert list(table["instrument"]) == ["trumpet", "trumpet", "trombone"]


def test_supplementary_files_and_stray_entries_are_skipped(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc")
    (tmp_path / "Supplementary_Files").mkdir()
    (tmp_path / "Supplementary_Files" / "readme.txt").write_text("x")
    (tmp_path / "notes.txt").write_text("stray file")
    assert list(scan(tmp_path)["piece"].unique()) == ["01_Jupiter_vn_vc"]


def test_missing_ausep_is_an_error_naming_the_file(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", omit=("AuSep_2_vc_01_Jupiter.wav",))
    with pytest.raises(tracks.IncompletePieceError, match="AuSep_2_vc_01_Jupiter.wav"):
        scan(tmp_path)


def test_missing_video_is_an_error_naming_the_file(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", omit=("Vid_01_Jupiter_vn_vc.mp4",))
    with pytest.raises(tracks.IncompletePieceError, match="Vid_01_Jupiter_vn_vc.mp4"):
        scan(tmp_path)


def test_incomplete_piece_is_skipped_and_logged_on_request(tmp_path, video_file, caplog):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", omit=("AuSep_1_vn_01_Jupiter.wav",))
    make_piece(tmp_path, video_file, "02_Sonata_vn_vn")
    with caplog.at_level(logging.WARNING, logger="crossmodal.dataset.tracks"):
        table = scan(tmp_path, on_incomplete="skip")
    assert set(table["piece"]) == {"02_Sonata_vn_vn"}
    assert "01_Jupiter_vn_vc" in caplog.text and "AuSep_1_vn_01_Jupiter.wav" in caplog.text


def test_unknown_instrument_code_is_an_error_naming_the_folder(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc")
    (tmp_path / "03_Dance_vn_pno").mkdir()
    with pytest.raises(urmp.URMPLayoutError, match="03_Dance_vn_pno.*pno"):
        scan(tmp_path)


def test_tracks_of_instruments_not_kept_are_dropped(tmp_path, video_file):
    make_piece(tmp_path, video_file, "24_Pirates_vn_vn_va_vc")
    table = scan(tmp_path, instruments=["viola", "cello"])
    assert list(table["track_id"]) == ["24_Pirates_3_va", "24_Pirates_4_vc"]
    assert table["n_parts"].eq(4).all() and list(table["part"]) == [3, 4]


def test_missing_file_of_a_dropped_instrument_does_not_stop_the_scan(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", omit=("AuSep_1_vn_01_Jupiter.wav",))
    assert list(scan(tmp_path, instruments=["cello", "viola"])["track_id"]) == ["01_Jupiter_2_vc"]


def test_pieces_option_selects_folders_and_names_absent_ones(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc")
    make_piece(tmp_path, video_file, "02_Sonata_vn_vn")
    assert set(scan(tmp_path, pieces=["02_Sonata_vn_vn"])["piece"]) == {"02_Sonata_vn_vn"}
    with pytest.raises(urmp.URMPLayoutError, match="09_Nope_vn_vc"):
        scan(tmp_path, pieces=["09_Nope_vn_vc"])


def test_empty_audio_is_an_error_naming_it(tmp_path, video_file):
    make_piece(tmp_path, video_file, "01_Jupiter_vn_vc", audio={1: np.zeros((0, 1), np.float32)})
    with pytest.raises(media.MediaError, match="AuSep_1_vn_01_Jupiter.wav.*0 samples"):
        scan(tmp_path)


# --- takes -------------------------------------------------------------------------------------

def test_identical_audio_shares_a_take_and_its_split(tmp_path, video_file):
    viola = noise(7)
    make_piece(tmp_path, video_file, "24_Pirates_vn_vn_va_vc", audio={3: viola})
    make_piece(tmp_path, video_file, "25_Pirates_vn_vn_va_sax", audio={3: viola})
    table = scan(tmp_path).set_index("track_id")
    assert table.loc["24_Pirates_3_va", "take_id"] == table.loc["25_Pirates_3_va", "take_id"]
    assert table.loc["24_Pirates_3_va", "split"] == table.loc["25_Pirates_3_va", "split"]
    assert table["take_id"].nunique() == len(table) - 1


def test_same_samples_in_different_wav_encodings_are_one_take(tmp_path):
    y = (np.arange(4800) % 100 - 50).astype(np.int16)
    sf.write(str(tmp_path / "a.wav"), y, 48000, subtype="PCM_16")
    with sf.SoundFile(str(tmp_path / "c.wav"), "w", 48000, 1, subtype="PCM_16", format="WAVEX") as f:
        f.write(y)
    assert (tmp_path / "a.wav").read_bytes() != (tmp_path / "c.wav").read_bytes()
    hashes = {tracks.audio_sha256(tmp_path / n) for n in ("a.wav", "c.wav")}
    assert len(hashes) == 1
    sf.write(str(tmp_path / "d.wav"), y[::-1].copy(), 48000, subtype="PCM_16")
    assert tracks.audio_sha256(tmp_path / "d.wav") not in hashes


# --- the split (pure) --------------------------------------------------------------------------

def synthetic_tracks(takes_per_instrument, shared=()):
    """A track per take (durations 30..89 s), plus extra tracks reusing the takes in ``shared``."""
    rows, rng = [], random.Random(0)
    for instrument, n in takes_per_instrument.items():
        for i in range(n):
            rows.append({"track_id": f"{instrument}_{i}", "instrument": instrument,
                         "take_id": f"take-{instrument}-{i}", "duration_s": float(rng.randint(30, 89))})
    for j, take in enumerate(shared):
        src = next(r for r in rows if r["take_id"] == take)
        rows.append({**src, "track_id": f"{src['track_id']}_again{j}"})
    return pd.DataFrame(rows)


def test_split_keeps_every_take_on_one_side():
    t = synthetic_tracks({"violin": 12, "viola": 5}, shared=["take-viola-0", "take-violin-3", "take-violin-3"])
    split = tracks.split_by_take(t, 0.8, seed=0)
    assert split.groupby(t["take_id"]).nunique().eq(1).all()


def test_split_gives_each_instrument_about_the_test_fraction_of_its_duration():
    t = synthetic_tracks({"violin": 20, "cello": 10, "flute": 6})
    split = tracks.split_by_take(t, 0.8, seed=3)
    for instrument, group in t.groupby("instrument"):
        share = group["duration_s"][split[group.index] == "test"].sum() / group["duration_s"].sum()
        assert 0.12 < share < 0.28, (instrument, share)


def test_instrument_with_two_takes_has_one_on_each_side_and_single_take_goes_to_train():
    t = synthetic_tracks({"tuba": 2, "horn": 1, "oboe": 3})
    split = tracks.split_by_take(t, 0.8, seed=0)
    by = split.groupby(t["instrument"]).agg(set)
    assert by["tuba"] == {"train", "test"} and by["oboe"] == {"train", "test"}
    assert by["horn"] == {"train"}


def test_split_is_deterministic_by_seed_and_changes_with_it():
    t = synthetic_tracks({"violin": 15, "cello": 15, "viola": 15})
    first = tracks.split_by_take(t, 0.8, seed=1)
    assert first.equals(tracks.split_by_take(t, 0.8, seed=1))
    assert any(not first.equals(tracks.split_by_take(t, 0.8, seed=s)) for s in range(2, 6))


def test_train_fraction_one_puts_everything_in_train():
    t = synthetic_tracks({"violin": 4})
    assert set(tracks.split_by_take(t, 1.0, seed=0)) == {"train"}


# --- split file --------------------------------------------------------------------------------

def split_csv(tmp_path, rows):
    path = tmp_path / "split.csv"
    path.write_text("track_id,split\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def test_split_file_overrides_the_computed_split(tmp_path):
    t = synthetic_tracks({"violin": 3})
    path = split_csv(tmp_path, [("violin_0", "test"), ("violin_1", "train"), ("violin_2", "test")])
    assert list(tracks.read_split_file(path, t)) == ["test", "train", "test"]


def test_split_file_must_list_every_track(tmp_path):
    t = synthetic_tracks({"violin": 3})
    path = split_csv(tmp_path, [("violin_0", "test"), ("violin_1", "train")])
    with pytest.raises(tracks.SplitFileError, match="split.csv.*violin_2"):
        tracks.read_split_file(path, t)


def test_split_file_values_must_be_train_or_test(tmp_path):
    t = synthetic_tracks({"violin": 2})
    path = split_csv(tmp_path, [("violin_0", "test"), ("violin_1", "validation")])
    with pytest.raises(tracks.SplitFileError, match="row 3.*validation"):
        tracks.read_split_file(path, t)


def test_split_file_splitting_a_take_is_an_error_naming_it(tmp_path):
    t = synthetic_tracks({"viola": 2}, shared=["take-viola-1"])
    path = split_csv(tmp_path, [("viola_0", "train"), ("viola_1", "train"), ("viola_1_again0", "test")])
    with pytest.raises(tracks.SplitFileError, match="take-viola-1.*viola_1=train.*viola_1_again0=test"):
        tracks.read_split_file(path, t)


def test_split_file_missing_column_is_an_error(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("track,side\nviolin_0,train\n")
    with pytest.raises(tracks.SplitFileError, match="split.csv.*track_id"):
        tracks.read_split_file(path, synthetic_tracks({"violin": 1}))


# --- the step ----------------------------------------------------------------------------------

def test_cli_writes_a_tracks_manifest_with_the_split_file(tmp_path, video_file):
    root = tmp_path / "Dataset"
    make_piece(root, video_file, "15_Surprise_tpt_tpt_tbn", file_codes=("tpt", "tpt", "tpt"))
    csv = split_csv(tmp_path, [("15_Surprise_1_tpt", "train"), ("15_Surprise_2_tpt", "test"),
                               ("15_Surprise_3_tbn", "train")])
    out = tmp_path / "tracks.parquet"
    rc = cli.main(["tracks", "--root", str(root), "--out", str(out), "--instruments", "trumpet", "trombone",
                   "--on-incomplete", "error", "--train-fraction", "0.8", "--split-file", str(csv), "--seed", "0"])
    assert rc == 0
    table = manifests.read(out, "tracks")
    assert list(table["split"]) == ["train", "test", "train"]


def test_cli_without_split_file_balances_instruments(tmp_path, video_file):
    root = tmp_path / "Dataset"
    make_piece(root, video_file, "02_Sonata_vn_vn")
    make_piece(root, video_file, "05_Entertainer_vn_vn")
    out = tmp_path / "tracks.parquet"
    rc = cli.main(["tracks", "--root", str(root), "--out", str(out), "--instruments", "violin", "cello",
                   "--on-incomplete", "error", "--train-fraction", "0.8", "--seed", "0"])
    assert rc == 0
    table = manifests.read(out, "tracks")
    assert len(table) == 4 and set(table["split"]) == {"train", "test"}
    assert (table["split"] == "test").sum() == 1  # 4 equal takes: 1/4 is the closest to 20 %
