"""Watch and listen: ``perform``, ``accompany`` and the performances page, on tiny untrained
networks saved in the training steps' formats (what is tested is the timing, the pictures and
the sound that reach the MP4, and the refusals; not what an untrained model draws)."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import numpy as np
import pytest
import soundfile
import torch

from crossmodal import cli
from crossmodal.media import ffmpeg_exe, video_info
from crossmodal.performance import perform, render

torch.set_num_threads(1)
SR = 44100


def save_models(path, models, extra):
    """A model file as crossmodal.training.TrainingRun.save_final writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"models": {n: m.state_dict() for n, m in models.items()}, "extra": extra}, path)


def s2i(seed):
    """A tiny S2I generator with unit-gain layers and a very sensitive compression of the
    encoding: high-contrast pictures that differ from one sound to the next (with the DCGAN
    initialisation an untrained one draws the same flat grey for every sound)."""
    from crossmodal.models.gan import build_gan

    torch.manual_seed(seed)
    g_kwargs = {"encoding_dim": 128, "condition_dim": 16, "z_dim": 8, "ngf": 4}
    d_kwargs = {"encoding_dim": 128, "condition_dim": 16, "ndf": 4}
    g, d = build_gan("s2i", g_kwargs, d_kwargs)
    # Drawn in NCHW order, then back to build_gan's channels-last: an in-place draw fills memory
    # order, so drawing on the channels-last weights would give other (here flatter) pictures.
    g.to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for module in g.modules():
            if isinstance(module, torch.nn.ConvTranspose2d):
                torch.nn.init.kaiming_normal_(module.weight)
        torch.nn.init.normal_(g.compress.fc.weight, 0.0, 5000 / np.sqrt(128))
    g.to(memory_format=torch.channels_last)
    return {"generator": g, "discriminator": d}, {"kind": "s2i", "kwargs": {"generator": g_kwargs, "discriminator": d_kwargs}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from crossmodal.models.gan import build_gan
    from crossmodal.models.image import ImageClassifier, classifier_payload
    from crossmodal.sound.classifier import ClassifierSettings, build_classifier

    root = tmp_path_factory.mktemp("perform")
    torch.manual_seed(0)
    settings = ClassifierSettings(channels=(2, 2, 2, 2, 2, 2), fc_units=8)
    sound = build_classifier((128, 44), 4, settings)
    save_models(root / "sound.pt", {"classifier": sound},
                {"kind": "audio_classifier", "representation": "lms", "conv_layers": 4, "in_shape": [128, 44],
                 "settings": json.dumps(dataclasses.asdict(settings))})
    save_models(root / "gan" / "s2i_c" / "model.pt", *s2i(1))
    gamma = ImageClassifier(channels=(4, 4, 4, 4, 4, 4), hidden=16)
    save_models(root / "gamma.pt", {"image_classifier": gamma}, classifier_payload(gamma))
    g_kwargs = {"encoding_dim": 128, "condition_dim": 16, "z_dim": 8, "ngf": 4, "extra_layers": 0,
                "resize": "interpolate"}
    d_kwargs = {"encoding_dim": 128, "condition_dim": 16, "ndf": 4, "extra_layers": 0}
    g, d = build_gan("i2s", g_kwargs, d_kwargs)
    g.set_lms_range(-80.0, 0.0)
    save_models(root / "gan" / "i2s" / "model.pt", {"generator": g, "discriminator": d},
                {"kind": "i2s", "kwargs": {"generator": g_kwargs, "discriminator": d_kwargs}})
    # 2.05 s of stereo 48 kHz sound that changes every 0.3 s (silence, tones, noise), so
    # consecutive windows get different encodings.
    rng = np.random.default_rng(0)
    t = np.arange(int(2.05 * 48000)) / 48000
    parts = [np.zeros_like(t), 0.5 * np.sin(2 * np.pi * 330 * t), 0.3 * rng.standard_normal(len(t)),
             0.5 * np.sign(np.sin(2 * np.pi * 880 * t))]
    mono = np.choose((t / 0.3).astype(int) % 4, parts)
    soundfile.write(root / "stereo48k.wav", np.stack([mono, 0.5 * mono], 1).astype(np.float32), 48000)
    # A two-player video, 3 s at 29.97 fps, and the AuSep-like WAV of its second player.
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=192x96:rate=30000/1001:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(root / "duo.mp4")], check=True)
    return root


