"""Sound representations against librosa, the feature stores and the window/frame stores."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
from sound_fixtures import make_windows

from crossmodal import store
from crossmodal.config import FEATURE_PARAMS, cli_flags
from crossmodal.sound import feature_store, features
from crossmodal.manifests import read_windows
from crossmodal.sound.features import FeatureParams

SR = 44100
N = 22050
PARAMS = FeatureParams()


def tone(freq, amplitude=0.3):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(N) / SR)).astype(np.float32)


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    chirp = librosa.chirp(fmin=100, fmax=8000, sr=SR, length=N).astype(np.float32) * 0.2
    return np.stack([tone(440) * np.linspace(0, 1, N, dtype=np.float32), rng.normal(size=N).astype(np.float32) * 0.1,
                     np.zeros(N, np.float32), chirp])


def test_lms_of_a_window_is_128_mel_bands_by_44_centred_frames():
    assert features.compute("lms", np.zeros((2, N), np.float32), PARAMS).shape == (2, 128, 44)
    assert features.feature_shape("lms", N, PARAMS) == (128, 44)
    assert features.feature_shape("stft", N, PARAMS) == (1025, 44)
    assert features.feature_shape("cqt", N, PARAMS) == (84, 44)
    assert features.feature_shape("mfcc", N, PARAMS) == (20, 44)


def librosa_cqt(y):
    """|librosa.cqt| of one window, called here: features.reference would run the batched code's
    own CQT helper, so comparing with it could not fail."""
    with warnings.catch_warnings():  # librosa pads the lowest octaves' short input and says so
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large for input signal")
        return np.abs(librosa.cqt(y, sr=SR, hop_length=PARAMS.hop_length, fmin=PARAMS.cqt_fmin,
                                  n_bins=PARAMS.cqt_n_bins, bins_per_octave=PARAMS.cqt_bins_per_octave))


# Batched torch (or batched librosa for CQT) against librosa on one window: magnitudes within
# 1e-5 of the window's peak, dB values (LMS, and MFCC built on them) within 0.01 dB.
@pytest.mark.parametrize("rep", features.REPRESENTATIONS)
def test_batched_representation_equals_librosa_window_by_window(rep, signals):
    batch = features.compute(rep, signals, PARAMS)
    assert batch.dtype == np.float32
    for i, y in enumerate(signals):
        ref = librosa_cqt(y) if rep == "cqt" else features.reference(rep, y, PARAMS)
        assert batch[i].shape == ref.shape
        if rep in {"lms", "mfcc"}:
            np.testing.assert_allclose(batch[i], ref, atol=1e-2, rtol=0)
        else:
            np.testing.assert_allclose(batch[i], ref, atol=1e-5 * max(np.abs(ref).max(), 1e-12), rtol=0)


def test_pure_tone_lands_in_its_stft_mel_and_cqt_bins():
    freq = 440.0
    y = tone(freq)[None]
    stft = features.compute("stft", y, PARAMS)[0]
    assert np.argmax(stft[:, 22]) == round(freq * PARAMS.n_fft / SR)  # bin 20
    ms = features.compute("ms", y, PARAMS)[0]
    centres = librosa.mel_frequencies(n_mels=PARAMS.n_mels + 2, fmax=SR / 2)[1:-1]
    assert abs(np.argmax(ms[:, 22]) - np.argmin(np.abs(centres - freq))) <= 1
    cqt = features.compute("cqt", y, PARAMS)[0]
    assert np.argmax(cqt[:, 22]) == 45  # A4 is 3 octaves and 9 semitones above C1 (cqt_fmin)


def test_lms_floor_is_each_windows_own_peak_minus_top_db():
    loud, quiet = tone(440, 0.9), tone(440, 0.03)
    lms = features.compute("lms", np.stack([loud, quiet]), PARAMS)
    for row in lms:
        assert row.min() == pytest.approx(row.max() - PARAMS.top_db, abs=1e-3)
    assert lms[1].max() < lms[0].max() - 25  # the quiet window kept its own level


def test_silent_window_lms_is_the_log_floor():
    lms = features.compute("lms", np.zeros((1, N), np.float32), PARAMS)
    assert np.all(lms == pytest.approx(10 * np.log10(PARAMS.amin)))


def test_params_from_config_take_the_sample_rate_from_the_dataset():
    params = FeatureParams.from_config({"dataset": {"audio_sr": 22050}, "features": {"n_mels": 64, "chunk_windows": 8}})
    assert params.sr == 22050 and params.n_mels == 64 and params.n_fft == 2048


def test_each_store_depends_only_on_its_own_config_keys():
    section = {**store_defaults(), "n_mfcc": 13}
    assert "--n-mfcc 13" in cli_flags(section, FEATURE_PARAMS["mfcc"])
    assert "n-mfcc" not in cli_flags(section, FEATURE_PARAMS["lms"])
    assert "n-mels" not in cli_flags(section, FEATURE_PARAMS["cqt"])
    assert "--fmax none" in cli_flags(section, FEATURE_PARAMS["ms"])


def store_defaults():
    from crossmodal.config import section_defaults

    return section_defaults("features")


# ---------------------------------------------------------------- stores
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_windows(tmp_path_factory.mktemp("synthetic"), seconds=1.0)


def test_feature_store_row_i_is_window_id_i(synthetic, tmp_path):
    windows = read_windows(synthetic)
    out = tmp_path / "lms.npy"
    shape = feature_store.compute_store(windows, "lms", PARAMS, str(out), chunk=7)
    stored = store.open_array(out, rows=len(windows))
    assert stored.shape == shape == (len(windows), 128, 44)
    for window_id in (0, 5, len(windows) - 1):
        row = windows.iloc[window_id]
        audio = np.load(row["audio_path"])[row["audio_start"] : row["audio_stop"]]
        np.testing.assert_allclose(stored[window_id], features.reference("lms", audio, PARAMS), atol=1e-2)


def test_load_window_audio_slices_each_tracks_audio(synthetic):
    windows = read_windows(synthetic).iloc[[9, 0, 3]]
    audio = store.load_window_audio(windows)
    assert audio.shape == (3, 22050) and audio.dtype == np.float32
    for got, (_, row) in zip(audio, windows.iterrows(), strict=True):
        np.testing.assert_array_equal(got, np.load(row["audio_path"])[row["audio_start"] : row["audio_stop"]])


def test_load_frames_gathers_rows_in_the_given_order(synthetic):
    windows = read_windows(synthetic)
    chosen = windows.iloc[[7, 2, len(windows) - 1]]
    frames = store.load_frames(chosen)
    assert frames.shape == (3, 8, 8, 3) and frames.dtype == np.uint8
    assert frames[:, 0, 0, 0].tolist() == chosen["window_index"].tolist()
    assert frames[:, 1, 1, 1].tolist() == chosen["label"].tolist()


def test_window_beyond_its_track_audio_is_an_error_naming_the_file(synthetic):
    windows = read_windows(synthetic).iloc[[0]].copy()
    windows["audio_start"] += 10**6
    windows["audio_stop"] += 10**6
    with pytest.raises(store.StoreError, match="audio.npy"):
        store.load_window_audio(windows)


def test_store_with_wrong_row_count_is_refused(tmp_path):
    store.save_array(tmp_path / "x.npy", np.zeros((4, 2, 2), np.float32))
    assert store.open_array(tmp_path / "x.npy", rows=4).shape == (4, 2, 2)
    with pytest.raises(store.StoreError, match="has 4 rows"):
        store.open_array(tmp_path / "x.npy", rows=5)
    with pytest.raises(store.StoreError, match="does not exist"):
        store.open_array(tmp_path / "missing.npy")


def test_failed_store_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with store.create_array(tmp_path / "x.npy", (3, 2)) as array:
            array[0] = 1
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with store.create_array(tmp_path / "y.npy", (3, 2)) as array:
        array[:] = 2
    assert np.load(tmp_path / "y.npy").sum() == 12
    assert (tmp_path / "y.npy").stat().st_mode & 0o044  # readable by others, as a normal file
