"""An error rate to minimize is predicted as the score it mirrors: the same curves give the same verdict."""

from dataclasses import replace

import numpy as np
import pytest

from foretune.predictors import get_predictor
from foretune.predictors._mirrored import MirroredScore
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
    np.testing.assert_allclose(error.mean, 1.0 - accuracy.mean, atol=1e-9)
    np.testing.assert_allclose(error.lower, 1.0 - accuracy.upper, atol=1e-9)  # the interval's ends swap
    np.testing.assert_allclose(error.upper, 1.0 - accuracy.lower, atol=1e-9)
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
    study = _with_eval_loss(make_study(40, seed=7, noise=0.005), seed=7)
    accuracy = evaluate_predictors({"auto": "auto"}, study, at=0.2, mode="max", folds=4)
    named = evaluate_predictors({"auto": "auto"}, _as_error(study), at=0.2, mode="min", folds=4, metric="val_error")
    unnamed = evaluate_predictors({"auto": "auto"}, _as_error(study), at=0.2, mode="min", folds=4)
    np.testing.assert_allclose(named["auto"].to_numpy(), accuracy["auto"].to_numpy(), atol=1e-9)
    assert not np.allclose(unnamed["auto"].to_numpy(), accuracy["auto"].to_numpy())
