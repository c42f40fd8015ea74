import warnings
from dataclasses import replace

import numpy as np
import pytest

from foretune.predictors import AutoPredictor, Curve, LearnedPredictor, get_predictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors._kernel_ridge import relevance, winsorize
from foretune.predictors._learned import ParamEncoder, _Standardizer
from foretune.predictors.synthetic_curves import make_study


def _score(name, finished, test, mode, **options):
    predictor = get_predictor(name, mode=mode, **options).fit(finished)
    prediction = predictor.predict([c.upto(0.2) for c in test], at=0.2)
    finals = [final_value(c) for c in test]
    return metrics.spearman(prediction.mean, finals), prediction, predictor


@pytest.mark.parametrize("name", ["learned", "auto"])
def test_learning_from_hyperparameters_beats_snapshot(name, mode):
    finished = make_study(40, seed=1, mode=mode, noise=0.003)
    test = make_study(40, seed=2, mode=mode, noise=0.003)
    snapshot, _, _ = _score("snapshot", finished, test, mode)
    learned, prediction, _ = _score(name, finished, test, mode)
    assert learned > snapshot + 0.1
    assert learned > 0.9
    finals = np.array([final_value(c) for c in test])
    assert metrics.mae(prediction.mean, finals) < 0.05
    assert 0.5 <= metrics.coverage(prediction.lower, prediction.upper, finals) <= 1.0


def test_learned_falls_back_to_snapshot_with_few_finished_runs(mode):
    finished = make_study(5, seed=1, mode=mode)
    test = [c.upto(0.2) for c in make_study(10, seed=2, mode=mode)]
    learned = LearnedPredictor(mode=mode, min_finished=8).fit(finished).predict(test, at=0.2)
    snapshot = get_predictor("snapshot", mode=mode).fit(finished).predict(test, at=0.2)
    np.testing.assert_allclose(learned.mean, snapshot.mean)


def test_auto_weights_and_cold_start(mode):
    auto = AutoPredictor(mode=mode)
    test = [c.upto(0.2) for c in make_study(10, seed=2, mode=mode)]
    cold = auto.predict(test, at=0.2)
    assert auto.weights_ == {"snapshot": 1.0} and not cold.predicted
    np.testing.assert_allclose(cold.mean, [c.values[-1] for c in test])  # ranked by the early score
    auto.fit(make_study(30, seed=1, mode=mode, noise=0.003)).predict(test, at=0.2)
    assert sum(auto.weights_.values()) == pytest.approx(1.0, abs=1e-3)
    assert auto.weights_["learned"] > 0.5  # the hyperparameters carry the signal here


def test_learned_difference_target_handles_non_positive_values():
    # Losses shifted below zero: the log target cannot apply, the difference target must.
    finished = make_study(20, seed=1, mode="min")
    test = [c.upto(0.2) for c in make_study(10, seed=2, mode="min")]
    prediction = LearnedPredictor(mode="min").fit(finished).predict(test, at=0.2)
    assert np.isfinite(prediction.mean).all()
    with pytest.raises(ValueError, match="positive"):
        LearnedPredictor(mode="min", target="log").fit(finished).predict(test, at=0.2)


def test_param_encoder_logs_wide_numbers_and_one_hots_strings():
    params = [{"lr": 1e-4, "opt": "adam", "depth": 2}, {"lr": 1e-2, "opt": "sgd", "depth": 3}, {"lr": 1e-3}]
    encoder = ParamEncoder().fit(params)
    assert encoder.numeric == {"depth": False, "lr": True}
    assert encoder.categories == {"opt": ["adam", "sgd"]}
    X = encoder.transform(params)
    assert X.shape == (3, 4)
    np.testing.assert_allclose(X[:, 1], np.log([1e-4, 1e-2, 1e-3]))
    assert np.isnan(X[2, 0])  # missing depth: imputed later by the standardizer
    np.testing.assert_array_equal(X[2, 2:], [0, 0])  # unseen / missing category


def test_winsorize_clips_outliers_only():
    target = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 10.0])
    clipped = winsorize(target)
    assert clipped[-1] < 1.0
    np.testing.assert_array_equal(clipped[:-1], target[:-1])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="mode"):
        get_predictor("learned", mode="up")
    with pytest.raises(ValueError, match="unknown predictor 'magic'"):
        get_predictor("magic")
    with pytest.raises(ValueError, match="min_finished"):
        LearnedPredictor(min_finished=1)
    with pytest.raises(ValueError, match="combine"):
        AutoPredictor(combine="vote")
    with pytest.raises(ValueError, match="at must be"):
        get_predictor("snapshot").predict([Curve([0.1], [1.0])], at=0)


def test_auto_cold_start_is_shifted_onto_the_scale_of_finals(mode):
    # Three finished runs (too few to learn from) still tell how much runs move after 20%.
    finished = make_study(3, seed=1, mode=mode)
    test = make_study(10, seed=2, mode=mode)
    auto = AutoPredictor(mode=mode).fit(finished)
    prediction = auto.predict([c.upto(0.2) for c in test], at=0.2)
    assert auto.weights_ == {"snapshot": 1.0}
    early = np.array([c.upto(0.2).values[-1] for c in test])
    finals = np.array([final_value(c) for c in test])
    assert metrics.mae(prediction.mean, finals) < 0.5 * metrics.mae(early, finals)
    np.testing.assert_allclose(np.diff(prediction.mean), np.diff(early))  # same order as the early scores
    assert prediction.predicted and prediction.finished_used == 3


