import numpy as np
import pytest

from foretune.predictors import Prediction, metrics


def test_rank_correlations():
    assert metrics.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [40, 30, 20, 10]) == pytest.approx(-1.0)
    # One swapped adjacent pair out of 6 pairs: tau = (5 - 1) / 6.
    assert metrics.kendall([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)
    # d^2 = 2 for one adjacent swap: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert metrics.spearman([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(0.8)
    assert np.isnan(metrics.spearman([1, 1, 1], [1, 2, 3]))  # constant prediction: undefined


@pytest.mark.parametrize("mode", ["max", "min"])
def test_top_k_regret_and_survival(mode):
    true = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    predicted = np.array([0.5, 0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0])  # the best run looks 5th
    if mode == "min":
        true, predicted = -true, -predicted
    assert metrics.top_k_overlap(predicted, true, k=3, mode=mode) == 2  # runs 1, 2 of the true 0, 1, 2
    assert metrics.top_k_overlap(predicted, true, k=5, mode=mode) == 5
    assert metrics.regret(predicted, true, mode=mode) == pytest.approx(0.1)  # picks run 1: 0.8 vs 0.9
    assert not metrics.best_survives(predicted, true, q=0.2, mode=mode)  # keeps 2 of 10: runs 1, 2
    assert metrics.best_survives(predicted, true, q=0.5, mode=mode)  # keeps 5: run 0 is 5th
    assert metrics.regret(true, true, mode=mode) == 0.0


def test_mae_and_coverage():
    assert metrics.mae([1.0, 2.0], [1.5, 1.0]) == pytest.approx(0.75)
    assert metrics.coverage([0, 0, 0, 0], [1, 1, 1, 1], [0.5, 1.0, 1.5, -0.1]) == pytest.approx(0.5)


def test_evaluate_has_every_metric():
    prediction = Prediction(np.array([3.0, 2.0, 1.0]), np.array([2.5, 1.5, 0.5]), np.array([3.5, 2.5, 1.5]))
    scores = metrics.evaluate(prediction, [3.1, 2.2, 0.0], mode="max", k=1, q=0.34)
    assert set(scores) == set(metrics.METRICS)
    assert scores["spearman"] == pytest.approx(1.0) and scores["top_k"] == 1 and scores["best_survives"] == 1
    assert scores["coverage"] == pytest.approx(2 / 3)


def test_evaluate_ranks_by_order_where_given_and_scores_the_prediction_itself():
    # Clipped into [0, 1], runs 0 and 1 tie at 1.0; `order` (before clipping) still puts run 0 first.
    clipped = Prediction(np.array([1.0, 1.0, 0.5]), np.array([0.9, 0.8, 0.4]), np.array([1.0, 1.0, 0.6]))
    true = [0.95, 0.9, 0.5]
    tied = metrics.evaluate(clipped, true, mode="max", k=1)
    ordered = metrics.evaluate(clipped, true, mode="max", k=1, order=np.array([1.2, 1.1, 0.5]))
    assert tied["spearman"] < 1.0 and ordered["spearman"] == pytest.approx(1.0)
    assert ordered["kendall"] == pytest.approx(1.0) and ordered["top_k"] == 1
    assert ordered["mae"] == tied["mae"] == pytest.approx((0.05 + 0.1) / 3)  # the clipped finals' errors
    assert ordered["coverage"] == tied["coverage"] == pytest.approx(1.0)


def test_bad_metric_inputs():
    with pytest.raises(ValueError, match="equal length"):
        metrics.spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        metrics.mae([np.nan], [1.0])
    with pytest.raises(ValueError, match="q must be"):
        metrics.best_survives([1, 2], [1, 2], q=0)


def test_rank_correlations_handle_ties():
    # Hand-checked: ranks of [1, 1, 2] are [1.5, 1.5, 3]; Pearson with [1, 2, 3] is sqrt(3)/2.
    assert metrics.spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(np.sqrt(3) / 2)
    # tau-b: pairs (1,2) tied in predicted; S = 2 concordant; sqrt(2 * 3) in the denominator.
    assert metrics.kendall([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(6))
