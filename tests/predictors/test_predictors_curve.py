import numpy as np
import pytest

from foretune.predictors import Curve, CurvePredictor, SnapshotPredictor, get_predictor
from foretune.predictors._base import final_value
from foretune.predictors._curve import extrapolate
from foretune.predictors.synthetic_curves import pow3


def _oriented(y, mode):
    return np.asarray(y) if mode == "max" else -np.asarray(y)


@pytest.mark.parametrize(
    "shape",
    [
        lambda x: pow3(x, 0.8, 0.2, 0.5),
        lambda x: pow3(x, 0.6, 0.05, 1.0),
        lambda x: 0.9 - 0.5 * np.exp(-5 * x),
        lambda x: 0.7 - 0.4 / (1 + (x / 0.1) ** 2),
    ],
)
def test_curve_recovers_known_final_from_half_the_curve(shape, mode):
    x = np.linspace(0.05, 1.0, 20)
    y = _oriented(shape(x), mode)
    curve = Curve(x, y)
    final = y[-1]
    extrapolated, std = CurvePredictor(mode=mode).point([curve.upto(0.5)], at=0.5)
    snapshot = SnapshotPredictor(mode=mode).predict([curve.upto(0.5)], at=0.5)
    error = abs(extrapolated[0] - final)
    assert error < 0.5 * abs(snapshot.mean[0] - final)  # much closer than the last value
    assert error < 0.03
    assert std[0] >= 0


def test_curve_prefers_gain_for_steeper_runs(mode):
    # Same value at 0.2, different slopes: the steeper run is predicted to end better.
    x = np.array([0.1, 0.2])
    flat = Curve(x, _oriented([0.69, 0.70], mode), trial="flat")
    steep = Curve(x, _oriented([0.60, 0.70], mode), trial="steep")
    mean, _ = CurvePredictor(mode=mode).point([flat, steep], at=0.2)
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    assert better(mean[1], mean[0])


@pytest.mark.parametrize(
    "values",
    [
        [0.5, 0.5, 0.5, 0.5],  # flat
        [0.5, 0.45, 0.40, 0.30],  # getting worse (diverging)
        [0.5, 0.9, 0.2, 0.8],  # noise
        [0.5, np.nan, 0.6, np.inf],  # missing and infinite points
    ],
)
def test_degenerate_curves_stay_sane(values, mode):
    x = np.array([0.05, 0.1, 0.15, 0.2])
    y = _oriented(values, mode)
    prediction = get_predictor("curve", mode=mode).predict([Curve(x, y)], at=0.2)
    finite = y[np.isfinite(y)]
    assert np.isfinite([prediction.mean, prediction.lower, prediction.upper]).all()
    # Never beyond a few times the range already seen, and never worse than the last value.
    span = finite.max() - finite.min()
    assert finite.min() - 3 * span - 1e-9 <= prediction.mean[0] <= finite.max() + 3 * span + 1e-9
    last = finite[-1]
    assert (prediction.mean[0] >= last - 1e-12) if mode == "max" else (prediction.mean[0] <= last + 1e-12)


def test_flat_curve_predicts_its_value(mode):
    prediction = CurvePredictor(mode=mode).predict([Curve([0.1, 0.2], [0.4, 0.4])], at=0.2)
    assert prediction.mean[0] == pytest.approx(0.4)


def test_one_point_nan_and_empty_curves_never_nan(mode):
    curves = [
        Curve([0.1], [0.5], trial="one"),
        Curve([0.1, 0.2], [np.nan, np.nan], trial="diverged"),
        Curve([0.5], [0.9], trial="not-yet"),  # nothing at <= 0.2
        Curve([0.1, 0.2], [0.55, 0.6], trial="ok"),
    ]
    for name in ("snapshot", "curve", "learned", "auto"):
        prediction = get_predictor(name, mode=mode).predict(curves, at=0.2)
        for array in (prediction.mean, prediction.lower, prediction.upper):
            assert np.isfinite(array).all(), name
        assert (prediction.lower <= prediction.mean).all() and (prediction.mean <= prediction.upper).all()
        if name == "auto" and mode == "min":  # the shipped prior predicts a lower final loss
            assert prediction.predicted and prediction.mean[0] < 0.5
        else:
            assert prediction.mean[0] == pytest.approx(0.5), name  # one point: its value
        worst = min if mode == "max" else max
        assert prediction.mean[1] == worst(prediction.mean[[0, 3]]), name  # diverged ranks last


def test_extrapolate_is_capped():
    # A steep rise over the first 2% of the budget extrapolates wildly when nothing caps it...
    x, z = np.array([0.01, 0.02]), np.array([0.0, 1.0])
    free, _ = extrapolate(x, z, max_gain_ratio=np.inf)
    assert free > 10.0
    # ...and never past max_gain_ratio times the range already seen (here 1.0) when capped.
    for ratio in (0.5, 1.0, 3.0):
        gain, _ = extrapolate(x, z, max_gain_ratio=ratio)
        assert 0.0 < gain <= ratio
    assert extrapolate(x, z, max_gain_ratio=0.0)[0] == 0.0


def test_curve_interval_is_conformal_on_finished_runs():
    x = np.linspace(0.1, 1.0, 10)
    finished = [Curve(x, pow3(x, 0.8 + 0.01 * i, 0.2, 0.3 + 0.05 * i) + 0.02 * (-1) ** i) for i in range(10)]
    run = [finished[0].upto(0.2)]
    fitted = CurvePredictor().fit(finished).predict(run, at=0.2)
    cold = CurvePredictor().fit(finished[:2]).predict(run, at=0.2)
    # Two finished runs: no final predicted, the run is ranked by its score at 0.2.
    assert not cold.predicted and "2 finished runs, no final predicted" in cold.basis
    assert cold.mean[0] == cold.lower[0] == cold.upper[0] == run[0].values[-1]
    # Ten: the extrapolation moved by the median error on the finished runs, +- the
    # ceil(11 * 0.8) = 9th smallest absolute deviation of each error from the median of the others.
    extrapolated = CurvePredictor().point(run, at=0.2)[0]
    errors = np.array([final_value(c) for c in finished]) - CurvePredictor().point(finished, at=0.2)[0]
    center = np.median(errors)
    width = np.sort([abs(e - np.median(np.delete(errors, i))) for i, e in enumerate(errors)])[8]
    assert fitted.predicted and fitted.finished_used == 10
    np.testing.assert_allclose(
        [fitted.mean[0], fitted.lower[0], fitted.upper[0]],
        extrapolated[0] + center + np.array([0.0, -width, width]),
    )
