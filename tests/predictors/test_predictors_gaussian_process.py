"""The Gaussian process inside `learned`: its likelihood gradient, its leave-one-out, its length scales."""

import numpy as np
import pytest
from scipy import optimize

from foretune.predictors import _gaussian_process as gp


def test_the_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    A, y = rng.normal(size=(15, 4)), rng.normal(size=15)
    distances, linear = gp._squared_distances(A, A), gp._linear(A, A)
    for _ in range(3):
        theta = rng.normal(scale=0.5, size=7)
        value = lambda t: gp._objective(t, distances, linear, y, 0.7)[0]  # noqa: E731
        gradient = lambda t: gp._objective(t, distances, linear, y, 0.7)[1]  # noqa: E731
        assert optimize.check_grad(value, gradient, theta) < 1e-4 * np.linalg.norm(gradient(theta))


def test_leave_one_out_equals_a_posterior_without_the_run():
    rng = np.random.default_rng(2)
    A, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    theta = np.array([0.2, -0.3, 0.5, 0.1, np.log(0.4), np.log(0.5)])
    _, loo = gp.posterior(A, y, A[:1], theta)
    for i in range(len(y)):
        others = np.arange(len(y)) != i
        alone, _ = gp.posterior(A[others], y[others], A[i : i + 1], theta)
        assert loo[i] == pytest.approx(alone[0], abs=1e-8)


def test_an_irrelevant_feature_gets_a_long_length_scale_and_predictions_follow_the_relevant_one():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(25, 4))  # only column 0 matters
    target = np.sin(1.5 * A[:, 0]) + rng.normal(0, 0.05, 25)
    y = (target - target.mean()) / target.std()
    theta = gp.fit_hyperparameters(A, y)
    assert np.all(theta[0] < theta[1:4] - 1.0)  # e-fold shorter than every irrelevant one
    B = np.column_stack([np.linspace(-1.5, 1.5, 7), rng.normal(size=(7, 3))])
    predicted, loo = gp.fit_predict_residual(A, target, B)
    assert np.abs(predicted - np.sin(1.5 * B[:, 0])).max() < 0.2
    assert np.mean((loo - target) ** 2) < 0.1 * np.var(target)


def test_a_linear_trend_continues_beyond_the_finished_runs():
    rng = np.random.default_rng(4)
    A = rng.uniform(-1, 1, (20, 2))
    target = 2.0 * A[:, 0] + rng.normal(0, 0.02, 20)
    predicted, _ = gp.fit_predict_residual(A, target, np.array([[2.0, 0.0]]))
    assert predicted[0] > 1.2 * target.max()


def test_a_long_history_fits_hyperparameters_on_a_subset_and_predicts_from_every_run(monkeypatch):
    rng = np.random.default_rng(5)
    A = rng.normal(size=(60, 3))
    target = np.sin(1.5 * A[:, 0]) + rng.normal(0, 0.05, 60)
    fitted_on = []
    fit = gp.fit_hyperparameters
    monkeypatch.setattr(gp, "fit_hyperparameters", lambda A, y: fitted_on.append(len(y)) or fit(A, y))
    monkeypatch.setattr(gp, "MAX_FIT_RUNS", 20)
    predicted, loo = gp.fit_predict_residual(A, target, A[:5])
    assert fitted_on == [20] and loo.shape == (60,)
    assert np.abs(predicted - np.sin(1.5 * A[:5, 0])).max() < 0.2


def test_constant_features_leave_the_mean():
    target = np.array([0.1, 0.3, 0.2, 0.4])
    predicted, loo = gp.fit_predict_residual(np.ones((4, 2)), target, np.ones((3, 2)))
    assert np.allclose(predicted, target.mean()) and np.allclose(loo, target.mean())


def test_one_study_in_other_units_gets_the_same_hyperparameters():
    """Eight finished runs of the job set (odd ids, one replayed twin): the design of `learned` on their eval loss,
    and the target in nats and in bits, equal to 2e-16. The likelihood has two optima there; from two starts the
    nats target reached the worse (interpolating, noise at its floor) and the bits target the better (noise), and
    the loss's predicted final differed by 4% (round 39). From three starts both reach the better one."""
    A = np.array(
        [
            [0.05705156741795651, -0.7415362160696646],
            [0.20152036743800597, -0.26355677665568006],
            [-1.4886574123285166, -0.9951775364990084],
            [-0.4739438556407108, -1.1922475151079146],
            [0.9555562721615787, 1.1418499972138696],
            [-1.443751155868012, -0.5064151690907293],
            [0.8563389939457111, 1.0147098697077146],
            [1.3358852228739868, 1.5423733465014127],
        ]
    )
    nats = np.array([-0.8807296046791219, -0.6994216991729418, -0.6855553194916864, -0.8049689560995644])
    nats = np.concatenate([nats, [-0.7519952062051917, -0.7348877786559119, -0.7548050029165005, -0.7352792888675574]])
    bits, A_bits = nats.copy(), A.copy()  # the same runs' design and target from the loss in bits
    bits[0], bits[1] = -0.8807296046791218, -0.6994216991729421
    A_bits[[0, 1, 3], 0] = [0.05705156741795638, 0.20152036743800622, -0.4739438556407107]
    A_bits[[4, 6, 7], 0] = [0.9555562721615789, 0.856338993945711, 1.3358852228739866]
    judged = np.array([[0.03366928594715006, -0.6456501576145357]])
    in_nats = gp.fit_predict_residual(A, nats, judged)[0][0]
    in_bits = gp.fit_predict_residual(A_bits, bits, judged)[0][0]
    assert in_nats == pytest.approx(in_bits, abs=1e-6)
    y = (nats - nats.mean()) / nats.std()
    theta = gp.fit_hyperparameters(A, y)
    assert gp._objective(theta, gp._squared_distances(A, A), gp._linear(A, A), y, np.log(np.sqrt(2)))[0] < 4.1
