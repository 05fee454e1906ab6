"""benchmarks/gpu_check.sh in its CPU smoke mode: the GPU check runs end to end, so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.workflow
def test_gpu_check_smoke_mode_runs_all_four_parts_and_resumes_bit_for_bit(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--cpu", "--workdir", str(tmp_path / "wd")],
                            env={**os.environ, "OUT": str(out)}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["mode"] == "cpu smoke"
    workflow = report["workflow"]
    assert workflow["ok"] and workflow["training_logs"] >= 1
    assert all(d == ["cpu amp=off"] for d in workflow["devices"].values())
    kill = report["kill_resume"]
    assert kill["killed_by_signal"] and 0 < kill["epochs_done_at_kill"] < kill["epochs"]
    assert kill["resumed_vs_straight"]["equal"] == kill["resumed_vs_straight"]["tensors"] > 0
    rates = report["throughput"]
    assert sorted((r["kind"], r["precision"]) for r in rates) == [("i2s", "fp32")] * 2 + [("s2i", "fp32")] * 2
    assert all(r["pairs_per_s"] > 0 and 0 <= r["data_wait_share"] < 1 for r in rates)
    estimate = report["estimate"]
    assert estimate["epochs"] == 100
    assert estimate["total_hours"] == pytest.approx(sum(estimate["per_model_hours"].values()), abs=0.05)
    assert "paper preset (100 epochs)" in result.stdout