def perform_args(world, out, *extra):
    return ["perform", "--out", str(out), "--gan-dir", str(world / "gan"), "--sound-classifier",
            str(world / "sound.pt"), "--device", "cpu", "--batch-size", "8", *extra]


def decode_video(path, size=None):
    """Every frame of an MP4 as uint8 [n, H, W, 3] (optionally area-scaled to size = (w, h))."""
    info = video_info(path)
    w, h = size or (info["width"], info["height"])
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough"]
    cmd += ["-vf", f"scale={w}:{h}:flags=area"] if size else []
    out = subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True)
    return np.frombuffer(out.stdout, np.uint8).reshape(-1, h, w, 3)


def decode_sound(path):
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(SR),
                          "-f", "f32le", "pipe:1"], capture_output=True, check=True)
    return np.frombuffer(out.stdout, np.float32)


def stream_durations(path):
    from crossmodal.media import probe

    return {s["codec_type"]: float(s["duration"]) for s in probe(path)["streams"]}


def blocks(frames, n):
    """Mean colour of n x n blocks: [b, n, n, 3], far above H.264's and chroma subsampling's error."""
    b, h, w, _ = frames.shape
    return frames.reshape(b, n, h // n, n, w // n, 3).mean(axis=(2, 4))


def expected_frames(world, y, seed=0):
    """The generator's picture of every window of ``y``, computed directly (no video)."""
    from crossmodal.models.gan import load_gan
    from crossmodal.models.sound import load_audio_classifier
    from crossmodal.sound.features import FeatureParams

    grid = render.window_grid(0.5, 0.1, SR)
    n = grid.count(len(y))
    classifier, _ = load_audio_classifier(world / "sound.pt")
    codes, _ = perform.encode_windows(y, grid, n, classifier, "lms", FeatureParams(), "cpu", 8)
    generator, _, _ = load_gan(world / "gan" / "s2i_c" / "model.pt")
    return perform.generate_frames(generator, codes, perform.fixed_noise(generator.z_dim, seed), "cpu")


def test_frame_k_is_the_generators_picture_of_window_k_under_the_recordings_own_sound(world, tmp_path):
    out = tmp_path / "song.mp4"
    assert cli.main(perform_args(world, out, "--audio", str(world / "stereo48k.wav"), "--model", "s2i_c",
                                 "--crf", "12")) == 0
    y = render.decode_audio(world / "stereo48k.wav", SR)  # downmixed, 48 -> 44.1 kHz
    expected = expected_frames(world, y)
    n = len(expected)
    frames = decode_video(out, (64, 64))
    m = -(-len(y) // 4410)  # the video lasts as long as the sound: ceil(D / stride) frames
    assert len(frames) == m and n == 16 and m == 21
    got, want = blocks(frames, 8), blocks(expected[np.minimum(np.arange(m), n - 1)], 8)
    error = np.abs(got - want).mean(axis=(1, 2, 3))
    assert error.max() < 4  # within codec error of the picture of its own window ...
    spread = np.abs(want[:n, None] - want[None, :n]).mean(axis=(2, 3, 4))
    assert (spread[~np.eye(n, dtype=bool)] > 2 * error.max()).mean() > 0.5  # (pictures differ enough to tell)
    best = np.abs(got[:n, None] - want[None, :n]).mean(axis=(2, 3, 4)).argmin(axis=1)
    assert (spread[np.arange(n), best] <= error.max()).all()  # ... and no other window's picture fits better
    info = video_info(out)
    assert info["fps"] == pytest.approx(10.0) and info["height"] == 256
    durations = stream_durations(out)
    assert abs(durations["audio"] - durations["video"]) <= 0.1  # within one frame
    assert durations["audio"] == pytest.approx(len(y) / SR, abs=0.03)
    sound = decode_sound(out)[: len(y)]
    residual = sound - y[: len(sound)]
    assert 10 * np.log10(np.sum(y[: len(sound)] ** 2) / np.sum(residual ** 2)) > 15  # AAC at 160 kb/s
    record = json.loads(out.with_suffix(".json").read_text())
    assert (record["model"], record["windows"], record["frames"], record["real_panel"]) == ("s2i_c", 16, 21, False)


def test_same_seed_renders_the_same_video_and_another_seed_another_player(world, tmp_path):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / f"{name}.mp4"
        assert cli.main(perform_args(world, out, "--audio", str(world / "stereo48k.wav"), "--model", "s2i_c",
                                     "--seconds", "0-1", "--seed", str(seed))) == 0
        runs[name] = decode_video(out)
    assert len(runs["a"]) == 10
    assert np.array_equal(runs["a"], runs["b"])
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()  # the file, byte for byte
    assert not np.array_equal(runs["a"], runs["c"])


def test_a_track_plays_its_real_panel_beside_the_generated_one_from_its_window(world, tmp_path):
    track = tmp_path / "tracks" / "01_Duo_2_vc"
    track.mkdir(parents=True)
    y = render.decode_audio(world / "stereo48k.wav", SR)
    n = render.window_grid(0.5, 0.1, SR).count(len(y))
    real = np.zeros((n, 64, 64, 3), np.uint8)
    real[:, :, :, 0] = (np.arange(n) * 255 // (n - 1))[:, None, None]  # red grows window by window
    np.save(track / "frames.npy", real)
    np.save(track / "audio.npy", y)
    out = tmp_path / "duo.mp4"
    assert cli.main(perform_args(world, out, "--track", str(track), "--model", "s2i_c", "--seconds", "0.5-",
                                 "--crf", "12")) == 0
    frames = decode_video(out, (128, 64))
    skip = 5  # --seconds 0.5-: window 0 of the video is the track's window 5
    shown = blocks(frames[:, :, :64], 4)[:, :, :, 0].mean(axis=(1, 2))
    k = np.minimum(np.arange(len(frames)), n - skip - 1)
    assert np.abs(shown - real[skip + k, 0, 0, 0]).max() < 6
    want = blocks(expected_frames(world, y[5 * 4410:])[np.minimum(k, n - skip - 1)], 8)
    assert np.abs(blocks(frames[:, :, 64:], 8) - want).mean() < 6
    assert json.loads(out.with_suffix(".json").read_text())["real_panel"] is True


def test_auto_takes_the_pose_model_of_the_instrument_heard_when_trained_else_s2i_c(world, tmp_path):
    import collections

    assert perform.auto_model(collections.Counter({"cello": 3, "flute": 1}), world / "gan") == "s2i_c"
    gan_dir = tmp_path / "gan"
    (gan_dir / "pose_s2i_cello").mkdir(parents=True)
    (gan_dir / "pose_s2i_cello" / "model.pt").write_bytes(b"")
    assert perform.auto_model(collections.Counter({"cello": 3, "flute": 1}), gan_dir) == "pose:cello"
    assert perform.auto_model(collections.Counter({"cello": 1, "flute": 3}), gan_dir) == "s2i_c"


def no_outputs(folder):
    return sorted(p.name for p in folder.iterdir() if p.suffix in {".mp4", ".json"} or ".tmp" in p.name)


@pytest.mark.parametrize("case", ["missing", "empty", "not_sound", "too_short", "untrained", "unknown_model"])
def test_bad_input_is_refused_naming_it_and_leaves_no_video(world, tmp_path, caplog, case):
    source = world / "stereo48k.wav"
    model = "s2i_c"
    if case == "missing":
        source, named = tmp_path / "nowhere.wav", "nowhere.wav"
    elif case == "empty":
        source, named = tmp_path / "empty.mp3", "empty.mp3"
        source.write_bytes(b"")
    elif case == "not_sound":
        source, named = tmp_path / "notes.flac", "notes.flac"
        source.write_text("not a sound\n" * 100)
    elif case == "too_short":
        source, named = tmp_path / "short.wav", "shorter than one window"
        soundfile.write(source, np.zeros(int(0.4 * SR), np.float32), SR)
    elif case == "untrained":
        model, named = "pose:flute", "pose:flute was not trained"
    else:
        model, named = "s2i_x", "--model s2i_x"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert cli.main(perform_args(world, out_dir / "x.mp4", "--audio", str(source), "--model", model)) == 1
    assert named in caplog.text
    assert no_outputs(out_dir) == []


def test_accompany_puts_crossfaded_i2s_sound_under_the_panel_for_the_videos_length(world, tmp_path):
    out = tmp_path / "duo_i2s.mp4"
    assert cli.main(["accompany", "--video", str(world / "duo.mp4"), "--panel", "2/2", "--out", str(out),
                     "--image-classifier", str(world / "gamma.pt"), "--i2s", str(world / "gan" / "i2s" / "model.pt"),
                     "--griffin-lim-iters", "4", "--device", "cpu", "--display-height", "96"]) == 0
    durations = stream_durations(out)
    assert durations["video"] == pytest.approx(3.0, abs=0.05)
    assert abs(durations["audio"] - durations["video"]) <= 0.1
    sound = decode_sound(out)
    assert np.abs(sound).max() > 0.3  # generated, normalised sound, not silence
    frames = decode_video(out)
    source = decode_video(world / "duo.mp4")
    assert frames.shape[1:] == (96, 96, 3)  # the right-hand 96 x 96 panel, nothing else
    assert np.abs(frames[10].astype(float) - source[10, :, 96:]).mean() < 8
    record = json.loads(out.with_suffix(".json").read_text())
    assert (record["kind"], record["panel"], record["windows"]) == ("accompany", "2/2", 26)


@pytest.mark.parametrize("case", ["sound_only", "too_narrow"])
def test_accompany_refuses_a_video_its_panel_cannot_be_cut_from(world, tmp_path, caplog, case):
    panel = "1/1"
    if case == "sound_only":
        video, named = world / "stereo48k.wav", "has no video stream"
    else:
        video, named, panel = world / "duo.mp4", "cannot be cut", "3/100"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert cli.main(["accompany", "--video", str(video), "--panel", panel, "--out", str(out_dir / "x.mp4"),
                     "--image-classifier", str(world / "gamma.pt"), "--i2s", str(world / "gan" / "i2s" / "model.pt"),
                     "--device", "cpu"]) == 1
    assert named in caplog.text and video.name in caplog.text
    assert no_outputs(out_dir) == []


def test_crossfade_passes_one_continuous_sound_unchanged_and_joins_others_without_a_jump():
    win, hop, fade = 200, 40, 16
    joiner = render.CrossfadeJoiner(6, win, hop, fade)
    total = sum(np.pad(joiner.gains(k), (k * hop, (5 - k) * hop)) for k in range(6))
    assert np.allclose(total, 1.0)  # the gains of every sample sum to one
    signal = np.sin(np.arange(5 * hop + win) / 7.0).astype(np.float32)
    clips = np.stack([signal[k * hop: k * hop + win] for k in range(6)])
    assert np.allclose(render.crossfade_join(clips, hop, fade), signal, atol=1e-6)
    steps = np.stack([np.full(win, float(k), np.float32) for k in range(6)])  # a different level per clip
    joined = render.crossfade_join(steps, hop, fade)
    assert np.abs(np.diff(joined)).max() < 1.0 / fade * 2  # a ramp over the fade, never a jump
    with pytest.raises(ValueError, match="crossfade"):
        render.CrossfadeJoiner(6, win, hop, hop + 1)


@pytest.mark.parametrize("suffix", ["flac", "mp3"])
def test_flac_and_mp3_stereo_48k_decode_to_the_same_mono_44k_sound_as_the_wav(world, tmp_path, suffix):
    reference = render.decode_audio(world / "stereo48k.wav", SR)
    path = tmp_path / f"song.{suffix}"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(world / "stereo48k.wav"), "-b:a", "256k", str(path)],
                   check=True)
    y = render.decode_audio(path, SR)
    assert y.dtype == np.float32 and y.ndim == 1
    if suffix == "flac":  # lossless but integer: the same samples to within the rounding
        assert len(y) == len(reference) and np.abs(y - reference).max() < 1e-3
    else:  # MP3 pads its start and end; find the shift, then compare within codec error
        assert abs(len(y) - len(reference)) < 0.1 * SR
        from scipy.signal import correlate

        shift = int(np.argmax(correlate(y, reference, mode="full", method="fft"))) - (len(reference) - 1)
        assert 0 <= shift < 0.06 * SR  # the encoder's delay, a few ms
        a = y[shift:][: len(reference)]
        b = reference[: len(a)]
        assert 10 * np.log10(np.sum(b ** 2) / np.sum((a - b) ** 2)) > 10


def test_seconds_and_panel_text_is_read_or_refused():
    assert render.parse_seconds("1.5-3") == (1.5, 3.0)
    assert render.parse_seconds("2-") == (2.0, None)
    assert render.parse_panel("2/3") == (2, 3)
    for bad in ("3-1", "x-2", "5"):
        with pytest.raises(ValueError, match="--seconds"):
            render.parse_seconds(bad)
    for bad in ("4/3", "0/2", "2"):
        with pytest.raises(ValueError, match="--panel"):
            render.parse_panel(bad)


# --- the page in a real browser (the WebDriver helper of the human-evaluation page's test) ---
from test_human_eval import browser  # noqa: E402,F401  (a fixture: headless Chromium via chromedriver)

WAIT_PLAYING = """
const done = arguments[arguments.length - 1];
const videos = Array.from(document.querySelectorAll('video'));
const report = v => ({src: v.getAttribute('src'), ready: v.readyState, duration: v.duration,
                      expected: parseFloat(v.dataset.duration), time: v.currentTime,
                      error: v.error && v.error.code});
Promise.all(videos.map(v => new Promise(resolve => {
  const finish = () => resolve(report(v));
  v.muted = true;
  v.addEventListener('error', finish);
  const play = () => v.play().then(() => setTimeout(finish, 600), finish);
  if (v.readyState >= 1) play(); else v.addEventListener('loadedmetadata', play, {once: true});
  v.load && v.readyState === 0 && v.load();
}))).then(done);
"""


def test_page_shows_each_performance_beside_its_i2s_video_and_every_video_plays_in_chromium(world, tmp_path, browser):
    folder = tmp_path / "performances"
    assert cli.main(perform_args(world, folder / "duo.mp4", "--audio", str(world / "stereo48k.wav"),
                                 "--model", "s2i_c", "--seconds", "0-1.2", "--name", "duo")) == 0
    assert cli.main(["accompany", "--video", str(world / "duo.mp4"), "--panel", "1/2", "--out",
                     str(folder / "duo_i2s.mp4"), "--name", "duo", "--image-classifier", str(world / "gamma.pt"),
                     "--i2s", str(world / "gan" / "i2s" / "model.pt"), "--griffin-lim-iters", "2",
                     "--seconds", "0-1.5", "--device", "cpu"]) == 0
    assert cli.main(["performance-page", "--summaries", str(folder / "duo.json"), str(folder / "duo_i2s.json"),
                     "--out", str(folder / "index.html")]) == 0
    browser.go((folder / "index.html").as_uri())
    assert browser.script("return document.querySelectorAll('section#duo figure').length;") == 2
    assert browser.script("return document.querySelectorAll('svg.pitch polyline').length;") > 0
    videos = browser.call("POST", f"/session/{browser.session_id}/execute/async",
                          {"script": WAIT_PLAYING, "args": []})
    assert [v["src"] for v in videos] == ["duo.mp4", "duo_i2s.mp4"]
    for video in videos:
        assert video["error"] is None and video["ready"] >= 1, video  # loads: H.264 + AAC decode here
        assert video["duration"] == pytest.approx(video["expected"], abs=0.1), video
        assert video["time"] > 0, video  # and plays
    assert videos[0]["expected"] == pytest.approx(1.2) and videos[1]["expected"] == pytest.approx(1.5)
