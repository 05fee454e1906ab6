"""The presets validate against the schema, alone and stacked as the README says to use them."""

from pathlib import Path

import pytest
import yaml

from crossmodal.config import load_config

PRESETS = Path(__file__).resolve().parents[1] / "workflow" / "presets"


def _flatten(node: dict, prefix: str = "") -> dict:
    """{"gan.i2s.resize": "numpy", ...}: a preset as load_config's dotted overrides."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _stacked(*names: str) -> dict:
    overrides = {}
    for name in names:
        overrides.update(_flatten(yaml.safe_load((PRESETS / name).read_text())))
    return load_config(overrides=overrides)


@pytest.mark.parametrize("names", [("paper.yaml",), ("paper_exact.yaml",), ("paper.yaml", "paper_exact.yaml")])
def test_presets_validate_on_top_of_the_default_config(names):
    config = _stacked(*names)
    assert config["seed"] == 0


def test_paper_exact_undoes_the_defaults_deviations():
    config = _stacked("paper.yaml", "paper_exact.yaml")
    assert config["gan"]["i2s"]["resize"] == "numpy"
    assert len(config["gan"]["pose_instruments"]) == 13
    assert config["evaluation"]["evolution_max_windows"] == 0
    assert not config["image_classifier"]["augment"] and not config["audio_classifier"]["batch_norm"]
    assert not config["training"]["amp"]
    assert config["gan"]["epochs"] == 100  # the paper preset's sizes stay


def test_paper_presets_header_lists_what_paper_exact_changes():
    header = "".join(line for line in (PRESETS / "paper.yaml").read_text().splitlines(True) if line.startswith("#"))
    for key in ("gan.i2s.resize", "evaluation.evolution_max_windows", "image_classifier.augment", "training.amp"):
        assert key.split(".")[-1] in header, key
