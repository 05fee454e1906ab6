"""The pitch steps from the shell on the evaluation tests' tiny world: window-pitch, pitch-judge
(image and sound), eval-pitch, and Fig. 10's pitch captions (wiring and outputs; the networks are
untrained or trained for one epoch)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from crossmodal import cli, manifests
from crossmodal.pitch import agreement
from test_eval_steps import common, world  # noqa: F401  (the module-scoped fixture)


@pytest.fixture(scope="module")
def pitched(world):  # noqa: F811
    """The world plus F0 files (pitch rising one octave per second, silent in each track's first
    0.3 s), a tracks table naming them, pitch.parquet and the three kinds of judge."""
    windows = manifests.read(world / "windows.parquet", "windows")
    paths = []
    for track in windows["track_id"].unique():
        times = 0.023 + 0.01 * np.arange(160)
        f0 = np.where(times < 0.3, 0.0, 220.0 * 2 ** times)
        path = world / f"F0s_{track}.txt"
        path.write_text("".join(f"{t:.3f}\t{f:.3f}\n" for t, f in zip(times, f0)))
        paths.append(str(path))
    tracks = pa.table({"track_id": list(windows["track_id"].unique()), "f0_path": paths})
    pq.write_table(tracks, world / "tracks.parquet")
    assert cli.main(["window-pitch", "--windows", str(world / "windows.parquet"), "--tracks",
                     str(world / "tracks.parquet"), "--out", str(world / "pitch.parquet")]) == 0
    judge = ["pitch-judge", *common(world)[:2], "--pitch", str(world / "pitch.parquet"), "--epochs", "1",
             "--width", "4", "--batch-size", "8", "--device", "cpu"]
    out = world / "pitch_judges" / "image" / "model.pt"
    assert cli.main([*judge, "--kind", "image", "--instruments", "cello", "flute", "--target", "frame",
                     "--out", str(out)]) == 0
    out = world / "pitch_judges" / "sound" / "model.pt"
    assert cli.main([*judge, "--kind", "sound", "--lms", str(world / "lms.npy"), "--out", str(out)]) == 0
    return world


def test_window_pitch_step_writes_one_row_per_window_from_the_f0_files(pitched):
    pitch = pd.read_parquet(pitched / "pitch.parquet")
    windows = manifests.read(pitched / "windows.parquet", "windows")
    assert pitch["window_id"].tolist() == windows["window_id"].tolist()
    assert set(pitch["f0_source"]) == {"annotation"}
    first = pitch[windows["window_index"] == 0].iloc[0]    # 0.0-0.5 s: 0.3 s silent, 0.2 s voiced
    assert first["voiced_fraction"] == pytest.approx(20 / 48, abs=0.03)
    later = pitch[windows["window_index"] == 5]            # 0.5-1.0 s: the median of 220 * 2^t
    assert np.allclose(later["f0_hz"], 220 * 2 ** 0.745, rtol=0.01)
    # the F0 at each window's image: the F0 frame nearest frame_time_s, null while silent
    frame_times = windows["frame_time_s"].to_numpy()
    voiced = frame_times >= 0.31
    assert np.allclose(pitch["frame_f0_hz"][voiced], 220 * 2 ** (0.023 + 0.01 * np.round((frame_times[voiced] - 0.023) / 0.01)))
    assert pitch["frame_f0_hz"][frame_times < 0.29].isna().all()


def test_pitch_judge_refuses_an_image_judge_without_instruments_or_with_one_it_has_no_frames_of(pitched, caplog):
    argv = ["pitch-judge", "--kind", "image", *common(pitched)[:2], "--pitch", str(pitched / "pitch.parquet"),
            "--out", str(pitched / "x" / "model.pt")]
    assert cli.main(argv) == 1
    assert "needs --instruments" in caplog.text
    assert cli.main([*argv, "--instruments", "cello", "tuba"]) == 1
    assert "no voiced train window of ['tuba']" in caplog.text
    assert not (pitched / "x" / "model.pt").exists()


def test_the_image_judge_keeps_its_instruments_and_target(pitched):
    from crossmodal.pitch.judges import PitchJudge

    judge = PitchJudge(pitched / "pitch_judges" / "image" / "model.pt")
    assert judge.instruments == ["cello", "flute"] and judge.target == "frame" and judge.column == "frame_f0_hz"
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    assert judge(frames, "cello").shape == (2,)
    with pytest.raises(ValueError, match="not 'tuba'"):
        judge(frames, "tuba")
    with pytest.raises(ValueError, match="not None"):  # two scales: which one must be said
        judge(frames)
    sound = PitchJudge(pitched / "pitch_judges" / "sound" / "model.pt")
    assert sound.target == "window" and sound.column == "f0_hz"


def test_eval_pitch_writes_a_row_per_pose_model_s2i_c_instrument_and_i2s(pitched, tmp_path):
    gan, judges = pitched / "gan", pitched / "pitch_judges"
    argv = ["eval-pitch", *common(pitched), "--pitch", str(pitched / "pitch.parquet"),
            "--sound-encodings", str(pitched / "sound_encodings.npy"),
            "--pose", "cello", str(gan / "pose_s2i_cello" / "model.pt"),
            "--pose", "flute", str(gan / "pose_s2i_flute" / "model.pt"),
            "--image-judge", str(judges / "image" / "model.pt"),
            "--s2i-c", str(gan / "s2i_c" / "model.pt"), "--i2s", str(gan / "i2s" / "model.pt"),
            "--image-encodings", str(pitched / "image_encodings.npy"), "--sound-judge", str(judges / "sound" / "model.pt"),
            "--lms", str(pitched / "lms.npy"), "--n-boot", "50", "--out", str(tmp_path / "pitch_agreement.csv")]
    assert cli.main(argv) == 0
    table = pd.read_csv(tmp_path / "pitch_agreement.csv")
    assert list(table.columns) == list(agreement.COLUMNS)
    assert list(zip(table.model, table.instrument)) == [
        ("pose S2I", "cello"), ("pose S2I", "flute"), ("S2I-C", "cello"), ("S2I-C", "flute"),
        ("I2S", "all"), ("I2S", "cello"), ("I2S", "flute")]
    # voiced test windows: 12 per test track, less the first (voiced 0.2 s of 0.5 s), one track each;
    # the image judge (target frame) also leaves out the next two, whose image (at 0.1 s, 0.2 s) is silent
    assert table.set_index(["model", "instrument"]).loc[("pose S2I", "cello"), "n"] == 9
    assert table.set_index(["model", "instrument"]).loc[("I2S", "all"), "n"] == 22
    assert table["spearman"].between(-1, 1).all() and table["real_spearman"].between(-1, 1).all()


def test_fig10_captions_each_generated_image_with_its_pitch(pitched, tmp_path):
    gan, judges = pitched / "gan", pitched / "pitch_judges"
    base = ["eval-pose", *common(pitched), "--encodings", str(pitched / "sound_encodings.npy"),
            "--gan", "cello", str(gan / "pose_s2i_cello" / "model.pt"), "--length", "4", "--step", "2"]
    assert cli.main([*base, "--out", str(tmp_path / "plain.png")]) == 0
    assert cli.main([*base, "--pitch", str(pitched / "pitch.parquet"), "--pitch-judge",
                     str(judges / "image" / "model.pt"), "--out", str(tmp_path / "captioned.png")]) == 0
    assert Image.open(tmp_path / "captioned.png").size[1] > Image.open(tmp_path / "plain.png").size[1]
