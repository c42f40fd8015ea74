import numpy as np
import pytest

from foretune.predictors import get_predictor
from foretune.predictors._base import final_value
from foretune.predictors.calibration import MIN_FINISHED, conformal_band
from foretune.predictors.synthetic_curves import make_study


def test_conformal_band_uses_the_finite_sample_quantile():
    # Nine residuals, symmetric around their median 0: ceil(10 * 0.8) = 8th smallest |deviation|.
    residuals = np.array([-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    assert conformal_band(residuals) == pytest.approx((0.0, -4.0, 4.0))
    center, low, high = conformal_band(residuals + 10)
    assert (center, low, high) == pytest.approx((10.0, 6.0, 14.0))


def test_conformal_band_is_wide_with_few_runs_and_asymmetric_with_many():
    # Three residuals: ceil(4 * 0.8) = 4 > 3, no conformal quantile exists: the prior band (largest x 2).
    assert conformal_band(np.array([0.0, 1.0, 3.0])) == pytest.approx((1.0, -3.0, 5.0))
    # Thirty skewed residuals: each tail on its own, the lower tail short, the upper long.
    residuals = np.concatenate([np.linspace(-1, 0, 15), np.linspace(0, 10, 15)])
    center, low, high = conformal_band(residuals)
    assert low > -1.0 and high > 5.0 and high - center > center - low
    with pytest.raises(ValueError, match="at least one"):
        conformal_band(np.array([np.nan]))


@pytest.mark.parametrize("name", ["snapshot", "curve", "learned", "auto"])
def test_too_few_finished_runs_predict_no_final(name):
    finished = make_study(MIN_FINISHED - 1, seed=1, noise=0.003)
    runs = [c.upto(0.2) for c in make_study(6, seed=2, noise=0.003)]
    prediction = get_predictor(name, mode="max").fit(finished).predict(runs, at=0.2)
    assert not prediction.predicted and prediction.finished_used == MIN_FINISHED - 1
    assert prediction.basis == "ranked by early score; 2 finished runs, no final predicted"
    np.testing.assert_allclose(prediction.mean, [c.values[-1] for c in runs])  # the early scores


@pytest.mark.parametrize("name,finished", [("snapshot", 5), ("auto", 5), ("auto", 20)])
def test_intervals_cover_about_80_percent(name, finished):
    # Over many small synthetic studies, a new run's final falls inside its 80% interval 75-95% of
    # the time (conformal: >= 80% in expectation; the few-run prior band errs wide).
    inside = []
    for seed in range(30):
        runs = make_study(finished + 10, seed=seed, noise=0.01)
        train, test = runs[:finished], runs[finished:]
        prediction = get_predictor(name, mode="max").fit(train).predict([c.upto(0.2) for c in test], at=0.2)
        assert prediction.predicted and prediction.finished_used == finished
        finals = np.array([final_value(c) for c in test])
        inside.extend((prediction.lower <= finals) & (finals <= prediction.upper))
    assert 0.75 <= np.mean(inside) <= 0.95
