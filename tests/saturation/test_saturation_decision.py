"""The answer shown: the window mode of the predictive distribution (a Bayes decision for "within x1.5")."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.predictors.saturation import SaturationModel, decision
from foretune.predictors.saturation.direct import GROUPS, design_table, nearest_design_rows

GRID = np.log(16.0) + np.log(np.sqrt(2.0)) * np.arange(11)  # LCDB's anchors: 16 x sqrt(2)^k


def _within(answer: float, draws: np.ndarray) -> float:
    """Share of the draws (log truths) within x1.5 of the log `answer`."""
    return float(np.mean(np.abs(draws - answer) <= decision.HIT + 1e-9))


def test_the_answer_is_the_window_mode_not_the_median() -> None:
    # 42% of the truth on the first anchor, 10% alone in the middle, 48% over three neighbouring anchors
    # at the top: the median (the middle anchor) is within x1.5 of the truth 10% of the time, a point
    # among the three top anchors 48%.
    draws = np.repeat(GRID[[0, 5, 8, 9, 10]], [42, 10, 16, 16, 16])
    median = float(np.median(draws))
    assert median == pytest.approx(GRID[5])
    answer = decision.window_mode(draws, GRID, near=median)
    assert _within(answer, draws) == pytest.approx(0.48)
    assert _within(median, draws) == pytest.approx(0.10)
    # Of the points whose window holds the 48%, the one nearest the median: the window's low end.
    assert answer == pytest.approx(GRID[10] - decision.HIT)


def test_draws_are_put_on_the_support_before_the_window_is_chosen() -> None:
    # Draws between anchors count for the anchor nearest them; beyond the last size (max_n) for max_n.
    draws = np.concatenate([GRID[[2, 2, 2]] + 0.1, [GRID[-1] + 3.0] * 4])
    assert decision.window_mode(draws, GRID, near=GRID[2]) == pytest.approx(GRID[-1] - decision.HIT)
    # Without the support the four far draws stand alone at GRID[-1] + 3, and they still outnumber the three.
    assert decision.window_mode(draws, None, near=GRID[2]) == pytest.approx(GRID[-1] + 3.0 - decision.HIT)


def test_truth_support_continues_the_measured_grid_to_max_n() -> None:
    sizes = np.array([16.0, 23.0, 32.0, 45.0, 64.0])
    support = np.exp(decision.truth_support(sizes, 2588.0))
    assert support[:5] == pytest.approx(sizes) and support[-1] == pytest.approx(2588.0)
    assert support[-2] == pytest.approx(2048.0, rel=0.03) and np.all(np.diff(np.log(support)) > 0.2)
    doubling = np.exp(decision.truth_support(np.array([50.0, 100.0, 200.0]), 1000.0))
    assert doubling == pytest.approx([50.0, 100.0, 200.0, 400.0, 800.0, 1000.0])
    assert decision.truth_support(np.array([10.0, 11.0, 50.0, 400.0]), 1000.0) is None  # no grid
    assert decision.truth_support(np.array([10.0, 20.0]), 1000.0) is None  # two sizes say no grid


def test_shipped_decision_table_is_sorted_and_the_model_keeps_its_interval_around_the_answer() -> None:
    for group in GROUPS:
        assert decision.DECISION_RESIDUALS[group].shape == (40,)
        assert np.all(np.diff(decision.DECISION_RESIDUALS[group]) >= 0)
    sizes = np.array([16.0, 23.0, 32.0, 45.0, 64.0, 91.0])
    result = SaturationModel(epsilon=0.01, n_bootstrap=10).fit(sizes, 0.9 - 0.5 * sizes**-0.4, max_n=2048).result
    lo, hi = result.min_sufficient_n_interval
    assert lo <= result.min_sufficient_n <= hi and hi / lo > 1.2


def test_the_distribution_comes_from_the_nearest_design_curves_errors_within_their_reach() -> None:
    features, groups, _, mean, scale, _ = design_table()
    row = int(np.nonzero(groups == GROUPS[0])[0][0])
    raw = features[row] * scale + mean  # a design prefix itself: within reach
    local = decision.predictive_errors(GROUPS[0], raw)
    errors = decision.design_errors()
    assert errors is not None and len(errors) == len(features) and local.shape == decision.LEVELS.shape
    rows = nearest_design_rows(raw, GROUPS[0], decision.DECISION_NEIGHBOURS)
    assert row in rows and local == pytest.approx(np.quantile(errors[rows], decision.LEVELS))
    far = raw + 1e3 * scale  # far from every design curve: the whole group's errors
    assert decision.predictive_errors(GROUPS[0], far) is decision.DECISION_RESIDUALS[GROUPS[0]]
