"""`auto` with 2 to `min_finished` finished runs: a loss predicts the final where it ranks better."""

import numpy as np
import pytest

from foretune.predictors import AutoPredictor, Curve, get_predictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors._signal import MIN_RUNS_FOR_LINE, line_signal

FRACTIONS = np.linspace(0.1, 1.0, 10)


def _runs(n, seed, *, informative=True):
    """Accuracy curves flat near 0.05 up to 20% (the objective carries no signal there), each rising to
    its own final; eval loss at 20% is a line in the final (or noise when not `informative`)."""
    rng = np.random.default_rng(seed)
    runs = []
    for i, final in enumerate(rng.uniform(0.1, 0.9, n)):
        values = np.where(FRACTIONS <= 0.2, 0.05 + rng.normal(0, 0.005, 10), 0.05 + (final - 0.05) * FRACTIONS)
        values[-1] = final
        early_loss = 1.2 - final + rng.normal(0, 0.01) if informative else rng.uniform(0.5, 1.2)
        eval_loss = early_loss * (1.2 - 0.4 * FRACTIONS)
        runs.append(Curve(FRACTIONS, values, trial=i, extras={"eval_loss": eval_loss}))
    return runs


def _predict(finished, judged, **options):
    auto = AutoPredictor(mode="max", **options).fit(finished)
    return auto, auto.predict([c.upto(0.2) for c in judged], at=0.2)


def test_eval_loss_ranks_when_the_objective_is_flat():
    finished, judged = _runs(5, seed=1), _runs(12, seed=2)
    auto, prediction = _predict(finished, judged)
    finals = np.array([final_value(c) for c in judged])
    assert auto.weights_ == {"signal:eval_loss": 1.0}
    assert prediction.predicted and prediction.finished_used == 5
    assert prediction.basis == "predicted by auto from eval_loss at 20%, 5 finished runs, 80% conformal interval"
    snapshot = get_predictor("snapshot", mode="max").fit(finished).predict([c.upto(0.2) for c in judged], at=0.2)
    assert metrics.spearman(prediction.mean, finals) > 0.95 > metrics.spearman(snapshot.mean, finals) + 0.3
    assert metrics.mae(prediction.mean, finals) < 0.05
    assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()


def test_uninformative_or_missing_extra_keeps_the_snapshot_rule():
    judged = _runs(8, seed=2)
    auto, noise = _predict(_runs(6, seed=1, informative=False), judged)
    assert auto.weights_ == {"snapshot": 1.0} and noise.basis.startswith("predicted by snapshot from 6")
    # One judged run has not reported eval loss by 20%: the metric cannot rank every run.
    gap = judged[0]
    judged[0] = Curve(gap.fractions, gap.values, trial=gap.trial, extras={"eval_loss": np.full(10, np.nan)})
    auto, _ = _predict(_runs(5, seed=1), judged)
    assert auto.weights_ == {"snapshot": 1.0}


def test_only_losses_are_candidate_signals():
    """A task sub-score that would fit the finished runs just as well is not a candidate: picking the best of
    many coarse sub-scores with a handful of runs picks noise."""
    renamed = [
        Curve(c.fractions, c.values, trial=c.trial, extras={"acc/Color": c.extras["eval_loss"]})
        for c in _runs(5, seed=1)
    ]
    judged = [
        Curve(c.fractions, c.values, trial=c.trial, extras={"acc/Color": c.extras["eval_loss"]})
        for c in _runs(8, seed=2)
    ]
    auto, _ = _predict(renamed, judged)
    assert auto.weights_ == {"snapshot": 1.0}


