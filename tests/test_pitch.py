"""Pitch of windows, pitch judges and pitch agreement, on frames and sounds whose pitch is known."""

import numpy as np
import pandas as pd
import pytest
import torch

from crossmodal import manifests
from crossmodal.pitch import hz_to_semitones, note_name
from crossmodal.pitch import agreement, judges, windows as pitch_windows


# ---------------------------------------------------------------- window pitch
def _f0_file(tmp_path, f0):
    times = 0.023 + 0.01 * np.arange(len(f0))
    path = tmp_path / "F0s_1_vn_01_Jupiter.txt"
    path.write_text("".join(f"{t:.3f}\t{f:.3f}\n" for t, f in zip(times, f0)))
    return path


def test_window_pitch_is_the_median_of_voiced_frames_and_the_voiced_share(tmp_path):
    # 0.0-0.5 s: 440 Hz then silence; 0.5-1.0 s: silent; frames at 0.023 + 0.01 k.
    f0 = np.zeros(100)
    f0[:30] = 440.0
    f0[30:35] = 460.0
    times, values = pitch_windows.read_f0s(_f0_file(tmp_path, f0))
    hz, share = pitch_windows.window_pitch(times, values, np.array([0.0, 0.5]), np.array([0.5, 1.0]))
    assert hz[0] == 440.0
    assert share[0] == pytest.approx(35 / 48)  # frames at 0.023 .. 0.493
    assert np.isnan(hz[1]) and share[1] == 0.0  # no voiced frame: no pitch, never a filled-in value


def test_a_broken_f0_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "F0s_bad.txt"
    bad.write_text("0.023\tabc\n")
    with pytest.raises(pitch_windows.PitchError, match="F0s_bad.txt"):
        pitch_windows.read_f0s(bad)
    with pytest.raises(pitch_windows.PitchError, match="does not exist"):
        pitch_windows.read_f0s(tmp_path / "missing.txt")


def test_pitch_at_an_image_is_the_nearest_f0_frame_and_null_where_it_is_unvoiced():
    times = np.array([0.0, 0.01, 0.02, 0.03])
    f0 = np.array([0.0, 440.0, 450.0, 0.0])
    at = np.array([-1.0, 0.004, 0.006, 0.0149, 0.021, 0.026, 5.0])
    got = pitch_windows.pitch_at(times, f0, at)
    assert np.isnan(got[[0, 1, 5, 6]]).all()          # nearest frames 0, 0, 3, 3: unvoiced
    assert got[[2, 3, 4]].tolist() == [440.0, 440.0, 450.0]
    assert np.isnan(pitch_windows.pitch_at(np.zeros(0), np.zeros(0), at)).all()


def test_voiced_ids_keep_the_split_the_instruments_and_a_pitch_in_the_judged_column():
    windows = pd.DataFrame({"window_id": range(5), "split": ["train"] * 4 + ["test"],
                            "instrument": ["cello", "viola", "flute", "cello", "cello"]})
    pitch = pd.DataFrame({"f0_hz": [220.0, 220.0, 220.0, np.nan, 220.0], "voiced_fraction": [1, 1, 1, 0, 1.0],
                          "frame_f0_hz": [np.nan, 230.0, 230.0, np.nan, 230.0]})
    assert pitch_windows.voiced_ids(windows, pitch, "train").tolist() == [0, 1, 2]
    assert pitch_windows.voiced_ids(windows, pitch, "train", ["cello", "viola"]).tolist() == [0, 1]
    assert pitch_windows.voiced_ids(windows, pitch, "train", "cello", column="frame_f0_hz").tolist() == []
    assert pitch_windows.voiced_ids(windows, pitch, "test", "cello", column="frame_f0_hz").tolist() == [4]


def test_estimate_finds_a_tone_and_its_silence():
    sr = 44100
    t = np.arange(sr) / sr
    audio = np.where(t < 0.5, 0.3 * np.sin(2 * np.pi * 220.0 * t), 0.0).astype(np.float32)
    times, f0 = pitch_windows.estimate_f0(audio, sr)
    hz, share = pitch_windows.window_pitch(times, f0, np.array([0.1, 0.6]), np.array([0.4, 0.9]))
    assert hz[0] == pytest.approx(220.0, rel=0.01)
    assert share[0] == 1.0 and share[1] == 0.0 and np.isnan(hz[1])


