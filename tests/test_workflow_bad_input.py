"""Bad input through the workflow (Snakemake on the tiny config, data.source local), not only
through functions: each case stops with the file named and how to fix it, or is handled as
documented, and leaves no output that a rerun would take as valid.

The URMP trees are a few seconds of ffmpeg test video and noise, made here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
from workflow_helpers import make_workdir, snakemake

from crossmodal import manifests, media, urmp

pytestmark = pytest.mark.workflow

JUPITER, SONATA = "01_Jupiter_vn_vc", "02_Sonata_vn_vn"
SR = 44100


def make_video(path: Path, width: int, seconds: float = 2.0, ts_offset: float = 0.0) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={width}x32:rate=30000/1001:duration={seconds}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-output_ts_offset", str(ts_offset), str(path)], check=True)


def make_piece(root: Path, dir_name: str, seconds: dict[int, float] | None = None, ts_offset: float = 0.0) -> Path:
    """A URMP piece folder: a video with one 32 px panel per part and an AuSep WAV per part
    (``seconds`` of noise, 2 s unless given)."""
    piece = urmp.parse_piece_dir(dir_name)
    folder = root / dir_name
    folder.mkdir(parents=True)
    make_video(folder / piece.video_name(), 32 * len(piece.codes), ts_offset=ts_offset)
    rng = np.random.default_rng(piece.number)
    for part in range(1, len(piece.codes) + 1):
        n = int((seconds or {}).get(part, 2.0) * SR)
        soundfile.write(folder / piece.part_file_name("AuSep", part), 0.1 * rng.standard_normal(n), SR, subtype="PCM_16")
    return folder


def local_run(tmp_path: Path, root: Path, *targets: str):
    """Snakemake with data.source local at ``root``; returns (workdir, result, stderr + tracks log)."""
    workdir = make_workdir(tmp_path / "wd", {"data.source": "local", "data.local_root": str(root)})
    result = snakemake(workdir, "--cores", "2", "--keep-going", *targets, check=False)
    logs = "".join(p.read_text() for p in sorted((workdir / "results/logs").rglob("*.log")))
    return workdir, result, result.stdout + result.stderr + logs


def leftovers(workdir: Path) -> list[str]:
    """Temporary files of the atomic writer left under results/ (there must be none)."""
    return [str(p) for p in (workdir / "results").rglob(".*") if ".tmp" in p.name]


def assert_scan_refused(workdir: Path, result, text: str, *expected: str) -> None:
    assert result.returncode != 0
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text[-3000:]}"
    assert not (workdir / "results/manifests/tracks.parquet").exists()
    assert not leftovers(workdir)


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "urmp" / "Dataset"
    make_piece(root, JUPITER)
    return root


def test_corrupt_wav_stops_the_track_scan_naming_it(tmp_path, tree):
    wav = tree / JUPITER / "AuSep_2_vc_01_Jupiter.wav"
    wav.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 10)
    workdir, result, text = local_run(tmp_path, tree, "results/manifests/tracks.parquet")
    assert_scan_refused(workdir, result, text, str(wav))


def test_corrupt_video_stops_the_track_scan_naming_it(tmp_path, tree):
    video = tree / JUPITER / "Vid_01_Jupiter_vn_vc.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    workdir, result, text = local_run(tmp_path, tree, "results/manifests/tracks.parquet")
    assert_scan_refused(workdir, result, text, str(video))


def test_root_above_dataset_names_the_dataset_below_and_the_config_fix(tmp_path, tree):
    workdir, result, text = local_run(tmp_path, tree.parent, "results/manifests/tracks.parquet")
    assert_scan_refused(workdir, result, text, f"set data.local_root: {tree}")


def test_root_that_is_a_file_is_refused_naming_it(tmp_path):
    root = tmp_path / "Dataset.tar.gz"
    root.write_bytes(b"not a folder")
    workdir, result, text = local_run(tmp_path, root, "results/manifests/tracks.parquet")
    assert_scan_refused(workdir, result, text, f"URMP root {root} is not a folder")


def test_short_audio_stops_extraction_naming_it_and_a_late_starting_video_is_aligned_on_its_first_frame(tmp_path):
    """Two pieces in one run (--keep-going): Jupiter's cello track lasts 0.3 s, shorter than
    one window: its extraction stops naming the WAV, and no array or manifest of it is left.
    Sonata's video starts at 1 s on its container's timeline (an edit offset): the documented
    handling is that window times count from the video's first frame, so window 0 gets frame 0
    and every window its frame, as for a video starting at 0."""
    root = tmp_path / "urmp" / "Dataset"
    make_piece(root, JUPITER, seconds={2: 0.3})
    make_piece(root, SONATA, ts_offset=1.0)
    assert media.video_info(root / SONATA / "Vid_02_Sonata_vn_vn.mp4")["start_s"] == pytest.approx(1.0)
    workdir, result, text = local_run(tmp_path, root, "results/manifests/windows.parquet")
    short = root / JUPITER / "AuSep_2_vc_01_Jupiter.wav"
    assert result.returncode != 0
    assert f"{short}: the audio lasts 0.300 s, shorter than one window (0.5 s)" in text
    cello = workdir / "results/tracks/01_Jupiter_2_vc"
    assert not cello.exists() or not any(cello.iterdir())
    assert not (workdir / "results/manifests/windows.parquet").exists()
    assert not leftovers(workdir)
    for part in (1, 2):
        windows = manifests.read(workdir / f"results/tracks/02_Sonata_{part}_vn/windows.parquet", "track_windows")
        frames = np.load(workdir / f"results/tracks/02_Sonata_{part}_vn/frames.npy")
        # floor((2 - 0.5) / 0.1) + 1 = 16 windows; frame k * 3 (29.97 fps) at or after k * 0.1 s.
        assert len(windows) == len(frames) == 16
        assert windows["frame_index"].tolist() == [3 * k for k in range(16)]
        assert (windows["frame_time_s"] >= windows["start_s"]).all()
        assert windows["frame_time_s"].iloc[0] == 0.0
