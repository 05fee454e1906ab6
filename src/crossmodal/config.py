"""Loading and validating the workflow configuration.

The Snakefile and the command-line interface both call :func:`validate_config`, so a run with
Snakemake and a step run by hand see the same defaults and refuse the same mistakes. Errors
name the offending key as a dotted path (``dataset.stride_s``).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from crossmodal.models import S2I_IMAGE_SIZE

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def _with_defaults(validator_class):
    """A validator that fills each property's ``default`` before checking it (as Snakemake does)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        # The unknown key is in the message, not the path; name it fully.
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
        return ".".join(filter(None, [path, extra[0] if extra else ""]))
    return path or "<top level>"


def validate_config(config: dict[str, Any], schema_path: Path = CONFIG_SCHEMA) -> dict[str, Any]:
    """Fills defaults into ``config`` in place, checks it, and returns it.

    Raises ConfigError naming the first bad key: unknown keys, wrong types, impossible values
    (a stride <= 0, a window shorter than the stride, a local source without a root, ...).
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            raise ConfigError(f"config key {_key(err)!r} is not a known setting (check its spelling)")
        raise ConfigError(f"config key {_key(err)!r}: {err.message}")
    _check_consistency(config)
    return config


def _check_consistency(config: dict[str, Any]) -> None:
    ds = config["dataset"]
    if ds["window_s"] < ds["stride_s"]:
        raise ConfigError(
            f"config key 'dataset.window_s': the window ({ds['window_s']} s) is shorter than "
            f"the stride ({ds['stride_s']} s), so audio between windows would never be used"
        )
    if ds["image_size"] != S2I_IMAGE_SIZE:
        raise ConfigError(
            f"config key 'dataset.image_size': the S2I networks generate {S2I_IMAGE_SIZE}x{S2I_IMAGE_SIZE} images "
            f"(Sec. 3.1), so the pairs' images must be {S2I_IMAGE_SIZE} pixels square; got {ds['image_size']}"
        )
    data = config["data"]
    if data["source"] == "local" and not data["local_root"]:
        raise ConfigError("config key 'data.local_root': must name the URMP Dataset/ folder when data.source is local")
    if data["source"] == "suburmp" and not data["suburmp_root"]:
        raise ConfigError("config key 'data.suburmp_root': must name the folder holding Sub-URMP's img/ and chunk/ "
                          "when data.source is suburmp")
    if data["source"] == "suburmp" and config["split"]["file"]:
        raise ConfigError("config key 'split.file': does not apply to data.source suburmp, whose split is the "
                          "release's (train / validation)")
    if data["source"] == "download":
        if not data["download"]["url"]:
            raise ConfigError("config key 'data.download.url': must be set when data.source is download")
        if data["download"]["mode"] == "files" and not data["pieces"]:
            raise ConfigError("config key 'data.pieces': download mode 'files' needs the list of pieces to fetch")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reads a YAML config (the repository's config.yaml by default), applies overrides, validates."""
    path = Path(path) if path else REPO_ROOT / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    for dotted, value in (overrides or {}).items():
        node = config
        *parents, leaf = dotted.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return validate_config(config)


# ---------------------------------------------------------------- config keys -> steps' flags
# Kept free of heavy imports: the rule files import these to build each rule's ``params``, so a
# change of, say, ``features.n_mfcc`` reruns the MFCC store (and what reads it) and nothing else.

#: Representation -> the ``features:`` keys its store depends on.
FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "stft": ("n_fft", "hop_length"),
    "ms": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm"),
    "lms": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm", "ref", "amin", "top_db"),
    "mfcc": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "htk", "mel_norm", "ref", "amin", "top_db", "n_mfcc"),
    "cqt": ("hop_length", "cqt_fmin", "cqt_n_bins", "cqt_bins_per_octave"),
}

#: ``features:`` keys that turn an LMS back into sound (eval-i2s's Griffin-Lim).
LMS_INVERSION_PARAMS: tuple[str, ...] = ("n_fft", "hop_length", "fmin", "fmax", "htk", "mel_norm", "ref")

#: ``audio_classifier:`` keys one classifier depends on (the step's flags).
CLASSIFIER_PARAMS: tuple[str, ...] = (
    "epochs", "batch_size", "learning_rate", "channels", "fc_units", "dropout", "dropout_is", "l2",
    "batch_norm", "max_freq_bins", "standardise",
)

#: ``autoencoder:`` keys the autoencoder depends on.
AUTOENCODER_PARAMS: tuple[str, ...] = ("fit", "channels", "epochs_per_stack", "batch_size", "learning_rate", "standardise")

#: ``image_classifier:`` keys the image classifier depends on.
IMAGE_CLASSIFIER_PARAMS: tuple[str, ...] = (
    "epochs", "batch_size", "learning_rate", "decay", "weight_decay", "channels", "fc_units", "dropout", "pool", "augment",
)

