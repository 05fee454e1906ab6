"""The demo URMP generator: layout and names, audio, annotations, shared takes, video, determinism."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile

from crossmodal import cli, media, urmp
from crossmodal.dataset.demo import audio, build, melody, video
from crossmodal.dataset.demo.annotations import F0_HOP_S, F0_START_S
from crossmodal.dataset.demo.figure import (
    INSTRUMENT_COLOUR,
    REST,
    Pose,
    draw_panel,
    seeded_player,
    seeded_room,
)

PIECES = ["15_Surprise_tpt_tpt_tbn", "24_Pirates_vn_vn_va_vc", "25_Pirates_vn_vn_va_sax", "32_Fugue_vn_vn_va_vc"]
DURATION = 2.5
PANEL = 32


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "Dataset"
    return build.generate_demo(out, PIECES, duration_s=DURATION, panel_width=PANEL, height=PANEL,
                               fps="30000/1001", seed=7)


def _parts(tree: Path, dir_name: str):
    """(piece, part, instrument, file abbr) of every part of a generated piece."""
    piece = urmp.parse_piece_dir(dir_name)
    abbrs = urmp.load_piece_list()[dir_name]
    return [(piece, p, piece.instrument(p), abbrs[p - 1]) for p in range(1, len(piece.codes) + 1)]


def _decoded_frames(path: Path) -> bytes:
    return subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                           "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout


# ---------------------------------------------------------------------------------------------
# Layout


def test_tree_has_exactly_urmp_files_per_piece_and_a_supplementary_folder(tree):
    assert sorted(p.name for p in tree.iterdir()) == sorted(PIECES + ["Supplementary_Files"])
    assert [p.name for p in urmp.list_piece_dirs(tree)] == sorted(PIECES)
    readme = (tree / "Supplementary_Files" / "readme.txt").read_text()
    assert readme.startswith("Demo URMP tree") and "\npitches: spread\n" in readme
    for dir_name in PIECES:
        piece = urmp.parse_piece_dir(dir_name)
        expected = {f"Vid_{dir_name}.mp4", f"AuMix_{dir_name}.wav", f"Sco_{dir_name}.mid"}
        for _, part, _, abbr in _parts(tree, dir_name):
            expected |= {piece.part_file_name(kind, part, abbr) for kind in ("AuSep", "Notes", "F0s")}
        assert {p.name for p in (tree / dir_name).iterdir()} == expected


def test_surprise_trombone_files_use_the_trumpet_code_and_play_low(tree):
    folder = tree / "15_Surprise_tpt_tpt_tbn"
    assert (folder / "AuSep_3_tpt_15_Surprise.wav").is_file()
    assert not list(folder.glob("*_3_tbn_*"))
    notes = melody.read_notes(folder / "Notes_3_tpt_15_Surprise.txt")
    low, high = melody.MELODY_RANGE["trombone"]
    keys = melody.hz_to_midi(notes[:, 1])
    assert len(notes) and keys.min() > low - 0.5 and keys.max() < high + 0.5
    assert keys.max() < melody.MELODY_RANGE["trumpet"][1]


def test_no_temporary_folder_is_left_beside_the_tree(tree):
    assert [p.name for p in tree.parent.iterdir()] == ["Dataset"]


# ---------------------------------------------------------------------------------------------
# Audio


def test_every_wav_is_48k_mono_pcm24_of_the_demo_length(tree):
    wavs = sorted(tree.glob("*/*.wav"))
    assert len(wavs) == sum(len(urmp.parse_piece_dir(p).codes) + 1 for p in PIECES)
    for path in wavs:
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (48000, 1, "PCM_24", "WAV"), path
        assert info.frames == round(DURATION * 48000)


def test_parts_are_silent_before_their_cue_and_sound_during_notes(tree):
    for dir_name in PIECES:
        for piece, part, _, abbr in _parts(tree, dir_name):
            notes = melody.read_notes(tree / dir_name / piece.part_file_name("Notes", part, abbr))
            samples, sr = soundfile.read(str(tree / dir_name / piece.part_file_name("AuSep", part, abbr)))
            assert len(notes), (dir_name, part)
            cue = int(notes[0, 0] * sr)
            assert cue > 0 and np.all(samples[:cue] == 0.0), (dir_name, part)
            for onset, _, length in notes:
                chunk = samples[int(onset * sr): int((onset + 0.8 * length) * sr)]
                assert np.sqrt(np.mean(chunk ** 2)) > 0.01, (dir_name, part, onset)


def test_mix_is_the_scaled_sum_of_the_parts(tree):
    dir_name = "24_Pirates_vn_vn_va_vc"
    piece = urmp.parse_piece_dir(dir_name)
    parts = [soundfile.read(str(tree / dir_name / piece.part_file_name("AuSep", p)))[0] for p in range(1, 5)]
    mix = soundfile.read(str(tree / dir_name / piece.mix_name()))[0]
    total = np.sum(parts, axis=0)
    scale = np.dot(mix, total) / np.dot(total, total)
    assert 0 < scale <= 1.0 + 1e-6
    assert np.max(np.abs(mix - scale * total)) < 1e-4
    assert np.max(np.abs(mix)) <= audio.MIX_PEAK + 1e-4


def test_rendered_note_has_the_annotated_pitch():
    import librosa

    track = audio.render_part(np.array([[0.1, 452.0, 1.2]]), "violin", 1.5, audio.load_soundfont(None))
    f0, _, _ = librosa.pyin(track[int(0.3 * audio.SR): int(1.2 * audio.SR)].astype(np.float64), fmin=100,
                            fmax=1500, sr=audio.SR, frame_length=4096)
    assert np.nanmedian(f0) == pytest.approx(452.0, rel=0.01)


# ---------------------------------------------------------------------------------------------
# Annotations


def test_notes_and_f0s_files_have_urmp_formats_and_agree(tree):
    for dir_name in PIECES:
        for piece, part, _, abbr in _parts(tree, dir_name):
            notes_path = tree / dir_name / piece.part_file_name("Notes", part, abbr)
            lines = notes_path.read_text().splitlines()
            assert lines and all(re.fullmatch(r"\d+\.\d{3}\t\t\d+\.\d{3}\t\t\d+\.\d{3}", line) for line in lines)
            notes = melody.read_notes(notes_path)
            f0s = np.loadtxt(tree / dir_name / piece.part_file_name("F0s", part, abbr), ndmin=2)
            assert f0s.shape[1] == 2
            np.testing.assert_allclose(f0s[:, 0], F0_START_S + F0_HOP_S * np.arange(len(f0s)), atol=1e-9)
            assert f0s[-1, 0] < DURATION <= f0s[-1, 0] + F0_HOP_S + 1e-9
            expected = np.zeros(len(f0s))
            for onset, pitch, length in notes:
                expected[(f0s[:, 0] >= onset) & (f0s[:, 0] < round(onset + length, 3))] = pitch
            np.testing.assert_allclose(f0s[:, 1], expected)
            assert np.all(notes[:, 0] + notes[:, 2] <= DURATION + 1e-9)


def test_score_has_one_track_per_part_with_every_note(tree):
    for dir_name in PIECES:
        midi = mido.MidiFile(str(tree / dir_name / f"Sco_{dir_name}.mid"))
        parts = _parts(tree, dir_name)
        assert len(midi.tracks) == 1 + len(parts)
        for track, (piece, part, instrument, abbr) in zip(midi.tracks[1:], parts):
            notes = melody.read_notes(tree / dir_name / piece.part_file_name("Notes", part, abbr))
            assert track.name == instrument
            assert [m.program for m in track if m.type == "program_change"] == [audio.GM_PROGRAM[instrument]]
            assert sum(m.type == "note_on" for m in track) == len(notes)


def test_seeded_melodies_wait_for_their_cue_and_stay_in_range():
    for instrument in INSTRUMENT_COLOUR:
        notes = melody.seeded_melody(5, "Pirates", 2, instrument, 12.0)
        low, high = melody.MELODY_RANGE[instrument]
        keys = melody.hz_to_midi(notes[:, 1])
        assert melody.CUE_RANGE_S[0] <= notes[0, 0] <= melody.CUE_RANGE_S[1]
        assert keys.min() > low - 0.5 and keys.max() < high + 0.5
        assert np.all(np.diff(notes[:, 0]) > 0) and np.all(notes[:-1, 0] + notes[:-1, 2] <= notes[1:, 0] + 1e-9)


def test_every_melody_key_sounds_in_the_shipped_soundfont_but_the_listed_silent_ones():
    soundfont = audio.load_soundfont(None)
    silent = set()
    for instrument, (low, high) in melody.MELODY_RANGE.items():
        for key in range(low, high + 1):
            note = np.array([[0.05, float(melody.midi_to_hz(key)), 0.2]])
            if not np.abs(audio.render_part(note, instrument, 0.3, soundfont)).max() > 0:
                silent.add((instrument, key))
    assert silent == {(i, k) for i, keys in melody.SILENT_KEYS.items() for k in keys}


def test_pitch_modes_trade_a_shared_register_against_melodic_steps():
    """Two 4 s bassoon parts (a train and a test player) should share a register, and a
    window's first frame should mostly show a note near the window's others: leaps sits between
    spread (every note anywhere) and the earlier walk (steps in one register)."""
    def measure(mode):
        spans, steps = [], []
        for seed in range(60):
            keys = melody.hz_to_midi(melody.seeded_melody(seed, "Fugue", 4, "bassoon", 4.0, mode)[:, 1])
            spans.append((keys.min(), keys.max()))
            steps += list(np.abs(np.diff(np.round(keys))))
        overlap = np.mean([max(a[0], b[0]) <= min(a[1], b[1]) for a, b in zip(spans[::2], spans[1::2])])
        return overlap, np.mean(np.array(steps) <= 4)

    (leaps, leaps_steps), (spread, spread_steps), (walk, walk_steps) = map(measure, ("leaps", "spread", "walk"))
    assert walk < leaps < spread and spread >= 0.9 and walk <= 0.6
    assert leaps_steps >= 0.75 and walk_steps >= 0.75 and spread_steps <= 0.5
    with pytest.raises(ValueError, match="pitch mode"):
        melody.seeded_melody(0, "Fugue", 4, "bassoon", 4.0, "chromatic")


def test_short_parts_get_a_short_cue_so_few_windows_are_silent():
    """At the demo's 4 s a 1.5 s lead-in would silence a quarter of every track; the cue shrinks
    with the part and no whole 0.5 s window precedes the first note."""
    assert melody.cue_range(60.0) == melody.CUE_RANGE_S
    low, high = melody.cue_range(4.0)
    assert low == pytest.approx(0.2) and high == pytest.approx(0.4)
    firsts = [melody.seeded_melody(seed, "Dance", 1, "flute", 4.0)[0, 0] for seed in range(40)]
    assert min(firsts) >= low and max(firsts) <= high < 0.5
    assert np.ptp(firsts) > 0.1  # still drawn, not fixed


def test_piece_32_plays_the_real_onsets_of_its_excerpt(tree):
    dir_name = "32_Fugue_vn_vn_va_vc"
    real_files = sorted(urmp.REAL_PIECE_32_DIR.glob("Notes_*.txt"))
    _, start = melody.real_piece_notes(real_files, DURATION)
    assert start > 0  # the fugue's entries are further apart than the demo lasts
    firsts = []
    for (piece, part, _, abbr), real_file in zip(_parts(tree, dir_name), real_files):
        real = melody.read_notes(real_file)
        written = melody.read_notes(tree / dir_name / piece.part_file_name("Notes", part, abbr))
        in_cut = real[(real[:, 0] >= start) & (real[:, 0] - start < DURATION - melody.END_MARGIN_S)]
        assert len(written) == len(in_cut) > 0
        np.testing.assert_allclose(written[:, 0], in_cut[:, 0] - start, atol=1e-6)
        np.testing.assert_allclose(written[:, 1], in_cut[:, 1], atol=1e-6)
        firsts.append(written[0, 0])
    assert min(firsts) == pytest.approx(melody.FIRST_NOTE_S, abs=1e-6)


def test_piece_32_keeps_its_real_timing_when_every_part_enters_in_time():
    real_files = sorted(urmp.REAL_PIECE_32_DIR.glob("Notes_*.txt"))
    parts, start = melody.real_piece_notes(real_files, 45.0)
    assert start == 0.0
    for notes, real_file in zip(parts, real_files):
        real = melody.read_notes(real_file)
        np.testing.assert_array_equal(notes[:, 0], real[real[:, 0] < 45.0 - melody.END_MARGIN_S, 0])


def test_piece_32_default_demo_excerpt_gives_every_part_notes():
    parts, _ = melody.real_piece_notes(sorted(urmp.REAL_PIECE_32_DIR.glob("Notes_*.txt")), 4.0)
    assert all(len(p) for p in parts)


# ---------------------------------------------------------------------------------------------
# Reused takes


def test_variants_of_a_piece_share_the_takes_of_common_parts_byte_for_byte(tree):
    a, b = tree / "24_Pirates_vn_vn_va_vc", tree / "25_Pirates_vn_vn_va_sax"
    for part, code in [(1, "vn"), (2, "vn"), (3, "va")]:
        for kind, ext in [("AuSep", "wav"), ("Notes", "txt")]:
            assert (a / f"{kind}_{part}_{code}_24_Pirates.{ext}").read_bytes() == \
                   (b / f"{kind}_{part}_{code}_25_Pirates.{ext}").read_bytes()
    assert (a / "AuSep_4_vc_24_Pirates.wav").read_bytes() != (b / "AuSep_4_sax_25_Pirates.wav").read_bytes()
    assert (a / "AuSep_1_vn_24_Pirates.wav").read_bytes() != (a / "AuSep_2_vn_24_Pirates.wav").read_bytes()


def test_variants_share_the_pose_motion_and_look_of_common_parts(tree, tmp_path, monkeypatch):
    notes = [melody.read_notes(tree / d / "Notes_1_vn_{}.txt".format(d[:10])) for d in
             ("24_Pirates_vn_vn_va_vc", "25_Pirates_vn_vn_va_sax")]
    times = video.frame_times(DURATION, video.parse_fps("30000/1001"))
    poses = [[video.pose_at(n, "violin", t) for t in times] for n in notes]
    assert poses[0] == poses[1] and any(p.playing for p in poses[0])
    # The players the generator draws: the same look for the parts both variants share (1-3),
    # another for the part they do not (cello / sax), and the variants' rooms differ.
    drawn = {}
    monkeypatch.setattr(video, "encode_video", lambda path, panels, room, *a: drawn.update({path.parent.name: (panels, room)}))
    build.generate_demo(tmp_path / "Dataset", ["24_Pirates_vn_vn_va_vc", "25_Pirates_vn_vn_va_sax"], duration_s=1.0,
                        panel_width=PANEL, height=PANEL, fps="30000/1001", seed=7)
    (a, room_a), (b, room_b) = drawn["24_Pirates_vn_vn_va_vc"], drawn["25_Pirates_vn_vn_va_sax"]
    assert [p.player for p in a[:3]] == [p.player for p in b[:3]]
    assert all(np.array_equal(x.notes, y.notes) for x, y in zip(a[:3], b[:3]))
    assert (a[3].instrument, b[3].instrument) == ("cello", "sax") and room_a != room_b
    assert len({p.player for p in a}) > 1  # looks are per part, not one for the whole piece


# ---------------------------------------------------------------------------------------------
# Video


def test_video_is_h264_at_2997_fps_with_one_panel_per_part_and_an_aac_mix(tree):
    for dir_name in PIECES:
        path = tree / dir_name / f"Vid_{dir_name}.mp4"
        info = media.video_info(path)
        n_parts = len(urmp.parse_piece_dir(dir_name).codes)
        assert info["codec"] == "h264"
        assert info["fps"] == pytest.approx(30000 / 1001, abs=1e-4)
        assert (info["width"], info["height"]) == (PANEL * n_parts, PANEL)
        assert info["duration_s"] == pytest.approx(DURATION, abs=0.05)
        streams = media.probe(path)["streams"]
        assert [s["codec_name"] for s in streams if s["codec_type"] == "audio"] == ["aac"]
        assert [s["pix_fmt"] for s in streams if s["codec_type"] == "video"] == ["yuv420p"]


def test_same_seed_gives_same_files_and_decoded_frames_and_another_seed_does_not(tmp_path):
    outs = [tmp_path / name for name in ("a", "b", "c")]
    for out, seed in zip(outs, (3, 3, 4)):
        argv = ["demo", "--out", str(out), "--pieces", "16_Surprise_tpt_tpt_sax", "--duration", "2",
                "--panel-width", "32", "--height", "32", "--fps", "30000/1001", "--seed", str(seed)]
        assert cli.main(argv) == 0
    folder = "16_Surprise_tpt_tpt_sax"
    for path in sorted((outs[0] / folder).glob("*.*")):
        if path.suffix in (".wav", ".txt", ".mid"):
            assert path.read_bytes() == (outs[1] / folder / path.name).read_bytes(), path.name
    video_name = f"Vid_{folder}.mp4"
    frames = [_decoded_frames(out / folder / video_name) for out in outs]
    assert len(frames[0]) == 60 * 96 * 32 * 3
    assert frames[0] == frames[1]
    assert frames[0] != frames[2]
    assert (outs[0] / folder / "AuSep_1_tpt_16_Surprise.wav").read_bytes() != \
           (outs[2] / folder / "AuSep_1_tpt_16_Surprise.wav").read_bytes()


def test_pose_follows_the_pitch_and_rests_when_silent():
    notes = np.array([[0.5, 440.0, 1.0], [1.6, 880.0, 0.5], [3.0, 660.0, 0.5]])
    assert video.pose_at(notes, "violin", 0.2) == REST
    low, high = video.pose_at(notes, "violin", 0.9), video.pose_at(notes, "violin", 1.8)
    assert low.playing and high.playing and low.position < high.position
    assert video.pose_at(notes, "violin", 1.55).playing  # a 0.1 s gap is held
    assert video.pose_at(notes, "violin", 2.5) == REST  # a 0.9 s gap is a rest
    assert video.pose_at(notes, "violin", 3.6) == REST  # after the last note
    strokes = [video.pose_at(notes, "violin", t).stroke for t in (0.55, 1.0, 1.45)]
    assert strokes[0] < strokes[1] < strokes[2]  # the bow travels across the note
    assert video.pose_at(notes, "flute", 1.0).stroke == 0.0


@pytest.mark.parametrize("instrument", sorted(INSTRUMENT_COLOUR))
def test_panel_drawing_changes_with_pitch_and_rest_ignores_it(instrument):
    room, player = seeded_room(0, "room"), seeded_player(0, "player")
    draw = lambda pose: draw_panel(instrument, pose, 64, 64, room, player)  # noqa: E731
    low, high = draw(Pose(True, 0.1)), draw(Pose(True, 0.9))
    assert low.shape == (64, 64, 3) and low.dtype == np.uint8
    assert np.mean(low != high) > 0.01
    rest = draw(REST)
    np.testing.assert_array_equal(rest, draw(Pose(False, 0.9, 0.5)))
    assert np.mean(rest != low) > 0.01


def test_every_instrument_draws_a_different_panel():
    room, player = seeded_room(0, "room"), seeded_player(0, "player")
    panels = {i: draw_panel(i, Pose(True, 0.5), 64, 64, room, player).astype(int) for i in INSTRUMENT_COLOUR}
    names = sorted(panels)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.mean(np.abs(panels[a] - panels[b]).sum(axis=2) > 30) > 0.01, (a, b)


def test_background_depends_on_the_piece_not_the_instrument():
    room = seeded_room(0, "24_Pirates_vn_vn_va_vc")
    assert room == seeded_room(0, "24_Pirates_vn_vn_va_vc") and room != seeded_room(0, "25_Pirates_vn_vn_va_sax")
    corners = {i: draw_panel(i, REST, 64, 64, room, seeded_player(0, "p"))[:4, :4] for i in ("violin", "tuba")}
    np.testing.assert_array_equal(corners["violin"], corners["tuba"])


# ---------------------------------------------------------------------------------------------
# Errors and atomicity


def test_unknown_piece_is_an_error_naming_it(tmp_path):
    with pytest.raises(build.DemoError, match="99_Nowhere_vn_vc"):
        build.generate_demo(tmp_path / "Dataset", ["99_Nowhere_vn_vc"], 2.0, 32, 32, "30000/1001", 0)
    assert not (tmp_path / "Dataset").exists()
    assert cli.main(["demo", "--out", str(tmp_path / "D"), "--pieces", "01_Jupiter_vn_va"]) == 1


def test_missing_soundfont_is_an_error_naming_it(tmp_path):
    with pytest.raises(audio.SoundFontError, match="nope.sf2"):
        build.generate_demo(tmp_path / "Dataset", ["01_Jupiter_vn_vc"], 2.0, 32, 32, "30000/1001", 0,
                            soundfont=tmp_path / "nope.sf2")


def test_failed_build_leaves_the_previous_tree_and_no_temporary_folder(tmp_path, monkeypatch):
    out = tmp_path / "Dataset"
    out.mkdir()
    (out / "old.txt").write_text("previous tree")

    def fail(*args, **kwargs):
        raise OSError("encoder exploded")

    monkeypatch.setattr(video, "encode_video", fail)
    with pytest.raises(OSError, match="encoder exploded"):
        build.generate_demo(out, ["01_Jupiter_vn_vc"], 2.0, 32, 32, "30000/1001", 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    monkeypatch.undo()
    build.generate_demo(out, ["01_Jupiter_vn_vc"], 2.0, 32, 32, "30000/1001", 0)
    assert sorted(p.name for p in out.iterdir()) == ["01_Jupiter_vn_vc", "Supplementary_Files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset"]