def test_pitch_table_uses_the_f0_file_where_there_is_one_and_estimates_elsewhere(tmp_path):
    sr = 44100
    audio = (0.3 * np.sin(2 * np.pi * 330.0 * np.arange(sr) / sr)).astype(np.float32)
    np.save(tmp_path / "audio.npy", audio)
    rows = []
    for track in ("a", "b"):
        for k in range(3):
            rows.append({"window_id": len(rows), "track_id": track, "start_s": 0.1 * k, "frame_time_s": 0.1 * k + 0.02,
                         "audio_start": 4410 * k, "audio_stop": 4410 * k + 22050,
                         "audio_path": str(tmp_path / "audio.npy")})
    tracks = pd.DataFrame({"track_id": ["a", "b"], "f0_path": [str(_f0_file(tmp_path, np.full(100, 440.0))), None]})
    table = pitch_windows.pitch_table(pd.DataFrame(rows), tracks, sr)
    assert table["window_id"].tolist() == list(range(6))
    assert table["f0_source"].tolist() == ["annotation"] * 3 + ["yin"] * 3
    assert np.allclose(table["f0_hz"][:3], 440.0)
    assert np.allclose(table["f0_hz"][3:], 330.0, rtol=0.01)
    assert np.allclose(table["frame_f0_hz"][:3], 440.0) and np.allclose(table["frame_f0_hz"][3:], 330.0, rtol=0.01)
    manifests.write(table, tmp_path / "pitch.parquet", "window_pitch")  # fits its schema
    assert pitch_windows.read_pitch(tmp_path / "pitch.parquet", 6)["f0_hz"].notna().all()


def test_semitones_and_note_names():
    assert hz_to_semitones(np.array([440.0, 880.0, 0.0]))[:2].tolist() == [69.0, 81.0]
    assert np.isnan(hz_to_semitones(np.array([0.0]))[0])
    assert note_name(60.2) == "C4" and note_name(np.nan) == "-"


# ---------------------------------------------------------------- judges and agreement
def _frames(semitones: np.ndarray, rng) -> np.ndarray:
    """A player whose hand (a bright block) sits higher the higher the pitch, on a noisy body."""
    images = rng.integers(0, 60, size=(len(semitones), 64, 64, 3), dtype=np.uint8)
    rows = np.round(np.interp(semitones, [48, 84], [52, 4])).astype(int)
    for image, row in zip(images, rows):
        image[row:row + 8, 20:44] = 230
    return images


def _lms(semitones: np.ndarray, rng) -> np.ndarray:
    """LMS (dB) with a harmonic band whose mel row rises with the pitch."""
    lms = rng.normal(-60.0, 3.0, size=(len(semitones), 128, 44)).astype(np.float32)
    rows = np.round(np.interp(semitones, [48, 84], [20, 100])).astype(int)
    for x, row in zip(lms, rows):
        x[row:row + 3] = -10.0
    return lms


@pytest.fixture(scope="module")
def image_judge(tmp_path_factory):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    pitch = rng.uniform(48, 84, 240)
    net, extra, run = judges.train_judge("image", _frames(pitch, rng), pitch, tmp_path_factory.mktemp("judge"),
                                         epochs=12, batch_size=32, learning_rate=2e-3, width=8, seed=0, device="cpu")
    path = run.out_dir / "model.pt"
    run.save_final(path, extra)
    return judges.PitchJudge(path)


def test_image_judge_reads_pitch_and_a_perfect_generator_matches_the_real_ceiling(image_judge):
    rng = np.random.default_rng(1)
    true = rng.uniform(48, 84, 120)
    groups = np.repeat(np.arange(12), 10)
    real = image_judge(_frames(true, rng))
    perfect = image_judge(_frames(true, rng))           # draws the right pose, other noise
    ignores = image_judge(_frames(rng.uniform(48, 84, 120), rng))  # pose from its noise only
    row_perfect = agreement.agreement_row("pose S2I", "violin", perfect, true, real, groups, n_boot=200)
    row_ignores = agreement.agreement_row("pose S2I", "violin", ignores, true, real, groups, n_boot=200)
    assert row_perfect["real_spearman"] > 0.9
    assert row_perfect["spearman"] == pytest.approx(row_perfect["real_spearman"], abs=0.05)
    assert row_perfect["spearman_ci_low"] < row_perfect["spearman"] < row_perfect["spearman_ci_high"]
    assert abs(row_perfect["shuffled_spearman"]) < 0.3
    assert abs(row_ignores["spearman"]) < 0.3
    constant = image_judge(np.repeat(_frames(np.array([60.0]), rng), 120, axis=0))
    assert agreement.agreement_row("x", "violin", constant, true, real, groups, n_boot=50)["spearman"] == 0.0
    assert image_judge.instruments == [""] and image_judge.target == "window"


