"""Saturating curve families of score against training-set size, and a robust fit of one family.

Every family is monotone non-decreasing in x = n / n_ref (n_ref = largest measured n, which keeps
the parameters of order one) and its first parameter is the asymptote. Scores are in signed units
(the fit always maximizes; the model negates a minimized metric).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares


@dataclass(frozen=True)
class Family:
    """A parametric saturating curve: `f(x, *theta)` with bounds and starting points."""

    name: str
    f: Callable[..., np.ndarray]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    starts: Callable[[np.ndarray, np.ndarray], list[list[float]]]
    # Index of the power-law exponent among the parameters (for the exponent prior), if any.
    exponent: int | None = None

    @property
    def n_params(self) -> int:
        return len(self.lower)


def _gap(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Top of the data and how far the first point lies below it (a scale for b)."""
    top = float(np.max(y))
    return top, max(top - float(y[np.argmin(x)]), 1e-6)


def _flat(x, a):
    return np.full_like(x, a, dtype=float)


def _pow3(x, a, b, c):
    return a - b * x ** (-c)


def _pow4(x, a, b, c, d):
    return a - b * ((x + d) / (1.0 + d)) ** (-c)


def _exp3(x, a, b, c):
    return a - b * np.exp(-c * x)


def _wbl4(x, a, b, c, d):
    return a - b * np.exp(-c * x**d)


def _mmf4(x, a, b, k, d):
    # Morgan-Mercer-Flodin: a sigmoid in log n, from a - b (small n) to a (large n).
    return a - b / (1.0 + (x / k) ** d)


_INF = np.inf

SATURATION_FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family("flat", _flat, (-_INF,), (_INF,), lambda x, y: [[float(np.mean(y))]]),
        Family(
            "pow3",
            _pow3,
            (-_INF, 0.0, 1e-3),
            (_INF, _INF, 4.0),
            lambda x, y: [
                [_gap(x, y)[0] + 0.1 * _gap(x, y)[1] * s, 0.1 * _gap(x, y)[1] * s, c]
                for s, c in ((1.0, 0.5), (0.5, 1.0), (3.0, 0.2))
            ],
            exponent=2,
        ),
        Family(
            "pow4",
            _pow4,
            (-_INF, 0.0, 1e-3, 0.0),
            (_INF, _INF, 6.0, 10.0),
            lambda x, y: [
                [_gap(x, y)[0] + 0.05 * _gap(x, y)[1], 0.1 * _gap(x, y)[1], 0.7, 0.01],
                [_gap(x, y)[0] + 0.3 * _gap(x, y)[1], 0.3 * _gap(x, y)[1], 0.3, 0.1],
            ],
            exponent=2,
        ),
        Family(
            "exp3",
            _exp3,
            (-_INF, 0.0, 1e-2),
            (_INF, _INF, 1e3),
            lambda x, y: [[_gap(x, y)[0], _gap(x, y)[1] * 2, c] for c in (3.0, 30.0)],
        ),
        Family(
            "wbl4",
            _wbl4,
            (-_INF, 0.0, 1e-3, 1e-2),
            (_INF, _INF, 1e3, 3.0),
            lambda x, y: [[_gap(x, y)[0], _gap(x, y)[1] * 2, c, d] for c, d in ((5.0, 0.5), (20.0, 0.3))],
        ),
        Family(
            "mmf4",
            _mmf4,
            (-_INF, 0.0, 1e-6, 1e-2),
            (_INF, _INF, 1e3, 6.0),
            lambda x, y: [
                [_gap(x, y)[0], _gap(x, y)[1] * 2, float(np.min(x)), 1.0],
                [_gap(x, y)[0] + 0.1 * _gap(x, y)[1], _gap(x, y)[1] * 1.5, 0.1, 0.5],
            ],
        ),
    ]
}
# The default mix: on LCDB the power laws extrapolate best; exp3 and Weibull saturate too early, and
# MMF too often predicts a plateau that is not there (all kept available for users who know better).
DEFAULT_FAMILIES = ("flat", "pow3", "pow4")

# Prior on the power-law exponent c (median, sd of log c) and the tail weight x^1 of the default
# model: chosen on the LCDB curves of one half of the datasets (split by openmlid) only, see
# benchmarks/results/saturation.md; the other half is the test set.
DEFAULT_EXPONENT_PRIOR = (0.25, 0.7)
DEFAULT_TAIL_WEIGHT = 1.0


