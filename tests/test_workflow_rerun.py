"""A changed setting retrains instead of reusing stale weights, through Snakemake on the tiny config.

The case a new user found: train the LMS audio classifier and the sound autoencoder, change
``features.top_db`` (the stores keep their shapes) and run again. Snakemake reruns the feature
store and both trainings; each must start afresh (the run fingerprint of its checkpoint no
longer matches) and end with the weights of a fresh run under the new setting, not resume
after its last epoch with the old ones. A changed ``seed`` must retrain the autoencoder without
an error, and where a job runs (``training.device``, ``training.amp``) reruns nothing.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from workflow_helpers import TINY_RUN, planned_rules, snakemake

pytestmark = pytest.mark.workflow

CLASSIFIER = "results/audio_classifiers/lms_4/seed_0/model.pt"
AUTOENCODER = "results/sound_autoencoder/model.pt"
TARGETS = (CLASSIFIER, "results/embeddings/sound_autoencoder.npy")
MODELS = (CLASSIFIER, AUTOENCODER)


def with_configs(*extra: str) -> tuple[str, ...]:
    return ("--configfile", "config.yaml", "tiny.yaml", *extra)


def weights(workdir, model: str) -> dict[str, torch.Tensor]:
    states = torch.load(workdir / model, weights_only=True)["models"]
    return {f"{net}.{name}": value for net, state in states.items() for name, value in state.items()}


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def runs(tiny_all_run, tmp_path_factory):
    """(old, fresh, weights before the change): ``old`` a copy of the session's tiny `all`
    (trained with the default top_db), rerun with top_db 50; ``fresh`` a copy of ``old`` made
    before the change (same data stage, no feature store, no trained model, no checkpoint) run
    with top_db 50 from scratch. Both run as the tiny `all` did (TINY_RUN), so equal means equal."""
    old = tmp_path_factory.mktemp("rerun_old") / "wd"
    # copy2 keeps modification times, so the copy is as up to date as the run it copies.
    shutil.copytree(tiny_all_run, old, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    assert planned_rules(old, *TARGETS) == {}
    before = {model: weights(old, model) for model in MODELS}
    fresh = tmp_path_factory.mktemp("rerun_fresh") / "wd"
    shutil.copytree(old, fresh, symlinks=True)
    for folder in ("audio_classifiers", "sound_autoencoder", "features", "embeddings"):
        shutil.rmtree(fresh / "results" / folder)
    for workdir in (old, fresh):
        (workdir / "top_db.yaml").write_text("features: {top_db: 50}\n")
    snakemake(fresh, *TINY_RUN, *TARGETS, *with_configs("top_db.yaml"))
    snakemake(old, *TINY_RUN, *TARGETS, *with_configs("top_db.yaml"))
    # The extra config files of old's last run (a test that runs old again adds its own).
    return old, fresh, before, ["top_db.yaml"]


def test_changed_top_db_retrains_to_the_weights_of_a_fresh_run(runs):
    old, fresh, before, _ = runs
    for model in MODELS:
        after = weights(old, model)
        assert equal(after, weights(fresh, model)), f"{model}: not the weights of a fresh run with top_db 50"
        assert not equal(after, before[model]), f"{model}: still the weights trained with the old top_db"


def test_the_rerun_logs_say_why_training_started_afresh(runs):
    old, _, _, _ = runs
    for log in ("results/logs/audio_classifiers/lms_4_seed_0.log", "results/logs/sound_autoencoder.log"):
        text = (old / log).read_text()
        assert "starting afresh" in text and "inputs" in text, log
        assert "resuming" not in text, log


def test_where_jobs_run_is_not_a_reason_to_rerun_them(runs):
    old, _, _, last_configs = runs
    (old / "cpu.yaml").write_text("training: {device: cpu, amp: false}\n")
    assert planned_rules(old, *TARGETS, extra=with_configs(*last_configs)) == {}
    assert planned_rules(old, *TARGETS, extra=with_configs(*last_configs, "cpu.yaml")) == {}


def test_a_changed_seed_retrains_the_autoencoder_without_error(runs):
    old, _, _, last_configs = runs
    trained = weights(old, AUTOENCODER)
    (old / "seed.yaml").write_text("seed: 1\n")
    last_configs.append("seed.yaml")
    snakemake(old, *TINY_RUN, *TARGETS, *with_configs(*last_configs))
    assert torch.load(old / AUTOENCODER, weights_only=True)["extra"]["seed"] == 1
    assert not equal(weights(old, AUTOENCODER), trained)