def test_relevance_weighs_informative_columns_over_noise():
    rng = np.random.default_rng(0)
    n = 40
    slope, bowl, noise = rng.normal(size=(3, n))
    target = 2.0 * slope + bowl**2 + 0.1 * rng.normal(size=n)
    weights = relevance(np.column_stack([slope, bowl, noise, np.ones(n)]), target)
    assert weights.max() == pytest.approx(1.0)
    assert weights[0] > weights[2] and weights[1] > weights[2]  # a U-shaped effect counts too
    assert weights[3] == 0.0  # a constant column carries nothing
    few = relevance(np.column_stack([slope[:4], noise[:4]]), target[:4])
    assert np.array_equal(few, np.ones(2))  # too few runs to judge: all weigh the same


def test_kernel_ridge_candidates_are_averaged_by_their_leave_one_out_error():
    from foretune.predictors._kernel_ridge import fit_predict_residual, kernels, loo_candidates

    rng = np.random.default_rng(0)
    A, B = rng.uniform(-2, 2, (30, 1)), np.linspace(-2, 2, 9)[:, None]
    target = np.sin(A[:, 0]) + rng.normal(0, 0.1, 30)
    predictions, loos, errors = loo_candidates(kernels(A, A), target, kernels(B, A))
    assert predictions.shape == (9, 78) and loos.shape == (30, 78) and errors.shape == (78,)  # 6 kernels x 13
    averaged, loo = fit_predict_residual(A, target, B)
    assert np.all((averaged >= predictions.min(axis=1) - 1e-12) & (averaged <= predictions.max(axis=1) + 1e-12))
    assert np.mean((loo - target) ** 2) <= np.median(errors)  # weighted towards the better candidates
    assert np.abs(averaged - np.sin(B[:, 0])).max() < 0.25


def test_a_linear_trend_continues_beyond_the_finished_runs():
    # RBF kernels alone fall back to the mean far from the finished runs; the RBF + linear candidates
    # carry a trend on (the best run of a study often lies beyond every finished one).
    from foretune.predictors._kernel_ridge import fit_predict_residual

    rng = np.random.default_rng(0)
    A = rng.uniform(-1, 1, (20, 1))
    target = 2.0 * A[:, 0] + rng.normal(0, 0.02, 20)
    predicted, _ = fit_predict_residual(A, target, np.array([[2.0]]))
    assert predicted[0] > 1.2 * target.max()


def test_a_score_objective_learns_its_change_as_a_difference():
    # Mode "max" (an accuracy rising from near its floor): final - early, not log(final / early).
    def positive(curves):  # every value > 0, so the log target would apply
        return [Curve(c.fractions, c.values + 1.0, c.params, c.trial) for c in curves]

    finished = positive(make_study(20, seed=1, mode="max"))
    test = [c.upto(0.2) for c in positive(make_study(10, seed=2, mode="max"))]
    assert all((c.values > 0).all() for c in [*finished, *test])
    auto = LearnedPredictor(mode="max").fit(finished).predict(test, at=0.2)
    difference = LearnedPredictor(mode="max", target="difference").fit(finished).predict(test, at=0.2)
    log = LearnedPredictor(mode="max", target="log").fit(finished).predict(test, at=0.2)
    np.testing.assert_allclose(auto.mean, difference.mean)
    assert not np.allclose(auto.mean, log.mean)


def test_a_feature_no_run_has_is_dropped_without_a_warning():
    """A metric no finished run reports by the early fraction (all NaN) is expected, not an error: a search's log
    printed numpy's "Mean of empty slice" at every judgement (round 32)."""
    X = np.array([[1.0, np.nan], [3.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler = _Standardizer.fit(X)
    np.testing.assert_allclose(scaler.transform(np.array([[2.0, 5.0]])), [[0.0, 0.0]])


def test_a_column_the_same_in_every_run_changes_no_prediction():
    """A training loop's `epoch` counter (the same at 20% in every run) or a feature no run has yet: nothing to
    learn from, so the kernels' scale must not count it (round 40: it shrank every distance and moved a replayed
    twin's prediction by 0.03)."""
    from foretune.predictors._kernel_ridge import fit_predict_residual

    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(12, 3)), rng.normal(size=(4, 3))
    target = A[:, 0] - 0.5 * A[:, 1] ** 2 + rng.normal(0, 0.1, 12)
    plain = fit_predict_residual(A, target, B)
    padded = fit_predict_residual(np.hstack([A, np.zeros((12, 2))]), target, np.hstack([B, np.zeros((4, 2))]))
    for got, expected in zip(padded, plain, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    study = make_study(16, mode="max", seed=3, noise=0.01)
    counted = [replace(c, extras={**c.extras, "epoch": 3.0 * c.fractions}) for c in study]
    learned = LearnedPredictor(mode="max").fit(study[:10])
    with_epoch = LearnedPredictor(mode="max").fit(counted[:10])
    expected = learned.predict([c.upto(0.2) for c in study[10:]], at=0.2)
    got = with_epoch.predict([c.upto(0.2) for c in counted[10:]], at=0.2)
    np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-9)