def test_one_image_judge_reads_each_instrument_on_its_own_scale(tmp_path):
    """Two instruments whose hands sit alike for pitches an octave apart: one net, two scales."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(4)
    position = rng.uniform(48, 84, 240)
    groups = np.array(["cello", "violin"] * 120)
    pitch = np.where(groups == "cello", position - 12.0, position)   # same pose, an octave lower
    net, extra, run = judges.train_judge("image", _frames(position, rng), pitch, tmp_path, epochs=12, batch_size=32,
                                         learning_rate=2e-3, width=8, seed=0, device="cpu", groups=groups,
                                         target="frame")
    run.save_final(tmp_path / "model.pt", extra)
    judge = judges.PitchJudge(tmp_path / "model.pt")
    assert judge.instruments == ["cello", "violin"] and judge.column == "frame_f0_hz"
    frames = _frames(np.array([54.0, 66.0, 78.0]), rng)
    assert np.allclose(judge(frames, "violin") - judge(frames, "cello"), 12.0, atol=1.5)
    assert np.allclose(judge(frames, "violin"), [54.0, 66.0, 78.0], atol=4.0)
    with pytest.raises(ValueError, match="pitch judge target"):
        judges.train_judge("image", frames, np.zeros(3), tmp_path / "bad", epochs=1, batch_size=2,
                           learning_rate=1e-3, width=4, seed=0, device="cpu", target="median")


def test_sound_judge_reads_pitch_from_lms(tmp_path):
    torch.set_num_threads(1)
    rng = np.random.default_rng(2)
    pitch = rng.uniform(48, 84, 200)
    net, extra, run = judges.train_judge("sound", _lms(pitch, rng), pitch, tmp_path, epochs=6, batch_size=32,
                                         learning_rate=2e-3, width=4, seed=0, device="cpu")
    run.save_final(tmp_path / "model.pt", extra)
    judge = judges.PitchJudge(tmp_path / "model.pt")
    true = rng.uniform(48, 84, 60)
    from crossmodal.evaluation.stats import spearman
    assert spearman(judge(_lms(true, rng)), true) > 0.9
    with pytest.raises(ValueError, match="takes"):
        judge(np.zeros((2, 64, 44), np.float32))


def test_a_model_file_that_is_not_a_pitch_judge_is_refused(tmp_path):
    torch.save({"models": {}, "extra": {"kind": "s2i"}}, tmp_path / "gan.pt")
    with pytest.raises(ValueError, match="not a pitch judge"):
        judges.PitchJudge(tmp_path / "gan.pt")


def test_agreement_rows_refuse_arrays_of_unequal_length():
    with pytest.raises(ValueError, match="unequal length"):
        agreement.agreement_row("I2S", "all", np.zeros(3), np.zeros(4), np.zeros(3), np.zeros(3))


def test_a_judge_trained_twice_in_one_process_has_the_same_weights(tmp_path):
    """Its initial weights come from the seed, not from the global RNG state earlier code left."""
    rng = np.random.default_rng(3)
    pitch = rng.uniform(48, 84, 40)
    frames = _frames(pitch, rng)
    first, _, _ = judges.train_judge("image", frames, pitch, tmp_path / "a", epochs=1, batch_size=16,
                                     learning_rate=2e-3, width=4, seed=0, device="cpu")
    torch.rand(7)  # another step's use of the global generator
    second, _, _ = judges.train_judge("image", frames, pitch, tmp_path / "b", epochs=1, batch_size=16,
                                      learning_rate=2e-3, width=4, seed=0, device="cpu")
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
