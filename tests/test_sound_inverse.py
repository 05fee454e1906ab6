"""Generated LMS back to audio: Griffin-Lim keeps the pitch, WAV files are written atomically."""

import librosa
import numpy as np
import pytest
import soundfile

from crossmodal.sound import inverse

SR, N_FFT, HOP, N_MELS = 44100, 2048, 512, 128


def tone_lms(freq, scale="db", power=2.0, seconds=0.5):
    """The LMS of a pure tone (128 x 44 for 0.5 s); by default as the features stage makes it:
    librosa.power_to_db of the mel power spectrum, top_db 80."""
    t = np.arange(int(seconds * SR)) / SR
    y = 0.5 * np.sin(2 * np.pi * freq * t)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, power=power)
    if scale == "db":
        return librosa.power_to_db(mel ** (2.0 / power), ref=1.0, amin=1e-10, top_db=80.0)
    return np.log(mel + 1e-6)


def dominant_frequency(audio):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.fft.rfftfreq(len(audio), 1 / SR)[spectrum.argmax()]


def test_inverted_tone_lms_have_their_energy_at_their_own_pitches_in_one_batch():
    lms = np.stack([tone_lms(440.0), tone_lms(1000.0)])
    assert lms.shape == (2, 128, 44)
    audio = inverse.lms_to_audio_batch(lms, sr=SR, n_fft=N_FFT, hop_length=HOP, n_iter=16, length=22050)
    assert audio.dtype == np.float32 and audio.shape == (2, 22050)
    # Within about one mel band of the tone (bands are ~25 Hz wide at 440 Hz, ~45 Hz at 1 kHz).
    assert dominant_frequency(audio[0]) == pytest.approx(440.0, rel=0.06)
    assert dominant_frequency(audio[1]) == pytest.approx(1000.0, rel=0.06)


def test_griffin_lim_is_deterministic_given_the_seed():
    lms = tone_lms(440.0)[None]
    kwargs = {"sr": SR, "n_fft": N_FFT, "hop_length": HOP, "n_iter": 4, "length": 22050}
    a = inverse.lms_to_audio_batch(lms, seed=3, **kwargs)
    np.testing.assert_array_equal(a, inverse.lms_to_audio_batch(lms, seed=3, **kwargs))
    assert not np.array_equal(a, inverse.lms_to_audio_batch(lms, seed=4, **kwargs))


def test_undo_log_inverts_db_and_natural_log():
    mel = np.array([[1e-3, 1.0, 20.0]])
    np.testing.assert_allclose(inverse.undo_log(20 * np.log10(mel), "db", power=1.0), mel, rtol=1e-9)
    np.testing.assert_allclose(inverse.undo_log(10 * np.log10(mel), "db", power=2.0), mel, rtol=1e-9)
    np.testing.assert_allclose(inverse.undo_log(np.log(mel + 1e-6), "ln"), mel, rtol=1e-6)
    with pytest.raises(ValueError, match="log scale"):
        inverse.undo_log(mel, "log10")


def test_stretch_frames_maps_i2s_34_frames_to_44_keeping_the_ends():
    lms = np.tile(np.arange(34, dtype=float), (128, 1))
    out = inverse.stretch_frames(lms, 44)
    assert out.shape == (128, 44)
    assert out[0, 0] == 0 and out[0, -1] == 33
    assert np.all(np.diff(out[0]) > 0)


def test_join_clips_puts_silence_between_clips():
    joined = inverse.join_clips([np.ones(10), np.ones(5)], sr=100, gap_s=0.05)
    assert joined.tolist() == [1.0] * 10 + [0.0] * 5 + [1.0] * 5


def test_write_wav_writes_16_bit_pcm_and_leaves_no_temp_file(tmp_path):
    audio = inverse.normalize_peak(np.sin(np.linspace(0, 50, 4410)) * 3.0)
    assert np.abs(audio).max() == pytest.approx(0.9)
    path = tmp_path / "wav" / "violin.wav"
    inverse.write_wav(path, audio, 44100)
    info = soundfile.info(path)
    assert (info.samplerate, info.frames, info.subtype) == (44100, 4410, "PCM_16")
    assert sorted(p.name for p in path.parent.iterdir()) == ["violin.wav"]
    with pytest.raises(ValueError, match="mono"):
        inverse.write_wav(tmp_path / "stereo.wav", np.zeros((2, 10)), 44100)


def test_lms_of_the_features_stage_inverts_to_the_tone_pitch():
    from crossmodal.sound import features

    params = features.FeatureParams()
    t = np.arange(22050) / SR
    lms = features.compute("lms", (0.5 * np.sin(2 * np.pi * 660.0 * t)).astype(np.float32)[None], params)[0]
    assert lms.shape == (128, 44)
    audio = inverse.lms_to_audio_batch(lms[None], n_iter=16, length=22050, **inverse.feature_kwargs(params))[0]
    assert dominant_frequency(audio) == pytest.approx(660.0, rel=0.06)
