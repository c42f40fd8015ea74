"""The LCDB-learned correction of the minimum sufficient n (after Mahmood et al., CVPR 2022)."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.keys import REGIME_BENT, REGIME_FLAT, REGIME_NOT_MONOTONE, REGIME_RISING
from foretune.predictors.saturation import SaturationModel
from foretune.predictors.saturation import correction as corr

SIZES = np.array([16, 23, 32, 45, 64, 91])  # an LCDB-like prefix (sqrt(2) spacing)


def rising(n):
    return 0.9 - 0.5 * np.asarray(n, dtype=float) ** -0.4


def test_table_covers_every_regime_and_feature_and_says_where_it_came_from() -> None:
    for regime in (REGIME_RISING, REGIME_BENT, REGIME_FLAT, REGIME_NOT_MONOTONE, corr.FEW_SIZES):
        assert corr.COEFFICIENTS[regime].shape == (len(corr.FEATURES),)
        quantiles = corr.RESIDUAL_QUANTILES[regime]
        assert quantiles.shape == corr.RESIDUAL_LEVELS.shape and np.all(np.diff(quantiles) >= 0)
    assert "LCDB 1.0 design half" in corr.FITTED_ON


def test_correction_moves_only_the_min_sufficient_n_and_within_its_bound() -> None:
    y = rising(SIZES)
    raw = SaturationModel(epsilon=0.01, n_bootstrap=10, corrected=False).fit(SIZES, y, max_n=2048).result
    fixed = SaturationModel(epsilon=0.01, n_bootstrap=10).fit(SIZES, y, max_n=2048).result
    assert raw.min_sufficient_n_correction == 1.0
    factor = fixed.min_sufficient_n_correction
    assert abs(np.log(factor)) <= corr.MAX_LOG_FACTOR + 1e-9
    expected = np.clip(raw.min_sufficient_n * factor, SIZES[0], 2048)
    assert fixed.min_sufficient_n == pytest.approx(expected, rel=1e-9)
    assert fixed.regime == raw.regime and fixed.min_useful_n == raw.min_useful_n
    assert fixed.asymptote == raw.asymptote
    lo, hi = fixed.min_sufficient_n_interval
    assert lo < fixed.min_sufficient_n < hi and hi / lo > 1.2  # never a zero-width interval
    assert fixed.to_dict()["min_sufficient_n_correction"] == pytest.approx(factor, abs=1e-4)


def test_features_follow_their_documented_order() -> None:
    y = rising(SIZES)
    x = corr.correction_features(SIZES, y, answer=45.0, score_at_max=y[-1] + 0.02, max_n=910, noise=0.005, epsilon=0.01)
    assert x.shape == (len(corr.FEATURES),) and x[0] == 1.0
    assert x[1] == pytest.approx(np.log(45 / 91)) and x[2] == pytest.approx(np.log(10))
    assert x[3] == pytest.approx(np.log1p(2.0)) and x[5] == pytest.approx(0.5)
    assert x[6] == 1.0 and x[7] == pytest.approx(np.log(6))


def test_short_prefixes_add_their_own_block_and_read_their_own_error_table() -> None:
    x = np.ones(len(corr.FEATURES))
    for regime in (REGIME_RISING, REGIME_NOT_MONOTONE):
        assert corr.correction_group(regime, 6) == regime and corr.correction_group(regime, 5) == corr.FEW_SIZES
        long, short = corr.log_factor(x, regime, 6), corr.log_factor(x, regime, 4)
        expected = x @ (corr.COEFFICIENTS[regime] + corr.COEFFICIENTS[corr.FEW_SIZES])
        assert long == pytest.approx(np.clip(x @ corr.COEFFICIENTS[regime], -corr.MAX_LOG_FACTOR, corr.MAX_LOG_FACTOR))
        assert short == pytest.approx(np.clip(expected, -corr.MAX_LOG_FACTOR, corr.MAX_LOG_FACTOR))
    sizes = SIZES[:4]
    result = SaturationModel(epsilon=0.01, n_bootstrap=10).fit(sizes, rising(sizes), max_n=2048).result
    lo, hi = result.min_sufficient_n_interval
    q_lo, q_hi = np.interp([0.1, 0.9], corr.RESIDUAL_LEVELS, corr.RESIDUAL_QUANTILES[corr.FEW_SIZES])
    # The interval holds the corrected answer's band from the 3-5-size table (widened by the bootstrap only):
    # a data size 45 x the largest n is beyond the reach of the nearest past curves (`direct`), so no blend.
    assert lo <= max(result.min_sufficient_n * np.exp(q_lo), sizes[0]) * (1 + 1e-9)
    assert hi >= min(result.min_sufficient_n * np.exp(q_hi), 2048) * (1 - 1e-9)
    assert hi / lo > 1.2