#: ``gan:`` keys every GAN depends on, and per kind the keys of ``gan.s2i`` / ``gan.i2s``.
GAN_PARAMS: tuple[str, ...] = (
    "epochs", "batch_size", "learning_rate_g", "learning_rate_d", "beta1", "beta2", "z_dim", "condition_dim",
    "keep_every", "sample_columns", "balance", "ema_decay",
)
GAN_KIND_PARAMS: dict[str, tuple[str, ...]] = {
    "s2i": ("ngf", "ndf"),
    "i2s": ("ngf", "ndf", "generator_extra_layers", "discriminator_extra_layers", "resize"),
}
#: ``gan:`` keys a group of models may set for itself in ``gan.s2i``, ``gan.i2s`` or ``gan.pose``
#: (null or absent: the shared value). A pose model sees one instrument's pairs, a tenth of
#: S2I-C's, so the same epochs would give it a tenth of the updates.
GAN_GROUP_PARAMS: tuple[str, ...] = ("epochs", "learning_rate_g", "learning_rate_d", "keep_every")


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return " ".join(_value(v) for v in value)
    return str(value)


def cli_flags(section: Mapping[str, Any], keys: Iterable[str]) -> str:
    """``--key-name value`` for each key of ``section`` (lists space-separated, None as none)."""
    return " ".join(f"--{key.replace('_', '-')} {_value(section[key])}" for key in keys)


class Untracked:
    """A rule ``params`` value that Snakemake does not record, so changing it reruns nothing.

    Snakemake records params of plain types (str, int, list, ...) with each output and reruns a
    job when one changes; any other object is left out. Where a job runs (``training.device``,
    ``training.amp``) is such a value: moving to a GPU must not retrain every model trained on
    the CPU. In a shell command it renders as its value.
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        return _value(self.value)

    def __repr__(self) -> str:
        return f"Untracked({self.value!r})"


#: glibc malloc settings every workflow job runs with. By default glibc hands a freed block above
#: its (moving) mmap threshold back to the kernel and maps it afresh on the next allocation, so a
#: training page-faults its activations in again at every batch: one demo S2I-C epoch took
#: 780,000 page faults and 3 s of system time. With fixed thresholds the memory stays in the
#: process (136,000 faults; the same weights bit for bit; the demo's `all` timings are in the
#: README). 32 MiB is the highest mmap threshold glibc accepts, so blocks above it were still
#: mapped afresh each time: a 256-image batch through Gamma, or the sound autoencoder's encoding
#: pass, spent as much system time as compute (encode-sound 22.4 s, 10.3 s of it system).
#: ``mmap_max=0`` serves those from the heap too (11.7 s, 0.9 s system; the same bytes out).
#: Other C libraries ignore the variable.
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"
                   ":glibc.malloc.mmap_max=0")


def job_shell_prefix(bin_dir: str) -> str:
    """The bash lines every workflow job's shell command starts with: strict mode (Snakemake's
    own default, which setting a prefix replaces), ``bin_dir`` (the venv's) first on PATH, and
    GLIBC_TUNABLES = MALLOC_TUNABLES unless the environment already sets it."""
    return (f'set -euo pipefail; PATH="{bin_dir}:$PATH";'
            f' export GLIBC_TUNABLES="${{GLIBC_TUNABLES:-{MALLOC_TUNABLES}}}"; ')


def gan_flags(gan: Mapping[str, Any], kind: str, group: str | None = None) -> str:
    """The train-gan flags of one GAN kind: the shared ``gan:`` keys, replaced by those that
    ``gan.<group>`` (default ``gan.<kind>``) sets (GAN_GROUP_PARAMS), and those of ``gan.<kind>``."""
    own = gan.get(group or kind) or {}
    shared = {**gan, **{key: own[key] for key in GAN_GROUP_PARAMS if own.get(key) is not None}}
    return cli_flags(shared, GAN_PARAMS) + " " + cli_flags(gan[kind], GAN_KIND_PARAMS[kind])


# ---------------------------------------------------------------- and back: the steps' parsers
def section_defaults(section: str) -> dict[str, Any]:
    """The schema's defaults of one config section (a step's flag defaults, so both agree)."""
    return validate_config({})[section]


def none_or(kind):
    """argparse type reading what :func:`cli_flags` writes for None: ``none`` -> None, else ``kind(text)``."""
    def parse(text: str):
        return None if text.lower() in {"none", "null"} else kind(text)
    parse.__name__ = kind.__name__
    return parse


def add_device_arguments(parser: argparse.ArgumentParser, amp: bool = True) -> None:
    """--device, --threads (and --amp) of every step that runs a network, defaults from ``training:``.

    The rules pass config ``training.device`` / ``training.amp`` through these flags;
    :func:`crossmodal.training.device_from` turns them into a torch device.
    """
    defaults = section_defaults("training")
    parser.add_argument("--device", default=defaults["device"], help="auto, cpu, cuda or cuda:N (default %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    if amp:
        parser.add_argument("--amp", type=int, choices=[0, 1], default=int(defaults["amp"]),
                            help="mixed precision on CUDA (1/0)")
