"""Bootstrap over tracks: intervals on cases whose answer is known, Spearman, the summary."""

import numpy as np
import pandas as pd
import pytest

from crossmodal.evaluation import stats


def _tracks(n_tracks: int, per_track: int, seed: int = 0):
    """Each track's windows share one value (as a player's windows do): [n] values and groups."""
    rng = np.random.default_rng(seed)
    track_values = rng.normal(5.0, 2.0, n_tracks)
    return np.repeat(track_values, per_track), np.repeat(np.arange(n_tracks), per_track), track_values


def test_interval_of_a_mean_matches_the_normal_theory_interval_over_tracks():
    values, groups, track_values = _tracks(400, 6)
    low, high = stats.bootstrap_ci(np.mean, groups, values, n_boot=2000)
    half = 1.96 * track_values.std(ddof=1) / np.sqrt(len(track_values))
    assert (low + high) / 2 == pytest.approx(values.mean(), abs=0.15 * half)
    assert (high - low) / 2 == pytest.approx(half, rel=0.12)


def test_copies_of_a_tracks_windows_do_not_narrow_the_interval():
    """Ten windows per track carry no more information than one: resampling tracks knows it."""
    one, groups_one, _ = _tracks(60, 1, seed=3)
    ten, groups_ten, _ = _tracks(60, 10, seed=3)
    width_one = np.subtract(*stats.bootstrap_ci(np.mean, groups_one, one, n_boot=1000)[::-1])
    width_ten = np.subtract(*stats.bootstrap_ci(np.mean, groups_ten, ten, n_boot=1000)[::-1])
    assert width_ten == pytest.approx(width_one, rel=0.1)


def test_accuracy_interval_agrees_with_the_generic_bootstrap_and_with_theory():
    rng = np.random.default_rng(1)
    track_acc = rng.uniform(0.2, 0.9, 300)
    correct = np.concatenate([rng.random(20) < a for a in track_acc])
    groups = np.repeat(np.arange(300), 20)
    fast = stats.accuracy_ci(correct, groups, n_boot=2000)
    slow = stats.bootstrap_ci(np.mean, groups, correct, n_boot=2000)
    assert fast == pytest.approx(slow, abs=0.006)
    per_track = correct.reshape(300, 20).mean(1)
    half = 1.96 * per_track.std(ddof=1) / np.sqrt(300)
    assert (fast[1] - fast[0]) / 2 == pytest.approx(half, rel=0.12)
    assert fast[0] < correct.mean() < fast[1]


def test_identical_tracks_give_a_point_interval_and_one_track_gives_none():
    assert stats.accuracy_ci(np.ones(30, bool), np.repeat(np.arange(3), 10)) == (1.0, 1.0)
    assert np.isnan(stats.accuracy_ci(np.ones(5, bool), np.zeros(5, int))).all()
    assert np.isnan(stats.bootstrap_ci(np.mean, np.zeros(4, int), np.arange(4.0))).all()


def test_intervals_are_reproducible_for_a_seed():
    values, groups, _ = _tracks(30, 4)
    assert stats.bootstrap_ci(np.mean, groups, values, seed=7) == stats.bootstrap_ci(np.mean, groups, values, seed=7)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 samples for 4 group labels"):
        stats.bootstrap_ci(np.mean, np.arange(4), np.arange(3.0))
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_ci(np.mean, np.arange(4), np.arange(4.0), level=95)


def test_spearman_is_rank_correlation_and_zero_for_a_constant_side():
    x = np.arange(10.0)
    assert stats.spearman(x, x ** 3) == pytest.approx(1.0)
    assert stats.spearman(x, -x) == pytest.approx(-1.0)
    assert stats.spearman(x, np.full(10, 2.0)) == 0.0
    assert np.isnan(stats.spearman(x[:2], x[:2]))


def test_instrument_summary_counts_instruments_above_chance_and_names_the_worst():
    per_instrument = pd.Series({"violin": 0.9, "viola": 0.05, "cello": 0.5, "tuba": np.nan})
    summary = stats.instrument_summary(per_instrument, chance=1 / 13)
    assert summary == {"instruments": 3, "above_chance": 2, "worst_instrument": "viola", "worst_accuracy": 0.05}


def test_score_rows_with_tracks_carry_intervals_and_the_instrument_summary():
    from crossmodal.evaluation.metrics import score_rows

    labels = np.repeat([0, 1, 2], 40)
    predictions = np.where(labels == 2, 0, labels)          # instrument 2 always wrong
    predictions[:10] = 1                                     # instrument 0: one of its 4 tracks wrong
    tracks = np.repeat(np.arange(12), 10)
    rows = score_rows("S2I-C", "test", labels, predictions, float("nan"), classes=("a", "b", "c"), groups=tracks)
    overall, a, b, c = rows
    assert overall["accuracy"] == pytest.approx(70 / 120)
    assert overall["ci_low"] < overall["accuracy"] < overall["ci_high"]
    assert (overall["instruments"], overall["above_chance"], overall["worst_instrument"]) == (3, 2, "c")
    assert (b["ci_low"], b["ci_high"]) == (1.0, 1.0) and (c["ci_low"], c["ci_high"]) == (0.0, 0.0)
    assert a["ci_low"] < 0.75 < a["ci_high"]
    assert "ci_low" not in score_rows("real", "test", labels, predictions, float("nan"), classes=("a", "b", "c"))[0]


def test_table1_carries_an_interval_over_test_tracks_pooled_over_seeds():
    from crossmodal.sound.table1 import table1

    def result(seed, tallies):
        return {"representation": "lms", "conv_layers": 4, "seed": seed, "per_class": {}, "confusion": [],
                "test_accuracy": sum(h for h, _ in tallies.values()) / sum(n for _, n in tallies.values()),
                "test_tracks": tallies}

    tracks = {f"t{i}": [i % 5, 4] for i in range(40)}  # accuracies 0, .25, .5, .75, 1 over tracks
    table = table1([result(0, tracks), result(1, tracks)])
    row = table.iloc[0]
    assert row["LMS"] == 50.0
    half = 1.96 * 100 * np.std([i % 5 / 4 for i in range(40)], ddof=1) / np.sqrt(40)
    assert row["LMS_ci_low"] == pytest.approx(50 - half, abs=2.5)
    assert row["LMS_ci_high"] == pytest.approx(50 + half, abs=2.5)
    without = table1([{k: v for k, v in result(0, tracks).items() if k != "test_tracks"}])
    assert "LMS_ci_low" not in without.columns
