"""Evaluation numbers: accuracies, the judge helper, the Frechet distance, checkpoint choice."""

import numpy as np
import pandas as pd
import pytest

from crossmodal.evaluation import metrics


def test_accuracy_counts_matching_labels():
    assert metrics.accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == pytest.approx(0.75)


def test_accuracy_of_no_samples_is_nan_and_mismatched_lengths_are_refused():
    assert np.isnan(metrics.accuracy(np.array([], dtype=int), np.array([], dtype=int)))
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        metrics.accuracy(np.array([0, 1, 2]), np.array([0, 1]))


def test_float_predictions_are_refused_as_labels():
    with pytest.raises(ValueError, match="integer"):
        metrics.accuracy(np.array([0.0, 1.0]), np.array([0, 1]))


def test_per_class_accuracy_reports_absent_classes_as_nan_not_zero():
    predictions = np.array([0, 0, 1, 3, 3])
    labels = np.array([0, 1, 1, 3, 3])
    per_class = metrics.per_class_accuracy(predictions, labels, n_classes=4)
    assert per_class[0] == 1.0
    assert per_class[1] == 0.5
    assert np.isnan(per_class[2])
    assert per_class[3] == 1.0


def test_confusion_matrix_rows_are_true_labels_and_columns_predictions():
    matrix = metrics.confusion_matrix(np.array([1, 1, 0, 2]), np.array([0, 1, 0, 2]), n_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="outside 0..2"):
        metrics.confusion_matrix(np.array([3]), np.array([0]), n_classes=3)


def test_judge_accuracy_takes_argmax_of_scores_batch_by_batch():
    # A judge that reads the class off the first pixel, answering with one-hot scores.
    samples = np.zeros((7, 2, 2), dtype=np.float32)
    samples[:, 0, 0] = [0, 1, 2, 2, 1, 0, 2]
    labels = np.array([0, 1, 2, 1, 1, 0, 0])
    seen = []

    def judge(batch):
        seen.append(len(batch))
        return np.eye(3)[batch[:, 0, 0].astype(int)]

    scores = metrics.judge_accuracy(judge, samples, labels, n_classes=3, batch_size=3)
    assert seen == [3, 3, 1]
    assert scores.n == 7
    assert scores.accuracy == pytest.approx(5 / 7)
    assert scores.per_class.tolist() == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert scores.predictions.tolist() == [0, 1, 2, 2, 1, 0, 2]
    assert scores.confusion.sum() == 7


def test_judge_answering_the_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.judge_predictions(lambda b: np.zeros(len(b) + 1), np.zeros((4, 3)), batch_size=4)


def test_frechet_distance_of_1d_gaussians_matches_the_closed_form():
    # 1-d: (mu1 - mu2)^2 + s1^2 + s2^2 - 2 s1 s2 = (mu1 - mu2)^2 + (s1 - s2)^2.
    a = np.array([[0.0], [2.0]])        # mean 1, unbiased variance 2
    b = np.array([[3.0], [5.0], [7.0]])  # mean 5, unbiased variance 4
    expected = (1 - 5) ** 2 + (np.sqrt(2) - 2) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_2d_diagonal_gaussians_by_hand():
    # Diagonal covariances: the distance adds up per axis.
    mu1, sigma1 = np.array([0.0, 1.0]), np.diag([1.0, 4.0])
    mu2, sigma2 = np.array([1.0, 1.0]), np.diag([9.0, 1.0])
    expected = 1.0 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert metrics.frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2) == pytest.approx(expected)


def test_frechet_distance_of_a_set_with_itself_is_about_zero_for_128d_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 128)) @ rng.normal(size=(128, 128)) * 0.1
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6 * np.trace(np.cov(x.T)))
    shifted = metrics.frechet_distance(x, x + 1.0)
    assert shifted == pytest.approx(128.0, rel=1e-3)


def test_frechet_distance_survives_singular_covariances_from_few_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(10, 128)), rng.normal(size=(12, 128))
    value = metrics.frechet_distance(a, b)
    assert np.isfinite(value) and value > 0


def test_frechet_distance_needs_two_samples_and_matching_dimensions():
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="do not match"):
        metrics.frechet_distance(np.random.rand(5, 4), np.random.rand(5, 3))


def test_best_checkpoint_is_the_best_test_accuracy_reported_beside_the_last():
    history = pd.DataFrame({
        "epoch": [20, 5, 10, 15],
        "train_accuracy": [0.3, 0.5, 0.9, 0.8],
        "test_accuracy": [0.2, 0.4, 0.7, 0.7],
    })
    rows = metrics.best_and_last_checkpoint(history)
    assert rows["checkpoint"].tolist() == ["best", "last"]
    assert rows["epoch"].tolist() == [10, 20]   # tie at 0.7: the earlier epoch
    assert rows["train_accuracy"].tolist() == [0.9, 0.3]


def test_best_checkpoint_ignores_nan_and_names_a_missing_column():
    history = pd.DataFrame({"epoch": [1, 2], "test_accuracy": [np.nan, 0.1]})
    assert metrics.best_and_last_checkpoint(history)["epoch"].tolist() == [2, 2]
    with pytest.raises(ValueError, match="'fid'"):
        metrics.best_and_last_checkpoint(history, metric="fid")
    lower = pd.DataFrame({"epoch": [1, 2, 3], "fid": [5.0, 2.0, 3.0]})
    assert metrics.best_and_last_checkpoint(lower, "fid", higher_is_better=False)["epoch"].tolist() == [2, 3]