@pytest.mark.parametrize("finished", [2, MIN_RUNS_FOR_LINE - 1])
def test_two_or_three_runs_predict_by_a_line_of_the_right_slope(finished):
    runs = _runs(finished, seed=1)
    # Judged runs inside the finished runs' range of eval loss (a line through 2-3 runs does not extrapolate).
    low, high = sorted(c.extras["eval_loss"][1] for c in runs)[:: finished - 1]
    judged = [c for c in _runs(40, seed=2) if low <= c.extras["eval_loss"][1] <= high][:8]
    assert len(judged) >= 4
    auto, prediction = _predict(runs, judged)
    assert auto.weights_ == {"signal:eval_loss": 1.0} and prediction.predicted
    assert prediction.basis == (
        f"predicted by auto from eval_loss at 20%, {finished} finished runs, wide 80% band (too few runs to calibrate)"
    )
    finals = np.array([final_value(c) for c in judged])
    assert metrics.spearman(prediction.mean, finals) > 0.9
    if finished == 2:  # no leave-one-out line: the band is the two finals' difference either side
        spread = abs(final_value(runs[0]) - final_value(runs[1]))
        np.testing.assert_allclose(prediction.upper - prediction.mean, spread)
        np.testing.assert_allclose(prediction.mean - prediction.lower, spread)
    # A loss that rises with the final (the wrong slope) is noise: the early score ranks, no final predicted.
    flipped = [Curve(c.fractions, c.values, trial=c.trial, extras={"eval_loss": -c.extras["eval_loss"]}) for c in runs]
    auto, prediction = _predict(flipped, judged)
    assert auto.weights_ == {"snapshot": 1.0} and prediction.predicted == (finished >= 3)


def test_a_loss_objective_keeps_its_own_early_value_below_four_runs():
    """In mode "min" the objective is a loss itself: another loss's line from 2-3 runs does not replace it."""
    runs = [
        Curve(c.fractions, 1 - c.values, trial=c.trial, extras={"train_loss": c.extras["eval_loss"]})
        for c in _runs(3, seed=1)
    ]
    judged = [
        Curve(c.fractions, 1 - c.values, trial=c.trial, extras={"train_loss": c.extras["eval_loss"]})
        for c in _runs(8, seed=2)
    ]
    auto = AutoPredictor(mode="min").fit(runs)
    auto.predict([c.upto(0.2) for c in judged], at=0.2)
    assert "signal:train_loss" not in auto.weights_


def test_one_run_draws_no_line():
    auto, prediction = _predict(_runs(1, seed=1), _runs(8, seed=2))
    assert auto.weights_ == {"snapshot": 1.0} and not prediction.predicted


def test_at_or_above_min_finished_the_blend_decides():
    auto, _ = _predict(_runs(8, seed=1), _runs(8, seed=2), min_finished=8)
    assert not any(name.startswith("signal:") for name in auto.weights_)


def test_line_residuals_are_exact_leave_one_out_and_far_runs_are_not_extrapolated():
    finished, judged = _runs(6, seed=3), _runs(4, seed=4)
    signal = line_signal("eval_loss", finished, judged, 0.2, mode="max")
    x = np.array([c.extras["eval_loss"][1] for c in finished])
    y = np.array([final_value(c) for c in finished])
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        assert signal.residuals[i] == pytest.approx(y[i] - (intercept + slope * x[i]))
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(signal.predictions, [intercept + slope * c.extras["eval_loss"][1] for c in judged])
    # A judged run far beyond the finished runs' eval losses: no line, and `auto` keeps the snapshot rule.
    far = Curve(FRACTIONS, judged[0].values, trial="far", extras={"eval_loss": np.full(10, x.min() - np.ptp(x))})
    assert line_signal("eval_loss", finished, [far, *judged], 0.2, mode="max") is None
    auto, _ = _predict(finished, [far, *judged])
    assert auto.weights_ == {"snapshot": 1.0}


def test_a_loss_far_above_the_finished_runs_ranks_last_with_a_stretched_interval():
    """A run whose eval loss at 20% is far worse than every finished run's can only end worse: it is held at
    the reach's edge (ranked last) instead of being left to the snapshot rule, its interval reaching down to
    the line's own value."""
    finished, judged = _runs(6, seed=3), _runs(4, seed=4)
    x = np.array([c.extras["eval_loss"][1] for c in finished])
    far = Curve(FRACTIONS, judged[0].values, trial="far", extras={"eval_loss": np.full(10, x.max() + 3 * np.ptp(x))})
    signal = line_signal("eval_loss", finished, [far, *judged], 0.2, mode="max")
    assert signal is not None and signal.unclipped[0] < signal.predictions[0]
    np.testing.assert_allclose(signal.predictions[1:], signal.unclipped[1:])
    auto, prediction = _predict(finished, [far, *judged])
    assert auto.weights_ == {"signal:eval_loss": 1.0} and prediction.mean[0] == prediction.mean.min()
    edge_width = prediction.upper[0] - prediction.lower[0]
    assert edge_width == pytest.approx(
        prediction.upper[1] - prediction.lower[1] + signal.predictions[0] - signal.unclipped[0]
    )
