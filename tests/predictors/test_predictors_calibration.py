import numpy as np
import pytest

from foretune.predictors import get_predictor
from foretune.predictors._base import final_value
from foretune.predictors._loss_ratio import chosen_deviations
from foretune.predictors.calibration import (
    MIN_FINISHED,
    clip_to_bounds,
    conformal_band,
    curves_range,
    held_out_deviations,
    value_range,
)
from foretune.predictors.synthetic_curves import make_study


def test_conformal_band_uses_the_finite_sample_quantile():
    # Nine residuals, symmetric around their median 0: ceil(10 * 0.8) = 8th smallest deviation, each
    # from the median of the other eight (4 from -0.5: 4.5; the plain deviation would be 4).
    residuals = np.array([-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    assert conformal_band(residuals) == pytest.approx((0.0, -4.5, 4.5))
    center, low, high = conformal_band(residuals + 10)
    assert (center, low, high) == pytest.approx((10.0, 5.5, 14.5))


def test_conformal_band_is_wide_with_few_runs_and_asymmetric_with_many():
    # Three residuals: ceil(4 * 0.8) = 4 > 3, no conformal quantile exists: the prior band (largest x 2;
    # 3's deviation from the median of 0 and 1 is 2.5).
    assert conformal_band(np.array([0.0, 1.0, 3.0])) == pytest.approx((1.0, -4.0, 6.0))
    assert conformal_band(np.array([2.0])) == pytest.approx((2.0, 2.0, 2.0))
    # Thirty skewed residuals: each tail on its own, the lower tail short, the upper long.
    residuals = np.concatenate([np.linspace(-1, 0, 15), np.linspace(0, 10, 15)])
    center, low, high = conformal_band(residuals)
    assert low > -1.0 and high > 5.0 and high - center > center - low
    with pytest.raises(ValueError, match="at least one"):
        conformal_band(np.array([np.nan]))


def test_conformal_band_cuts_its_width_from_given_deviations():
    residuals = np.array([-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    deviations = np.arange(1.0, 10.0)  # the 8th smallest is 8
    assert conformal_band(residuals, deviations=deviations) == pytest.approx((0.0, -8.0, 8.0))


def test_a_rule_chosen_without_each_run_gives_its_honest_deviation():
    # Column 0 is off by +-0.4-0.5 everywhere; column 1 is exact but misses run 4 by 3. On all five runs
    # (and without any of runs 0-3) column 0 wins; without run 4, column 1 would have been picked and
    # misses it by 3: that is run 4's honest deviation, not column 0's 0.2 for it.
    finals = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    predictions = np.column_stack([finals + np.array([0.5, -0.5, 0.4, -0.4, 0.0]), finals.copy()])
    predictions[4, 1] = 2.0
    deviations = chosen_deviations(predictions, finals, ratio_applies=False)
    np.testing.assert_allclose(deviations, [0.7, 0.7, 0.6, 0.6, 3.0])
    plain = held_out_deviations(finals - predictions[:, 0])
    assert plain.max() < 1.0 < deviations.max()


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


def _accuracy_study(n: int, *, seed: int) -> list:
    """Accuracy-like runs in [0, 1] ending near 1: a predicted final plus its interval can pass 1."""
    from foretune.predictors import Curve

    rng = np.random.default_rng(seed)
    x = np.linspace(0.1, 1.0, 10)
    curves = []
    for i in range(n):
        final = rng.uniform(0.9, 0.999)
        early_gap = rng.uniform(0.1, 0.6)
        y = np.clip(final - early_gap * (1 - x) ** 2 + rng.normal(0, 0.01, len(x)), 0, 1)
        curves.append(Curve(x, y, {"lr": float(rng.uniform(1e-4, 1e-2))}, f"t{i}"))
    return curves


def test_curves_range_only_for_an_accuracy_in_zero_one():
    from foretune.predictors import Curve

    study = _accuracy_study(4, seed=0)
    assert curves_range(study, mode="max") == (0.0, 1.0)
    assert curves_range(study, mode="min") is None  # a loss below 1 may still pass 1 in a later run
    beyond = [*study, Curve(np.array([0.5, 1.0]), np.array([0.5, 1.2]))]  # one value above 1
    assert curves_range(beyond, mode="max") is None
    assert curves_range(beyond, mode="max", metric="val_acc") == (0.0, 100.0)  # a share, in percent
    assert curves_range([], mode="max") is None


def test_a_share_in_percent_is_bounded_by_its_name_and_nothing_else_is():
    percent = np.array([3.0, 45.5, 88.0, np.nan])
    for name in ("accuracy", "eval_accuracy", "val_acc", "valAcc", "macro_f1", "exact_match", "rougeL", "bleu", "mAP"):
        assert value_range(percent, mode="max", metric=name) == (0.0, 100.0), name
    for name in ("reward", "score", "val_loss", "acc_loss", None):  # not a share by name: no range
        assert value_range(percent, mode="max", metric=name) is None, name
    assert value_range(percent, mode="min", metric="accuracy") is None  # minimized: not a score
    assert value_range(np.array([3.0, 101.0]), mode="max", metric="accuracy") is None  # not a percentage
    assert value_range(np.array([-0.5, 0.5]), mode="max", metric="accuracy") is None  # below 0: not a share
    assert value_range(np.array([0.2, 0.9]), mode="max", metric="bleu") == (0.0, 1.0)  # every value in [0, 1]


def test_a_loss_named_so_is_zero_and_up_and_nothing_else_minimized_is_bounded():
    losses = np.array([2.3, 0.4, 0.05, np.nan])
    for name in ("eval_loss", "val_loss", "val_mse", "train_loss", "val_ppl"):
        assert value_range(losses, mode="min", metric=name) == (0.0, None), name
    for name in ("error_rate", "val_error", "top1_err", "eval_wer", "valErr"):  # an error rate: 0 and up (round 42)
        assert value_range(losses, mode="min", metric=name) == (0.0, None), name
    for name in ("regret", "latency", "score", None):  # neither by name: may be anything
        assert value_range(losses, mode="min", metric=name) is None, name
    assert value_range(np.array([-1.2, 0.3]), mode="min", metric="val_loss") is None  # a loss seen below 0


def test_clip_to_bounds_keeps_predictions_and_intervals_in_range():
    finished, judged = _accuracy_study(12, seed=1), _accuracy_study(8, seed=2)
    raw = get_predictor("snapshot", mode="max").fit(finished).predict([c.upto(0.2) for c in judged], at=0.2)
    assert raw.upper.max() > 1.0  # the test can fail: unclipped, the interval passes 1
    clipped = clip_to_bounds(raw, curves_range(finished, mode="max"))
    for values in (clipped.mean, clipped.lower, clipped.upper, clipped.plausible):
        assert np.all((values >= 0.0) & (values <= 1.0))
    inside = raw.upper <= 1.0
    assert np.array_equal(clipped.upper[inside], raw.upper[inside])  # values in range are untouched
    early = get_predictor("snapshot", mode="max").predict([c.upto(0.2) for c in judged], at=0.2)
    assert clip_to_bounds(early, (0.0, 1.0)) is early  # no final predicted: nothing to clip
    with pytest.raises(ValueError, match="low < high"):
        clip_to_bounds(raw, (1.0, 0.0))
    above = clip_to_bounds(raw, (0.95, None))  # an open side: a loss is 0 and up
    assert above.lower.min() == 0.95 and np.array_equal(above.upper, np.maximum(raw.upper, 0.95))
