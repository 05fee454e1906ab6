"""Config validation: defaults filled, mistakes refused with the key's name."""

import copy

import pytest
import yaml

from crossmodal.config import REPO_ROOT, ConfigError, load_config, validate_config


def default_config():
    return yaml.safe_load((REPO_ROOT / "config.yaml").read_text())


def test_default_config_validates_and_fills_paper_values():
    config = validate_config(default_config())
    assert config["data"]["source"] == "demo"
    assert config["dataset"] == {"window_s": 0.5, "stride_s": 0.1, "audio_sr": 44100, "image_size": 64, "panel_fit": "pad"}
    assert config["split"]["train_fraction"] == 0.8
    assert len(config["instruments"]) == 13
    assert config["paths"] == {"results": "results", "resources": "resources"}


def test_empty_config_gets_every_default():
    config = validate_config({})
    assert config["demo"]["fps"] == "30000/1001"
    assert config["seed"] == 0


@pytest.mark.parametrize(
    "dotted, value, key",
    [
        ("dataset.strde_s", 0.1, "dataset.strde_s"),
        ("bogus", 1, "bogus"),
        ("dataset.stride_s", 0, "dataset.stride_s"),
        ("dataset.stride_s", -0.1, "dataset.stride_s"),
        ("dataset.image_size", "64", "dataset.image_size"),
        ("split.train_fraction", 1.5, "split.train_fraction"),
        ("data.source", "ftp", "data.source"),
        ("instruments", ["violin", "piano"], "instruments.1"),
    ],
)
def test_bad_values_are_refused_naming_the_key(dotted, value, key):
    config = default_config()
    node = config
    *parents, leaf = dotted.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert f"'{key}'" in str(err.value)


def test_window_shorter_than_stride_is_refused():
    config = default_config()
    config["dataset"].update(window_s=0.1, stride_s=0.2)
    with pytest.raises(ConfigError, match="dataset.window_s"):
        validate_config(config)


def test_source_specific_keys_are_required():
    config = copy.deepcopy(default_config())
    config["data"]["source"] = "local"
    with pytest.raises(ConfigError, match="data.local_root"):
        validate_config(config)
    config["data"]["source"] = "download"
    with pytest.raises(ConfigError, match="data.download.url"):
        validate_config(config)


def test_load_config_applies_dotted_overrides_and_reports_bad_yaml(tmp_path):
    config = load_config(overrides={"dataset.stride_s": 0.2})
    assert config["dataset"]["stride_s"] == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(bad)


@pytest.mark.parametrize("size", [32, 128])
def test_an_image_size_the_s2i_networks_refuse_is_refused_at_validation(size):
    config = default_config()
    config["dataset"]["image_size"] = size
    with pytest.raises(ConfigError, match=r"'dataset.image_size'.*64x64.*got " + str(size)):
        validate_config(config)
    config["dataset"]["image_size"] = 64
    assert validate_config(config)["dataset"]["image_size"] == 64


def test_untracked_params_render_their_value_but_are_not_a_plain_value():
    from crossmodal.config import Untracked

    assert f"--device {Untracked('cuda:1')} --amp {Untracked(True)}" == "--device cuda:1 --amp 1"
    # Snakemake records (and reruns on) params of plain types only.
    assert not isinstance(Untracked("cpu"), (str, int, float, bool, list, tuple, dict, set, bytes))


def test_gan_groups_replace_only_the_training_keys_they_set():
    """gan.pose.epochs reaches the pose models' flags; S2I and I2S keep the shared epochs."""
    from crossmodal.config import gan_flags

    gan = validate_config({"gan": {"epochs": 8, "keep_every": 1, "learning_rate_d": 0.0002,
                                   "pose": {"epochs": 40, "keep_every": 10}, "i2s": {"learning_rate_d": 0.001}}})["gan"]
    pose, s2i, i2s = gan_flags(gan, "s2i", "pose"), gan_flags(gan, "s2i"), gan_flags(gan, "i2s")
    assert "--epochs 40 " in pose and "--keep-every 10 " in pose and "--ngf 16 --ndf 16" in pose
    assert "--epochs 8 " in s2i and "--keep-every 1 " in s2i and "--learning-rate-d 0.0002 " in s2i
    assert "--epochs 8 " in i2s and "--learning-rate-d 0.001 " in i2s
    unset = validate_config({"gan": {"epochs": 2, "pose": {"epochs": None, "keep_every": None}}})["gan"]
    assert "--epochs 2 " in gan_flags(unset, "s2i", "pose")
