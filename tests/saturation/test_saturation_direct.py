"""The direct (nearest past curves) estimate of the minimum sufficient n and its blend with the fit."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.keys import REGIME_NOT_MONOTONE, REGIME_RISING
from foretune.predictors.saturation import SaturationModel, decision, direct
from foretune.predictors.saturation import correction as corr
from foretune.predictors.saturation.points import noise_level


def test_mode_is_where_most_targets_lie_within_x1_5_not_their_mean() -> None:
    targets = np.array([0.0, 0.1, 0.2, 0.15, 3.0, 3.1])  # mean 1.09: within x1.5 of none of them
    assert direct.mode_estimate(targets) == pytest.approx(0.125)
    assert direct.mode_estimate(np.array([2.0])) == 2.0


def test_nearest_rows_of_the_same_group_answer_and_an_empty_group_gives_none() -> None:
    # Tiny design table: the target is a step in the first feature; a second group says the opposite.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(60, 2))
    groups = np.array([REGIME_RISING] * 40 + [REGIME_NOT_MONOTONE] * 20, dtype=object)
    targets = np.where(x[:, 0] > 0, 2.0, -1.0)
    targets[40:] = -targets[40:]
    query = np.array([0.8, 0.0])
    assert direct.nearest_log_answer(x, groups, targets, query, REGIME_RISING, 5) == pytest.approx(2.0)
    assert direct.nearest_log_answer(x, groups, targets, query, REGIME_NOT_MONOTONE, 5) == pytest.approx(-2.0)
    assert direct.nearest_log_answer(x, groups, targets, -query, REGIME_RISING, 5) == pytest.approx(-1.0)
    assert direct.nearest_log_answer(x, groups, targets, query, corr.FEW_SIZES, 5) is None


def test_prefix_features_follow_their_documented_order() -> None:
    sizes = np.array([16.0, 32.0, 64.0, 128.0])
    y = np.array([0.5, 0.6, 0.65, 0.67])
    x = direct.prefix_features(
        sizes, y, answer=64.0, score_at_max=0.69, asymptote=0.70, max_n=1024.0, noise=0.005, epsilon=0.01
    )
    assert x.shape == (len(direct.DIRECT_FEATURES),)
    assert x[0] == pytest.approx(np.log(0.5)) and x[1] == pytest.approx(np.log(8.0))
    assert x[2] == pytest.approx(np.log1p(2.0)) and x[3] == pytest.approx(np.log1p(2.0))
    assert x[6] == pytest.approx(0.67) and x[7] == pytest.approx(np.log1p(3.0))
    assert x[8] == pytest.approx(0.5) and x[9] == pytest.approx(np.log(4))


def test_shipped_table_says_where_it_came_from_and_gives_no_zero_width_band() -> None:
    assert "LCDB 1.0 design half" in direct.FITTED_ON and direct.TABLE.is_file()
    features, groups, targets, _, _, reach = direct.design_table()
    assert reach > 0
    assert features.shape == (len(targets), len(direct.DIRECT_FEATURES)) and np.isfinite(features).all()
    assert set(groups) == set(direct.GROUPS)
    for group in direct.GROUPS:
        assert 0.0 <= direct.BLEND_WEIGHTS[group] <= 1.0
        quantiles = direct.RESIDUAL_QUANTILES[group]
        assert quantiles.shape == direct.RESIDUAL_LEVELS.shape and np.all(np.diff(quantiles) >= 0)
        lo, hi = direct.blended_band(100.0, group=group, blended=True, interval=0.8, lo=16.0, hi=1e6)
        assert lo < 100.0 < hi


def _model_logic(sizes: np.ndarray, y: np.ndarray, max_n: float) -> tuple[float, float, bool, np.ndarray]:
    """(corrected log answer, blended log answer, direct took part, the prefix's features), recomputed the way
    the model documents it."""
    raw = SaturationModel(epsilon=0.01, n_bootstrap=0, corrected=False).fit(sizes, y, max_n=max_n).result
    read = {
        "answer": raw.min_sufficient_n,
        "score_at_max": raw.score_at_max_n,
        "max_n": max_n,
        "noise": noise_level(y, {s: np.array([v]) for s, v in zip(sizes, y, strict=True)}),
        "epsilon": 0.01,
    }
    corrected = np.log(raw.min_sufficient_n / sizes[-1]) + corr.log_factor(
        corr.correction_features(sizes, y, **read), raw.regime, len(sizes)
    )
    group = corr.correction_group(raw.regime, len(sizes))
    features = direct.prefix_features(sizes, y, asymptote=raw.asymptote, **read)
    return (corrected, *direct.blended_log_answer(features, group, corrected), features)


@pytest.mark.parametrize(("max_n", "used"), [(91.0, True), (20_000.0, False)])
def test_a_short_prefix_gets_the_blended_answer_only_within_the_design_curves_reach(max_n, used) -> None:
    # An LCDB-like 3-size prefix: with its data size 91 (as LCDB's small data sets) the nearest past
    # curves answer; with 20,000 (no LCDB prefix of 3 sizes reaches that far) the corrected fit does.
    sizes = np.array([16.0, 23.0, 32.0])
    y = 0.9 - 0.5 * sizes**-0.4
    assert direct.BLEND_WEIGHTS[corr.FEW_SIZES] > 0  # the cross-validation chose the direct estimate here
    corrected, blended, took_part, features = _model_logic(sizes, y, max_n)
    assert took_part is used and (blended != pytest.approx(corrected)) is used
    result = SaturationModel(epsilon=0.01, n_bootstrap=0).fit(sizes, y, max_n=max_n).result
    median = np.log(np.clip(32.0 * np.exp(blended), 16.0, max_n))
    # The answer shown is the window mode (`decision`) of the distribution around the blended answer.
    shown = decision.decided_log_answer(median, corr.FEW_SIZES, decision.truth_support(sizes, max_n), features)
    assert result.min_sufficient_n == pytest.approx(np.clip(np.exp(shown), 16.0, max_n), rel=1e-6)
    lo, hi = result.min_sufficient_n_interval
    assert lo < result.min_sufficient_n < hi or (used and lo < hi)
