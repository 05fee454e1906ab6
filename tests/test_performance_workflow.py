"""The performances' rules in the real workflow: `all` on the tiny config (tests/conftest.py:
tiny_all_run, shared with the other end-to-end tests) renders one test-split track's 1.5 s as
a perform video and an I2S video, and the page shows both."""

from __future__ import annotations

import json
import re

import pytest

from crossmodal import manifests, media

pytestmark = pytest.mark.workflow


def test_all_renders_a_test_track_both_ways_and_the_page_links_both_videos(tiny_all_run):
    folder = tiny_all_run / "results/performances"
    tracks = manifests.read(tiny_all_run / "results/manifests/tracks.parquet", "tracks").set_index("track_id")
    records = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json")}
    perform = [r for r in records.values() if r["kind"] == "perform"]
    accompany = [r for r in records.values() if r["kind"] == "accompany"]
    assert len(perform) == 1 and len(accompany) == 1  # tiny.yaml: performances.test_tracks 1
    track = perform[0]["name"]
    assert tracks.loc[track, "split"] == "test" and accompany[0]["name"] == track
    # auto: the pose model of the instrument heard when trained (violin, viola, cello), else S2I-C
    assert perform[0]["model"] == "s2i_c" or perform[0]["model"].startswith("pose:")
    assert perform[0]["real_panel"] and perform[0]["frames"] == 15  # --seconds 0-1.5 at 10 fps
    assert accompany[0]["panel"] == f"{tracks.loc[track, 'part']}/{tracks.loc[track, 'n_parts']}"
    for name in (f"{track}.mp4", f"{track}_i2s.mp4"):
        info = media.video_info(folder / name)
        assert info["duration_s"] == pytest.approx(1.5, abs=0.1) and info["height"] == 128, name
    page = (folder / "index.html").read_text()
    assert re.findall(r'<video [^>]*src="([^"]+)"', page) == [f"{track}.mp4", f"{track}_i2s.mp4"]
    assert "URMP F0 file" in page  # the demo's F0s file gives the real recording's pitch track
