"""The scorecard: one row per number the paper reports, ours beside it, the data named."""

import argparse

import numpy as np
import pandas as pd
import pytest

from crossmodal.evaluation import scorecard


def _tables():
    table1 = pd.DataFrame({"conv_layers": [3, 4], "MS": [60.0, 61.0], "LMS": [70.0, 76.34], "CQT": [1.0, 2.0],
                           "MFCC": [3.0, 4.0], "STFT": [5.0, 6.0]})
    table2 = pd.DataFrame({"instrument": ["violin", "total"], "train": [40, 40], "test": [10, 10], "total": [50, 50]})
    table5 = pd.DataFrame([
        {"method": m, "split": s, "instrument": "all", "n": 100, "accuracy": a, "ci_low": a - 0.1, "ci_high": a + 0.1,
         "instruments": 13, "above_chance": 9, "worst_instrument": "oboe", "worst_accuracy": 0.02}
        for m, s, a in [("S2I-C", "train", 0.6), ("S2I-C", "test", 0.44), ("S2I-A", "train", 0.2),
                        ("S2I-A", "test", 0.13), ("S2I-N", "train", 0.33), ("S2I-N", "test", 0.28)]]
        + [{"method": "S2I-C", "split": "test", "instrument": "violin", "n": 10, "accuracy": 0.9}])
    i2s = pd.DataFrame([{"method": "I2S", "split": "test", "instrument": "all", "n": 100, "accuracy": 0.287},
                        {"method": "real", "split": "test", "instrument": "all", "n": 100, "accuracy": 0.763}])
    image = pd.DataFrame({"split": ["test", "test"], "instrument": ["violin", "all"], "n": [5, 50],
                          "correct": [5, 48], "accuracy": [1.0, 0.961]})
    return dict(table1=table1, table2=table2, table5=table5, i2s=i2s, image_accuracy=image)


def test_scorecard_rows_carry_the_papers_numbers_beside_ours():
    card = scorecard.scorecard("demo", **_tables()).set_index("item")
    assert list(card.reset_index().columns) == list(scorecard.COLUMNS)
    lms4 = card.loc["Table 1: LMS, 4 conv layers"]
    assert (lms4["paper"], lms4["ours"]) == (87.44, 76.34)
    assert card.loc["Table 1: MFCC, 3 conv layers", "paper"] == 80.06
    assert card.filter(like="Table 1:", axis=0).shape[0] == 10
    s2i_c = card.loc["Table 5: S2I-C, test sounds"]
    assert (s2i_c["paper"], s2i_c["ours"], s2i_c["ci_low"], s2i_c["ci_high"]) == (75.56, 44.0, 34.0, 54.0)
    assert "9 of 13 instruments above chance; worst oboe 2.0%" in s2i_c["note"]
    assert card.loc["Table 5: S2I-N, train sounds", "paper"] == pytest.approx(12.62)
    i2s = card.loc["I2S: sound classifier on generated LMS (test images)"]
    assert (i2s["paper"], i2s["ours"]) == (pytest.approx(11.17), 28.7) and "76.3%" in i2s["note"]
    assert card.loc["Image classifier (Gamma): test accuracy", "ours"] == 96.1
    assert card.loc["Sound classifier (LMS, 4 conv; S2I-C's encoder): test accuracy", "paper"] == 80.0
    assert card.loc["Table 2: total pairs", "paper"] == 80805 and card.loc["Table 2: total pairs", "ours"] == 50
    human = card.loc["Human evaluation (Fig. 8): S2I-C mean score"]
    assert human["paper"] == 1.81 and np.isnan(human["ours"]) and human["note"] == "no rater scores yet"
    assert set(card["source"]) == {"demo"}


def test_source_names_the_data_so_demo_numbers_are_not_read_as_urmp():
    assert set(scorecard.scorecard("local", **_tables())["source"]) == {"URMP"}
    assert set(scorecard.scorecard("download", **_tables())["source"]) == {"URMP"}


def test_human_scores_fill_the_fig8_rows_when_raters_sent_them():
    table4 = pd.DataFrame({"instrument": ["all", "all"], "method": ["S2I-C", "ground_truth"], "mean_score": [1.5, 2.75]})
    card = scorecard.scorecard("demo", table4=table4, **_tables()).set_index("item")
    assert card.loc["Human evaluation (Fig. 8): ground_truth mean score", ["paper", "ours"]].tolist() == [2.59, 2.75]


def test_the_step_writes_csv_and_markdown_and_names_a_bad_input(tmp_path):
    paths = {}
    for name, frame in _tables().items():
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    args = argparse.Namespace(source="demo", table4=None, table3=None, inis_source="INIS", out=tmp_path / "scorecard.csv",
                              markdown=tmp_path / "scorecard.md", **{k: str(v) for k, v in paths.items()})
    scorecard.run(args)
    written = pd.read_csv(tmp_path / "scorecard.csv")
    assert len(written) == 3 + 11 + 1 + 6 + 1 + 2
    assert (tmp_path / "scorecard.md").read_text().startswith("| item | paper | ours |")
    pd.DataFrame({"method": ["x"]}).to_csv(paths["table5"], index=False)
    with pytest.raises(ValueError, match=r"table5.csv: lacks column\(s\) \['split', 'instrument', 'accuracy'\]"):
        scorecard.run(args)


def test_inis_rows_name_their_own_data():
    table3 = pd.DataFrame({"class": ["piano", "all"], "complete_songs": [3, 10], "train_pairs": [50, 400],
                           "test_pairs": [20, 150]})
    card = scorecard.scorecard("local", table3=table3, inis_source="INIS demo", **_tables()).set_index("item")
    train = card.loc["Table 3 (INIS): train pairs"]
    assert (train["paper"], train["ours"], train["source"]) == (4461, 400, "INIS demo")
    assert card.loc["Table 3 (INIS): test pairs", "paper"] == 1905
    assert card.loc["Table 1: LMS, 4 conv layers", "source"] == "URMP"
