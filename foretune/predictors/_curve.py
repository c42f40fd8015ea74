"""`curve`: extrapolate each run's own early curve with an ensemble of saturating families.

Every family is written `f(x) = c - a * g(x; shape)` in the "improving" orientation (`sign * value`
goes up), with `g` decreasing in the budget fraction `x` and `a >= 0`. For a fixed shape the fit is a
two-parameter linear least squares in closed form, so we fit each family on a small grid of shapes
(variable projection) instead of running a nonlinear optimizer: it is fast (microseconds a curve),
deterministic and cannot diverge. The families follow Domhan et al. (2015) and NNI's assessor:

- ``pow3``: ``c - a x^-alpha``
- ``exp3``: ``c - a exp(-k x)``
- ``mmf``: ``c - a / (1 + (x / x0)^delta)`` (MMF; log-power is the same family re-parametrized)
- ``janoschek``: ``c - a exp(-(x / x0)^delta)`` (Janoschek; Weibull is the same family re-parametrized)

Members are weighted by their fit (a Gaussian likelihood of the residuals). The prediction is
anchored on the last observed value: ``last + (f(1) - f(x_last))``, the gain still to come, which is
never negative (a worsening or flat curve is predicted to stay where it is) and capped at a few
times the improvement already seen, so a noisy or diverging curve cannot extrapolate to absurd values.
`point` also gives the spread between members plus the residual noise. `predict` needs finished runs
(`fit`): it moves the extrapolations by their median error on them and takes a conformal interval
from those errors (`calibration`); with too few it ranks by the early score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import (
    Curve,
    Prediction,
    Predictor,
    check_at,
    final_value,
    observed,
    sign,
)
from foretune.predictors.calibration import MIN_FINISHED, calibrated, early_ranking, predicted_basis


def _family_grids() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(family, shape parameter 1, shape parameter 2) per member; every family gets equal prior mass."""
    grids = []
    alphas = np.array([0.25, 0.5, 0.75, 1.0, 1.5])
    grids.append(("pow3", alphas, np.zeros_like(alphas)))
    ks = np.array([3.0, 5.0, 8.0, 12.0])
    grids.append(("exp3", ks, np.zeros_like(ks)))
    x0, delta = np.meshgrid([0.05, 0.1, 0.2, 0.4], [1.0, 2.0])
    grids.append(("mmf", x0.ravel(), delta.ravel()))
    x0, delta = np.meshgrid([0.1, 0.2, 0.4], [0.5, 1.0, 2.0])
    grids.append(("janoschek", x0.ravel(), delta.ravel()))
    return grids


_GRIDS = _family_grids()
CURVE_FAMILIES = tuple(name for name, _, _ in _GRIDS)


def _basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`g(x)` of every member, shape (len(x), members), and each member's prior weight."""
    x = np.maximum(np.asarray(x, dtype=float), 1e-6)[:, None]
    columns, priors = [], []
    for name, p1, p2 in _GRIDS:
        if name == "pow3":
            g = x**-p1
        elif name == "exp3":
            g = np.exp(-p1 * x)
        elif name == "mmf":
            g = 1.0 / (1.0 + (x / p1) ** p2)
        else:  # janoschek
            g = np.exp(-((x / p1) ** p2))
        columns.append(g)
        priors.append(np.full(len(p1), 1.0 / len(p1)))
    return np.hstack(columns), np.concatenate(priors)


def extrapolate(x: np.ndarray, z: np.ndarray, *, max_gain_ratio: float = 3.0) -> tuple[float, float]:
    """Predicted gain from the last point to fraction 1 and its std, for an improving-oriented curve.

    `x`, `z` are the finite points (increasing `x`). With fewer than two distinct fractions there is
    no trend to extrapolate: the gain is 0 with std 0 (the caller decides the cold-start spread).
    """
    if len(x) < 2 or np.ptp(x) <= 0:
        return 0.0, 0.0
    g, prior = _basis(np.append(x, 1.0))
    g, g_end = g[:-1], g[-1]
    gc = g - g.mean(axis=0)
    zc = z - z.mean()
    var = (gc**2).sum(axis=0)
    slope = np.where(var > 0, -(gc.T @ zc) / np.where(var > 0, var, 1.0), 0.0)
    a = np.maximum(slope, 0.0)  # improving only: a worsening member is flat
    c = z.mean() + a * g.mean(axis=0)
    sse = ((z[:, None] - (c - a * g)) ** 2).sum(axis=0)
    gain = a * (g[-1] - g_end)
    seen = float(z.max() - z.min())
    gain = np.minimum(gain, max_gain_ratio * seen)

    dof = len(x) - 2
    scale = max(seen, 1e-12)
    noise_var = max(sse.min() / dof if dof > 0 else 0.0, (1e-3 * scale) ** 2)
    logw = np.log(prior) - 0.5 * (sse - sse.min()) / noise_var
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean_gain = float(w @ gain)
    spread = float(w @ (gain - mean_gain) ** 2)
    noise = sse.min() / dof if dof > 0 else 0.0
    return mean_gain, float(np.sqrt(spread + noise))


class CurvePredictor(Predictor):
    """Parametric learning-curve extrapolation of each run on its own (no other runs needed).

    Args:
        mode: "max" if larger values are better (accuracy), "min" if smaller are (loss).
        max_gain_ratio: the predicted gain still to come is capped at this many times the range
            of values already seen, so short or noisy curves cannot extrapolate wildly.
        cold_start_rel_std: the std `point` gives a one-point curve's prediction, relative to its value.
    """

    name = "curve"

    def __init__(self, *, mode: Mode = "max", max_gain_ratio: float = 3.0, cold_start_rel_std: float = 0.05) -> None:
        super().__init__(mode=mode)
        if not max_gain_ratio >= 0:
            raise ValueError(f"max_gain_ratio must be >= 0, got {max_gain_ratio}")
        if not cold_start_rel_std >= 0:
            raise ValueError(f"cold_start_rel_std must be >= 0, got {cold_start_rel_std}")
        self.max_gain_ratio = float(max_gain_ratio)
        self.cold_start_rel_std = float(cold_start_rel_std)
        self._finished: list[Curve] = []

    def fit(self, curves: Sequence[Curve]) -> CurvePredictor:
        self._finished = list(curves)
        return self

    def point(self, curves: Sequence[Curve], at: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of each curve's prediction (NaN where a curve has no finite point)."""
        s = sign(self.mode)
        mean = np.full(len(curves), np.nan)
        std = np.full(len(curves), np.nan)
        for i, curve in enumerate(curves):
            x, y = observed(curve, at)
            if not len(y):
                continue
            gain, sd = extrapolate(x, s * y, max_gain_ratio=self.max_gain_ratio)
            mean[i] = y[-1] + s * gain
            std[i] = sd if len(np.unique(x)) >= 2 else self.cold_start_rel_std * abs(y[-1])
        return mean, std

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        train = [c for c in self._finished if len(observed(c, at)[1])]
        if len(train) < MIN_FINISHED:
            return early_ranking(curves, at, mode=self.mode, finished=len(train))
        residuals = np.array([final_value(c) for c in train]) - self.point(train, at)[0]
        return calibrated(
            curves,
            self.point(curves, at)[0],
            residuals,
            at=at,
            mode=self.mode,
            basis=predicted_basis(self.name, len(train)),
            recenter=True,
        )
