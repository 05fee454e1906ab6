"""Config validation: defaults filled, mistakes refused with the key's name."""

import copy
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crossmodal.config import MALLOC_TUNABLES, REPO_ROOT, ConfigError, job_shell_prefix, load_config, validate_config


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


# A process that allocates 20 x 4 MB, frees it all and starts again, 20 times: glibc's default
# trims the freed heap back to the kernel each round and faults it in again (~390,000 minor
# faults), the tuned thresholds keep it (~20,000).
_REALLOCATING = """
import resource
import numpy as np
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    arrays = [np.ones(500_000) for _ in range(20)]
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _under_prefix(script: str, env: dict) -> str:
    command = job_shell_prefix(str(Path(sys.executable).parent)) + script
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, check=True).stdout.strip()


def test_job_prefix_sets_malloc_tunables_unless_the_user_has():
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    assert _under_prefix('echo "$GLIBC_TUNABLES"', env) == MALLOC_TUNABLES
    assert _under_prefix('echo "$GLIBC_TUNABLES"', {**env, "GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}) == "glibc.malloc.arena_max=1"
    with pytest.raises(subprocess.CalledProcessError):  # strict mode: a failing command fails the job
        _under_prefix("false; echo reached", env)


def test_job_prefix_keeps_freed_memory_in_the_process():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("GLIBC_TUNABLES is glibc's")
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    default = int(subprocess.run([sys.executable, "-c", _REALLOCATING], env=env, capture_output=True,
                                 text=True, check=True).stdout)
    tuned = int(_under_prefix(f"{sys.executable} -c '{_REALLOCATING}'", env))
    assert default > 200_000  # 20 rounds x 20,000 pages: glibc gives the memory back each round
    assert tuned < default / 5