@dataclass(frozen=True)
class FamilyFit:
    """One family's fitted parameters, its weighted residual sum of squares and AICc."""

    family: str
    params: np.ndarray
    rss: float  # weighted residual sum of squares
    aicc: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return SATURATION_FAMILIES[self.family].f(np.asarray(x, dtype=float), *self.params)

    @property
    def asymptote(self) -> float:
        return float(self.params[0])


def _clip_start(start: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> np.ndarray:
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    span = np.where(np.isfinite(hi - lo), (hi - lo) * 1e-6, 1e-9)
    return np.clip(np.asarray(start, dtype=float), lo + span, hi - span)


def _fit_bounds(family: Family, y: np.ndarray, scale: float, ceiling: float | None) -> tuple[list, list]:
    """The family's parameter bounds, with the gap b and (given a ceiling) the asymptote capped."""
    lower, upper = list(family.lower), list(family.upper)
    if family.n_params > 1:
        # b (the gap the curve closes) within 20x the data's spread: without this cap MMF and
        # Weibull drift to a pow3-like limit with b -> inf, slowly and to no better fit.
        upper[1] = 20 * max(float(np.ptp(y)), scale, 1e-6)
    if ceiling is not None:
        upper[0] = max(float(ceiling), float(np.max(y)) + 1e-9)  # never below a measured point
    return lower, upper


def fit_family(
    family: Family | str,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    noise: float,
    starts: Sequence[Sequence[float]] | None = None,
    exponent_prior: tuple[float, float] | None = None,
    ceiling: float | None = None,
) -> FamilyFit | None:
    """Robust weighted least squares of one family; None when it has too few points to judge.

    `w` are per-point weights (repeats at that n); `noise` sets where the soft-L1 loss turns from
    quadratic to linear, so points further than a few noise levels off the curve count less.
    `exponent_prior` = (median, log-sd): a log-normal prior on the power-law exponent of the
    families that have one (a penalty term in the least squares, i.e. a MAP fit). `ceiling` caps
    the asymptote (the best score the metric allows, e.g. an accuracy of 1).
    """
    family = SATURATION_FAMILIES[family] if isinstance(family, str) else family
    k, m = family.n_params, len(x)
    # The exponent prior counts as one more observation: it pins c, so a power law is determined by
    # as few as three points (a MAP fit, its uncertainty left to the bootstrap and the calibration).
    has_prior = exponent_prior is not None and family.exponent is not None
    m_eff = m + int(has_prior)
    if m_eff < k + (1 if has_prior else 2):  # one point of slack beyond the parameters
        return None
    sw = np.sqrt(w)
    scale = max(noise, 1e-9)
    lower, upper = _fit_bounds(family, y, scale, ceiling)
    residual = lambda p: sw * (family.f(x, *p) - y)  # noqa: E731
    if exponent_prior is not None and family.exponent is not None:
        # In noise units the penalty is (log c - log median) / sd, whatever the weights' scale.
        i, log_median, sd = family.exponent, np.log(exponent_prior[0]), exponent_prior[1]
        prior_scale = scale * np.sqrt(np.max(w)) / sd
        residual = lambda p: np.append(sw * (family.f(x, *p) - y), prior_scale * (np.log(p[i]) - log_median))  # noqa: E731
    best = None
    for start in starts if starts is not None else family.starts(x, y):
        try:
            result = least_squares(
                residual,
                _clip_start(start, lower, upper),
                bounds=(lower, upper),
                loss="soft_l1",
                f_scale=scale,
                max_nfev=100 * k,
                xtol=1e-7,
                ftol=1e-7,
            )
        except (ValueError, FloatingPointError):
            continue
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.cost):
            continue
        if best is None or result.cost < best.cost:
            best = result
    if best is None:
        return None
    rss = float(np.sum(w * (family.f(x, *best.x) - y) ** 2))
    # A floor on the residual variance: an exact fit of few points must not win by log(0).
    sigma2 = max(rss / np.sum(w), (0.05 * scale) ** 2, 1e-18)
    # AICc; with too few points for its small-sample term, that term counts the prior as a point,
    # and with fewer still (three points, three parameters) it is plain AIC.
    dof = m - k - 1 if m - k - 1 > 0 else m_eff - k - 1
    correction = 2 * k * (k + 1) / dof if dof > 0 else 0.0
    aicc = m * np.log(sigma2) + 2 * k + correction
    return FamilyFit(family.name, best.x, rss, float(aicc))
