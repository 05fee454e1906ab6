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


def test_paper_preset_turns_off_the_demos_gan_training_aids():
    """The demo's averaged generator, balanced epochs and I2S step sizes must not leak into the
    paper preset stacked on config.yaml (the README's command)."""
    demo = load_config()["gan"]
    assert demo["ema_decay"] > 0 and demo["balance"] > 0 and demo["i2s"]["learning_rate_g"] is not None
    from crossmodal.config import gan_flags

    paper = _stacked("paper.yaml")["gan"]
    assert paper["ema_decay"] == 0 and paper["balance"] == 0
    flags = gan_flags(paper, "i2s")
    assert "--learning-rate-g 0.0002" in flags and "--learning-rate-d 0.0002" in flags
    assert "--ema-decay 0" in flags and "--balance 0" in flags
