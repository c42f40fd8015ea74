"""An error rate to minimize is predicted as the score it mirrors: the same curves give the same verdict."""

from dataclasses import replace

import numpy as np
import pytest

from foretune.predictors import get_predictor
from foretune.predictors._mirrored import ErrorRateByValues, MirroredScore
from foretune.predictors.calibration import value_range
from foretune.predictors.evaluation import evaluate_predictors
from foretune.predictors.synthetic_curves import make_study


def _with_eval_loss(curves, seed):
    """Accuracy runs with an eval loss that falls as the accuracy rises (what the LoRA trainer reports)."""
    rng = np.random.default_rng(seed)
    return [
        replace(c, extras={"eval_loss": 2.0 * (1.0 - c.values) + rng.normal(0, 0.02, len(c.values))}) for c in curves
    ]


def _as_error(curves):
    return [replace(c, values=1.0 - c.values) for c in curves]


@pytest.mark.parametrize("name", ["snapshot", "learned", "auto"])
@pytest.mark.parametrize("finished", [0, 2, 6, 16])
def test_an_error_rate_gets_the_accuracy_verdict_mirrored(name, finished):
    study = _with_eval_loss(make_study(30, seed=4, noise=0.005), seed=4)
    done, judged = study[:finished], [c.upto(0.2) for c in study[finished:]]
    accuracy = get_predictor(name, mode="max").fit(done).predict(judged, at=0.2)
    model = get_predictor(name, mode="min", metric="val_error")
    assert isinstance(model, MirroredScore) and model.mode == "min" and model.name == name
    error = model.fit(_as_error(done)).predict(_as_error(judged), at=0.2)
    assert error.predicted == accuracy.predicted and error.basis == accuracy.basis
    # A ranking with no final (0 finished runs: by the eval loss) orders by values in no metric's units: mirrored, the
    # same order; a predicted final is the error rate's own.
    offset = 1.0 if accuracy.predicted else float(error.mean[0] + accuracy.mean[0])
    np.testing.assert_allclose(error.mean, offset - accuracy.mean, atol=1e-9)
    np.testing.assert_allclose(error.lower, offset - accuracy.upper, atol=1e-9)  # the interval's ends swap
    np.testing.assert_allclose(error.upper, offset - accuracy.lower, atol=1e-9)
    assert (error.plausible is None) == (accuracy.plausible is None)
    if error.plausible is not None:
        np.testing.assert_allclose(error.plausible, 1.0 - accuracy.plausible, atol=1e-9)


def test_only_an_error_rate_to_minimize_is_mirrored():
    assert isinstance(get_predictor("auto", mode="min", metric="top1_err"), MirroredScore)
    for mode, metric in (("min", "eval_loss"), ("min", "val_mean_squared_error"), ("min", None), ("max", "error")):
        assert not isinstance(get_predictor("auto", mode=mode, metric=metric), MirroredScore), (mode, metric)
    with pytest.raises(ValueError, match="maximizes the negated metric"):
        MirroredScore(get_predictor("auto", mode="min"))


def test_rank_eval_scores_an_error_rate_as_its_accuracy():
    """`rank-eval`'s cross-fitted scores of an error rate named so are its accuracy's (Spearman, coverage, MAE); read
    as a loss (no name), the verdict differs (the test can fail: before round 42 the name changed nothing)."""
    study = _with_eval_loss(make_study(24, seed=7, noise=0.005), seed=7)
    accuracy = evaluate_predictors({"auto": "auto"}, study, at=0.2, mode="max", folds=3)
    named = evaluate_predictors({"auto": "auto"}, _as_error(study), at=0.2, mode="min", folds=3, metric="val_error")
    unnamed = evaluate_predictors({"auto": "auto"}, _as_error(study), at=0.2, mode="min", folds=3)
    np.testing.assert_allclose(named["auto"].to_numpy(), accuracy["auto"].to_numpy(), atol=1e-9)
    assert not np.allclose(unnamed["auto"].to_numpy(), accuracy["auto"].to_numpy())


READ_AS = "read as an error rate: every value in [0, 1], named neither a loss nor an error rate"


def _error_study(seed):
    """An error rate in [0, 1]: the synthetic accuracy (which starts below 0) moved into [0, 1], one minus it."""
    study = make_study(30, seed=seed, noise=0.005)
    return _as_error(_with_eval_loss([replace(c, values=(c.values + 0.5) / 1.5) for c in study], seed=seed))


def _same_prediction(shown, expected):
    for field in ("mean", "lower", "upper"):
        np.testing.assert_allclose(getattr(shown, field), getattr(expected, field), atol=1e-9)
    assert shown.predicted == expected.predicted


