"""A Gaussian process with one length scale per feature (ARD), the second model inside `learned`.

`_kernel_ridge` weighs features by a rank-correlation heuristic (`relevance`) and shares three length
scales between all of them; this model learns a length scale per feature, the signal, a linear kernel's
variance (a trend carried on beyond the finished runs, as kernel ridge's RBF + linear candidates) and
the noise level by maximizing the marginal likelihood under a log-normal prior on the length scales
(type-II MAP: with 8-25 finished runs and 5-15 features, plain maximum likelihood over-fits the scales
and ranked below MAP on the design sets; scikit-learn's `GaussianProcessRegressor` maximizes the
likelihood only, and the predictors depend on numpy and scipy alone). `_learned` averages the two
models' predictions; `benchmarks/results/verdict.md` (round 13) has what each choice was worth.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize

from foretune.predictors._kernel_ridge import relevance, winsorize, without_constant_columns

PRIOR_SD = 1.0  # of log length scale, around sqrt(features): a scale 2.7x off costs as much as one sd
_LOG_BOUNDS = {  # of the standardized target's sd; length scales in standardized feature units
    "length": (np.log(0.05), np.log(100.0)),
    "signal": (np.log(0.1), np.log(10.0)),
    "noise": (np.log(1e-3), np.log(2.0)),
    "linear": (np.log(1e-3), np.log(10.0)),
}
_JITTER = 1e-8
# The hyperparameters are fit on at most this many runs, evenly spaced in the order given (each likelihood
# step costs runs^3: 0.1 s at 150 runs, 1.7 s at 500, a search with a long history may fit 40 times per
# finished run); the posterior uses every run. No benchmark set reaches it (at most 75 runs).
MAX_FIT_RUNS = 100


def _squared_distances(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Per-feature squared differences, shape (len(P), len(Q), features)."""
    return (P[:, None, :] - Q[None, :, :]) ** 2


def _rbf(D: np.ndarray, log_lengths: np.ndarray, signal: float) -> np.ndarray:
    return signal * np.exp(-0.5 * (D / np.exp(2 * log_lengths)).sum(-1))


def _linear(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    return P @ Q.T / max(P.shape[1], 1)


def _objective(
    theta: np.ndarray, D: np.ndarray, L: np.ndarray, y: np.ndarray, centre: float
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus the length scales' prior, and its gradient in theta =
    (log length scales..., log signal sd, log noise sd, log linear sd); D: per-feature squared
    distances, L: the linear kernel."""
    d = D.shape[-1]
    log_lengths, log_signal, log_noise, log_linear = theta[:d], theta[d], theta[d + 1], theta[d + 2]
    K_rbf = _rbf(D, log_lengths, np.exp(2 * log_signal))
    noise, K_linear = np.exp(2 * log_noise), np.exp(2 * log_linear) * L
    K = K_rbf + K_linear + (noise + _JITTER) * np.eye(len(y))
    try:
        factor = linalg.cho_factor(K, lower=True, check_finite=False)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = linalg.cho_solve(factor, y, check_finite=False)
    value = 0.5 * y @ alpha + np.log(np.diag(factor[0])).sum()
    value += 0.5 * np.sum((log_lengths - centre) ** 2) / PRIOR_SD**2
    # d value / d theta = -1/2 tr((alpha alpha' - K^-1) dK/dtheta)
    inner = np.outer(alpha, alpha) - linalg.cho_solve(factor, np.eye(len(y)), check_finite=False)
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("ij,ij,ijk->k", inner, K_rbf, D / np.exp(2 * log_lengths))
    grad[:d] += (log_lengths - centre) / PRIOR_SD**2
    grad[d] = -0.5 * np.sum(inner * 2 * K_rbf)
    grad[d + 1] = -0.5 * np.trace(inner) * 2 * noise
    grad[d + 2] = -0.5 * np.sum(inner * 2 * K_linear)
    return float(value), grad


def fit_hyperparameters(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """theta = (log length scales..., log signal sd, log noise sd, log linear sd) maximizing the marginal
    likelihood of y (standardized) given A (standardized, no constant column) times the length scales' prior."""
    d = A.shape[1]
    D, L = _squared_distances(A, A), _linear(A, A)
    centre = np.log(np.sqrt(d))
    bounds = [_LOG_BOUNDS["length"]] * d + [_LOG_BOUNDS[key] for key in ("signal", "noise", "linear")]
    best = None
    # Three starts: every scale at the prior's centre, scales shortened for the features that `relevance` finds
    # rank-correlated with the target, and a run-to-run noise as large as the target's spread. With 8 finished
    # runs the likelihood can have two optima (one interpolating the runs, one calling them noise), and from the
    # first two starts a difference of 1e-16 in the target decided which one L-BFGS-B reached: the same runs in
    # bits and in nats were predicted 4% apart (benchmarks/results/verdict.md, round 39).
    centred, relevant = np.full(d, centre), centre - np.log(np.maximum(relevance(A, y), 0.1))
    starts = [
        np.concatenate([centred, [0.0, np.log(0.3), np.log(0.3)]]),
        np.concatenate([relevant, [0.0, np.log(0.3), np.log(0.3)]]),
        np.concatenate([centred, [np.log(0.2), np.log(0.9), np.log(0.3)]]),
    ]
    for start in starts:
        result = optimize.minimize(
            _objective, start, args=(D, L, y, centre), jac=True, method="L-BFGS-B", bounds=bounds
        )
        if best is None or result.fun < best.fun:
            best = result
    return best.x


def posterior(A: np.ndarray, y: np.ndarray, B: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mean at the rows of B, and each row of A's mean from the other rows (exact
    leave-one-out at fixed hyperparameters, Rasmussen & Williams eq. 5.12)."""
    d = A.shape[1]
    log_lengths, signal, noise, linear = theta[:d], *np.exp(2 * theta[d : d + 3])

    def kernel(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
        return _rbf(_squared_distances(P, Q), log_lengths, signal) + linear * _linear(P, Q)

    K_inv = linalg.inv(kernel(A, A) + (noise + _JITTER) * np.eye(len(y)))
    alpha = K_inv @ y
    return kernel(B, A) @ alpha, y - alpha / np.diag(K_inv)


def fit_predict_residual(A: np.ndarray, target: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GP's posterior mean for the rows of B and its leave-one-out predictions on A, for the
    winsorized target; features as `_kernel_ridge` gets them (standardized)."""
    target = winsorize(target)
    mean, scale = float(target.mean()), float(target.std()) or 1.0
    y = (target - mean) / scale
    A, B = without_constant_columns(A, B)
    if A.shape[1] == 0:  # nothing to learn from: the mean
        return np.full(len(B), mean), np.full(len(A), mean)
    fit_rows = np.unique(np.linspace(0, len(y) - 1, min(len(y), MAX_FIT_RUNS)).round().astype(int))
    predictions, loo = posterior(A, y, B, fit_hyperparameters(A[fit_rows], y[fit_rows]))
    return mean + scale * predictions, mean + scale * loo