@pytest.mark.parametrize("metric", ["value", "objective"])
@pytest.mark.parametrize("finished", [0, 2, 6, 16])
def test_a_name_that_says_neither_reads_a_share_to_minimize_as_an_error_rate(metric, finished):
    """A metric to minimize named neither a loss nor an error rate, every value in [0, 1] (`foretune rank`'s default
    column "value" holding an error rate): the error rate's verdict, and the basis says how it was read (before
    round 43 the rules made for a loss predicted it)."""
    study = _error_study(5)
    done, judged = study[:finished], [c.upto(0.2) for c in study[finished:]]
    named = get_predictor("auto", mode="min", metric="val_error").fit(done).predict(judged, at=0.2)
    bare = get_predictor("auto", mode="min", metric=metric).fit(done).predict(judged, at=0.2)
    _same_prediction(bare, named)
    assert bare.basis == f"{named.basis} ({READ_AS})"
    as_loss = get_predictor("auto", mode="min").fit(done).predict(judged, at=0.2)
    if finished:  # cold, the early score ranks under both readings
        assert not np.allclose(bare.mean, as_loss.mean)


def test_a_value_above_one_or_a_loss_by_its_name_reads_as_a_loss():
    """A value above 1 anywhere in what was seen, the finished runs or a judged run's early points, makes the bare
    name a loss (the same fitted predictor turns at the prediction that sees it); a loss by its name in [0, 1]
    stays one."""
    study = _error_study(6)
    done, judged = study[:8], [c.upto(0.2) for c in study[8:]]
    model = get_predictor("auto", mode="min", metric="value").fit(done)
    assert model.predict(judged, at=0.2).basis.endswith(f"({READ_AS})")
    above = [replace(judged[0], values=judged[0].values + 1.0), *judged[1:]]
    as_loss = get_predictor("auto", mode="min").fit(done).predict(above, at=0.2)
    shown = model.predict(above, at=0.2)
    _same_prediction(shown, as_loss)
    assert shown.basis == as_loss.basis
    for metric in ("eval_loss", "val_mean_squared_error", "cost.device_hours", "latency_ms", "train_seconds"):
        assert not isinstance(get_predictor("auto", mode="min", metric=metric), ErrorRateByValues), metric
    assert not isinstance(get_predictor("auto", mode="max", metric="value"), ErrorRateByValues)


def test_the_range_of_a_share_to_minimize_by_its_values():
    shares, beyond = np.array([0.9, 0.3, 0.05]), np.array([0.9, 1.4])
    assert value_range(shares, mode="min", metric="value") == (0.0, 1.0)  # a share, as its mirror's range
    assert value_range(shares, mode="min", metric="val_error") == (0.0, None)  # a WER passes 100%
    assert value_range(beyond, mode="min", metric="value") is None
    assert value_range(shares, mode="min", metric=None) is None  # no name: read as before, no range
    assert value_range(shares, mode="min", metric="cost.device_hours") is None  # a cost has no upper end
    assert value_range(beyond, mode="min", metric="eval_loss") == (0.0, None)


def test_a_range_given_with_an_upper_end_reads_an_error_rate_in_percent():
    """An error rate in percent under a bare name reads as a loss (a value above 1) unless a range given by hand
    (`--bounds 0,100`, `search.metric_range: [0, 100]`) says where it ends: then as the score it mirrors."""
    study = [replace(c, values=100.0 * c.values) for c in _error_study(8)]
    done, judged = study[:8], [c.upto(0.2) for c in study[8:]]
    mirrored = MirroredScore(get_predictor("auto", mode="max")).fit(done).predict(judged, at=0.2)
    given = get_predictor("auto", mode="min", metric="value", metric_range=(0.0, 100.0)).fit(done)
    shown = given.predict(judged, at=0.2)
    _same_prediction(shown, mirrored)
    assert shown.basis.endswith(
        "(read as an error rate: every value in [0, 100], named neither a loss nor an error rate)"
    )
    unbounded = get_predictor("auto", mode="min", metric="value", metric_range=(0.0, None)).fit(done)
    _same_prediction(unbounded.predict(judged, at=0.2), get_predictor("auto", mode="min").fit(done).predict(judged))


def test_the_search_reads_its_metric_with_the_range_given():
    from foretune.config import ExperimentConfig
    from foretune.search.tuner import make_predictor_factory

    config = ExperimentConfig.model_validate({"search": {"metric": "objective", "mode": "min"}})
    assert make_predictor_factory(config)().top == 1.0
    config = ExperimentConfig.model_validate(
        {"search": {"metric": "objective", "mode": "min", "metric_range": [0, 100]}}
    )
    assert make_predictor_factory(config)().top == 100.0
