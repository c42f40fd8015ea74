"""Data saturation: fit score against training-set size n and say how much data is enough.

A saturating learning curve is fitted to (n, score) points with several parametric families
(inverse power law ``a - b n^-c`` and the alternatives LCDB found best at extrapolating: pow4,
exponential, Weibull, MMF, plus a flat line for curves that already plateaued; the flat line is no
candidate while the last points still rise). Each family is fitted with a robust loss, so one bad
seed or a dip does not drag the curve (a point far off is set aside, never the one at the largest n);
families are averaged with AICc weights. The power laws get a log-normal prior on their exponent
and the points a weight growing with n (x^1), both chosen on half of the LCDB datasets: fitted
freely, the start of a real learning curve tends to promise a plateau sooner than it comes. Uncertainty comes from a bootstrap
over repeats (or over residuals when every n was measured once), refitting and re-weighting the
families in each replicate; that only sees measurement noise, so the reported intervals of the
minimum useful / sufficient n are widened by the model's extrapolation error measured on LCDB
(`calibrated=False` gives the bootstrap band alone; both are kept on the result).

From the averaged curve F(n):

- ``asymptote``          lim F(n) as n grows;
- ``min_useful_n``       smallest n with F(n) within ``epsilon`` of the asymptote
                         ("would more data help?"); ``None`` when beyond ``horizon`` x the largest n;
- ``min_sufficient_n``   smallest n with F(n) within ``epsilon`` of F(max_n), ``max_n`` being the data
                         the user has ("how much of my data do I need?");
- ``gain_per_doubling``  F(2n) - F(n) at each measured n.

Scores may be maximized (accuracy) or minimized (loss): ``mode="min"`` fits the negated values.
Pure numpy / scipy: no torch, no ray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.optimize import least_squares

from foretune.errors import ForetuneError

Mode = Literal["max", "min"]


# --- families ------------------------------------------------------------------------------------
# Every family is monotone non-decreasing in x = n / n_ref (n_ref = largest measured n, which keeps
# the parameters of order one) and its first parameter is the asymptote.


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

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family("flat", _flat, (-_INF,), (_INF,), lambda x, y: [[float(np.mean(y))]]),
        Family(
            "pow3",
            _pow3,
            (-_INF, 0.0, 1e-3),
            (_INF, _INF, 4.0),
            lambda x, y: [[_gap(x, y)[0] + 0.1 * _gap(x, y)[1] * s, 0.1 * _gap(x, y)[1] * s, c]
                          for s, c in ((1.0, 0.5), (0.5, 1.0), (3.0, 0.2))],
            exponent=2,
        ),
        Family(
            "pow4",
            _pow4,
            (-_INF, 0.0, 1e-3, 0.0),
            (_INF, _INF, 6.0, 10.0),
            lambda x, y: [[_gap(x, y)[0] + 0.05 * _gap(x, y)[1], 0.1 * _gap(x, y)[1], 0.7, 0.01],
                          [_gap(x, y)[0] + 0.3 * _gap(x, y)[1], 0.3 * _gap(x, y)[1], 0.3, 0.1]],
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
            lambda x, y: [[_gap(x, y)[0], _gap(x, y)[1] * 2, float(np.min(x)), 1.0],
                          [_gap(x, y)[0] + 0.1 * _gap(x, y)[1], _gap(x, y)[1] * 1.5, 0.1, 0.5]],
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

# Extrapolation error of the default model: quantiles of log(true / predicted minimum sufficient n)
# on the training half of LCDB (1,766 predictions from the first 30% of compute, both epsilons), for predictions
# read off the measured points and for predictions beyond them. The bootstrap only sees measurement
# noise; these say how wrong a curve family tends to be, and widen the intervals accordingly.
_CALIBRATION_LEVELS = np.array([0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975])
_CALIBRATION_LOG_RATIO = {
    "measured": np.array([-1.543, -0.901, -0.451, -0.093, 0.014, 1.014, 2.908, 4.123, 4.68]),
    "extrapolated": np.array([-1.836, -1.535, -0.947, -0.447, -0.094, 0.121, 0.387, 0.583, 0.743]),
}


def calibrated_band(
    value: float | None, *, extrapolated: bool, interval: float, lo: float, hi: float
) -> tuple[float | None, float | None]:
    """Central `interval` band for a predicted size from the model's error on LCDB, within [lo, hi]."""
    if value is None or not np.isfinite(value):
        return (None, None)
    table = _CALIBRATION_LOG_RATIO["extrapolated" if extrapolated else "measured"]
    alpha = (1 - interval) / 2
    # Beyond the tabulated levels, hold the outermost quantile (an under-statement, said in the docs).
    q_lo, q_hi = np.interp([alpha, 1 - alpha], _CALIBRATION_LEVELS, table)
    return (float(np.clip(value * np.exp(q_lo), lo, hi)), float(np.clip(value * np.exp(q_hi), lo, hi)))


@dataclass(frozen=True)
class FamilyFit:
    family: str
    params: np.ndarray
    rss: float  # weighted residual sum of squares
    aicc: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return FAMILIES[self.family].f(np.asarray(x, dtype=float), *self.params)

    @property
    def asymptote(self) -> float:
        return float(self.params[0])


def _clip_start(start: Sequence[float], lower: Sequence[float], upper: Sequence[float]) -> np.ndarray:
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    span = np.where(np.isfinite(hi - lo), (hi - lo) * 1e-6, 1e-9)
    return np.clip(np.asarray(start, dtype=float), lo + span, hi - span)


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
    family = FAMILIES[family] if isinstance(family, str) else family
    k, m = family.n_params, len(x)
    if m < k + 2:  # AICc needs m - k - 1 > 0, and we want one point of slack
        return None
    sw = np.sqrt(w)
    scale = max(noise, 1e-9)
    lower, upper = list(family.lower), list(family.upper)
    if k > 1:
        # b (the gap the curve closes) within 20x the data's spread: without this cap MMF and
        # Weibull drift to a pow3-like limit with b -> inf, slowly and to no better fit.
        upper[1] = 20 * max(float(np.ptp(y)), scale, 1e-6)
    if ceiling is not None:
        upper[0] = max(float(ceiling), float(np.max(y)) + 1e-9)  # never below a measured point
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
    aicc = m * np.log(sigma2) + 2 * k + 2 * k * (k + 1) / (m - k - 1)
    return FamilyFit(family.name, best.x, rss, float(aicc))


def _aicc_weights(fits: Sequence[FamilyFit]) -> np.ndarray:
    aicc = np.array([f.aicc for f in fits])
    weights = np.exp(-0.5 * (aicc - aicc.min()))
    return weights / weights.sum()


@dataclass(frozen=True)
class _Ensemble:
    """AICc-weighted average of family fits, in the normalized x = n / n_ref and signed units."""

    fits: tuple[FamilyFit, ...]
    weights: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return sum(w * f(x) for f, w in zip(self.fits, self.weights))

    @property
    def asymptote(self) -> float:
        return float(sum(w * f.asymptote for f, w in zip(self.fits, self.weights)))


def still_rising(x: np.ndarray, y: np.ndarray, w: np.ndarray, noise: float, *, z: float = 3.0) -> bool:
    """Whether the last half of the points (at least three) still climb, by more than `z` noise levels.

    A weighted least-squares slope of score against log n over the tail, judged by its standard
    error under the estimated noise of a per-n mean. A flat line is then no explanation of the
    points, however few there are: with five points AICc charges a three-parameter curve 30 units
    more than a constant, enough to make a plain rise look like a plateau plus noise.
    """
    k = max(3, (len(x) + 1) // 2)
    if len(x) < 3 or noise <= 0:
        return False
    t, v, wt = np.log(x[-k:]), y[-k:], w[-k:]
    t_mean = np.sum(wt * t) / np.sum(wt)
    sxx = float(np.sum(wt * (t - t_mean) ** 2))
    if sxx <= 0:
        return False
    slope = float(np.sum(wt * (t - t_mean) * v)) / sxx
    # noise is the sd of a mean of the typical count; a mean of wt runs has variance ~ noise^2 w̄ / wt.
    se = noise * np.sqrt(float(np.mean(w))) / np.sqrt(sxx)
    return slope > z * se


def _fit_ensemble(x, y, w, families, noise, warm: _Ensemble | None = None, prior=None, ceiling=None) -> _Ensemble | None:
    fits = []
    if "flat" in families and len(families) > 1 and still_rising(x, y, w, noise):
        families = [name for name in families if name != "flat"]
    if warm is not None:
        # Bootstrap replicates refit only the families that carry weight in the full-data fit,
        # each from its full-data parameters: fast, and the others would hardly count anyway.
        warm_params = {f.family: f.params for f, wt in zip(warm.fits, warm.weights) if wt >= 0.01}
        families = [name for name in families if name in warm_params]
    for name in families:
        family = FAMILIES[name]
        starts = [warm_params[name]] if warm is not None else None
        fit = fit_family(family, x, y, w, noise=noise, starts=starts, exponent_prior=prior, ceiling=ceiling)
        if fit is not None:
            fits.append(fit)
    if not fits:
        return None
    return _Ensemble(tuple(fits), _aicc_weights(fits))


def _first_crossing(grid: np.ndarray, values: np.ndarray, target: float) -> float | None:
    """Smallest grid point (log-interpolated) where the non-decreasing `values` reach `target`."""
    reached = np.nonzero(values >= target)[0]
    if len(reached) == 0:
        return None
    i = reached[0]
    if i == 0:
        return float(grid[0])
    # Interpolate in log n between the last point below and the first point at or above target.
    v0, v1 = values[i - 1], values[i]
    t = 0.0 if v1 <= v0 else (target - v0) / (v1 - v0)
    return float(np.exp(np.log(grid[i - 1]) + t * (np.log(grid[i]) - np.log(grid[i - 1]))))


def isotonic(y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Pool-adjacent-violators: the closest non-decreasing sequence to `y` in weighted least squares."""
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    blocks: list[list[float]] = []  # [mean, weight, length]
    for value, weight in zip(np.asarray(y, dtype=float), w):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, l2 = blocks.pop()
            m1, w1, l1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, l1 + l2])
    return np.concatenate([np.full(int(length), mean) for mean, _, length in blocks])


def _noise_level(n: np.ndarray, y: np.ndarray, groups: Mapping[float, np.ndarray]) -> float:
    """Noise of a per-n mean: from repeats when there are some, else from successive differences."""
    spreads = [np.std(v, ddof=1) / np.sqrt(len(v)) for v in groups.values() if len(v) >= 2]
    if spreads:
        return float(np.median(spreads))
    if len(y) >= 3:
        # Second differences cancel a smooth trend; MAD makes one outlier harmless.
        d2 = np.diff(y, 2) / np.sqrt(6.0)
        return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) + 1e-12)
    return float(np.std(y) + 1e-12)


# --- result --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaturationResult:
    """What the fit says about data saturation; scores are in the user's units (not negated)."""

    mode: Mode
    epsilon: float
    interval: float
    max_n: float
    n: np.ndarray  # distinct measured sizes (n > 0), increasing
    mean: np.ndarray  # mean score at each of them
    count: np.ndarray  # measurements at each of them
    baseline: float | None  # mean score at n = 0 (zero-shot), when measured
    asymptote: float
    asymptote_interval: tuple[float, float]
    min_useful_n: float | None
    min_useful_n_interval: tuple[float | None, float | None]
    min_sufficient_n: float
    min_sufficient_n_interval: tuple[float, float]
    score_at_max_n: float
    family_weights: dict[str, float]
    horizon: float
    n_bootstrap: int
    set_aside: tuple[float, ...]  # sizes whose points lay far off the robust fit and were left out
    # The bootstrap-only bands (measurement noise only); the *_interval fields above also include
    # the extrapolation error learned on LCDB when the model is `calibrated`.
    min_useful_n_noise_interval: tuple[float | None, float | None]
    min_sufficient_n_noise_interval: tuple[float | None, float | None]
    _ensemble: _Ensemble = field(repr=False)
    _replicates: tuple[_Ensemble, ...] = field(repr=False)
    _n_ref: float = field(repr=False)
    # Per bootstrap replicate: (asymptote, min useful n, min sufficient n); inf = beyond horizon.
    _replicate_estimates: np.ndarray = field(repr=False, default_factory=lambda: np.empty((0, 3)))
    bounds: tuple[float | None, float | None] | None = None  # the metric's range: predictions stay in it

    @property
    def extrapolated(self) -> bool:
        """True when the minimum useful n lies beyond the largest measured n (or was not reached)."""
        return self.min_useful_n is None or self.min_useful_n > self.n[-1]

    @property
    def min_sufficient_n_extrapolated(self) -> bool:
        return self.min_sufficient_n > self.n[-1]

    def _sign(self) -> float:
        return 1.0 if self.mode == "max" else -1.0

    def _clip(self, values: np.ndarray) -> np.ndarray:
        if self.bounds is None:
            return values
        low, high = self.bounds
        return np.clip(values, -np.inf if low is None else low, np.inf if high is None else high)

    def predict(self, n: Any) -> np.ndarray:
        """Predicted score at sizes `n` (> 0)."""
        x = np.asarray(n, dtype=float) / self._n_ref
        return self._clip(self._sign() * self._ensemble(x))

    def predict_interval(self, n: Any) -> tuple[np.ndarray, np.ndarray]:
        """Central `interval` band of the predicted score at sizes `n`, from the bootstrap."""
        x = np.asarray(n, dtype=float) / self._n_ref
        if not self._replicates:
            value = self.predict(n)
            return value, value
        curves = self._clip(self._sign() * np.array([r(x) for r in self._replicates]))
        alpha = (1 - self.interval) / 2
        lower, upper = np.quantile(curves, alpha, axis=0), np.quantile(curves, 1 - alpha, axis=0)
        point = self.predict(n)  # held inside its band, as the asymptote's (see `fit`)
        return np.minimum(lower, point), np.maximum(upper, point)

    def replicate_curves(self, n: Any) -> np.ndarray:
        """Predicted score at sizes `n` under each bootstrap replicate: shape (replicates, len(n))."""
        x = np.atleast_1d(np.asarray(n, dtype=float)) / self._n_ref
        curves = self._sign() * np.array([r(x) for r in self._replicates]).reshape(len(self._replicates), len(x))
        return self._clip(curves)

    def replicate_estimates(self, which: Literal["min_useful_n", "min_sufficient_n", "asymptote"]) -> np.ndarray:
        """`which` under each bootstrap replicate (inf where the minimum useful n is beyond the horizon)."""
        column = {"asymptote": 0, "min_useful_n": 1, "min_sufficient_n": 2}[which]
        values = self._replicate_estimates[:, column].copy()
        return self._sign() * values if column == 0 else values

    def gain_per_doubling(self, n: Any = None) -> np.ndarray:
        """Improvement F(2n) - F(n) in the user's direction (positive = better), at `n` (default: measured n)."""
        n = self.n if n is None else np.asarray(n, dtype=float)
        return self._sign() * (self.predict(2 * n) - self.predict(n))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""

        def num(v):
            return None if v is None or not np.isfinite(v) else float(v)

        def size(v):
            return None if v is None or not np.isfinite(v) else int(np.ceil(v - 1e-9))

        gains = self.gain_per_doubling()
        return {
            "mode": self.mode,
            "epsilon": self.epsilon,
            "interval": self.interval,
            "max_n": size(self.max_n),
            "asymptote": num(self.asymptote),
            "asymptote_interval": [num(v) for v in self.asymptote_interval],
            "min_useful_n": size(self.min_useful_n),
            "min_useful_n_interval": [size(v) for v in self.min_useful_n_interval],
            "min_sufficient_n": size(self.min_sufficient_n),
            "min_sufficient_n_interval": [size(v) for v in self.min_sufficient_n_interval],
            "min_useful_n_noise_interval": [size(v) for v in self.min_useful_n_noise_interval],
            "min_sufficient_n_noise_interval": [size(v) for v in self.min_sufficient_n_noise_interval],
            "extrapolated": bool(self.extrapolated),
            "min_sufficient_n_extrapolated": bool(self.min_sufficient_n_extrapolated),
            "score_at_max_n": num(self.score_at_max_n),
            "baseline": num(self.baseline),
            "horizon": num(self.horizon),
            "family_weights": {k: round(v, 4) for k, v in self.family_weights.items()},
            "set_aside_n": [int(v) for v in self.set_aside],
            "points": [
                {"n": int(n), "mean": float(m), "count": int(c), "fitted": float(f), "gain_per_doubling": float(g)}
                for n, m, c, f, g in zip(self.n, self.mean, self.count, self.predict(self.n), gains)
            ],
        }


# --- the model -----------------------------------------------------------------------------------


class SaturationModel:
    """Fits a saturating learning curve (score vs training-set size) and reports data saturation.

    >>> result = SaturationModel(epsilon=0.01).fit(n, scores)      # doctest: +SKIP
    >>> result.min_useful_n, result.min_useful_n_interval           # doctest: +SKIP

    `bounds` is the metric's range, e.g. (0, 1) for an accuracy: the fitted asymptote never passes
    the best score it allows (a curve still rising fast would otherwise promise more than 100%).
    """

    def __init__(
        self,
        *,
        mode: Mode = "max",
        epsilon: float = 0.01,
        families: Sequence[str] = DEFAULT_FAMILIES,
        n_bootstrap: int = 100,
        interval: float = 0.8,
        horizon: float = 1e4,
        seed: int = 0,
        exponent_prior: tuple[float, float] | None = DEFAULT_EXPONENT_PRIOR,
        tail_weight: float = DEFAULT_TAIL_WEIGHT,
        calibrated: bool = True,
        bounds: tuple[float | None, float | None] | None = None,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        unknown = [f for f in families if f not in FAMILIES]
        if unknown or not families:
            raise ValueError(f"unknown families {unknown or families!r}; known: {', '.join(FAMILIES)}")
        if n_bootstrap < 0:
            raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), got {interval}")
        if horizon <= 1:
            raise ValueError(f"horizon must be > 1 (a multiple of the largest n), got {horizon}")
        if exponent_prior is not None and not (
            len(exponent_prior) == 2 and exponent_prior[0] > 0 and exponent_prior[1] > 0
        ):
            raise ValueError(f"exponent_prior must be (median > 0, log-sd > 0) or None, got {exponent_prior!r}")
        if not (np.isfinite(tail_weight) and tail_weight >= 0):
            raise ValueError(f"tail_weight must be >= 0, got {tail_weight!r}")
        self.exponent_prior = None if exponent_prior is None else (float(exponent_prior[0]), float(exponent_prior[1]))
        self.tail_weight = float(tail_weight)
        self.calibrated = bool(calibrated)
        if bounds is not None and not (len(bounds) == 2 and (bounds[0] is None or bounds[1] is None or bounds[0] < bounds[1])):
            raise ValueError(f"bounds must be (low, high) with low < high (None for open), got {bounds!r}")
        self.bounds = None if bounds is None else tuple(bounds)
        self.mode = mode
        self.epsilon = float(epsilon)
        self.families = tuple(families)
        self.n_bootstrap = int(n_bootstrap)
        self.interval = float(interval)
        self.horizon = float(horizon)
        self.seed = seed

    @property
    def min_points(self) -> int:
        """Distinct sizes n > 0 the smallest family needs (k parameters + 2)."""
        return min(FAMILIES[f].n_params for f in self.families if f != "flat") + 2 if any(
            f != "flat" for f in self.families
        ) else 3

    def fit(self, n: Any, values: Any, *, max_n: float | None = None) -> SaturationResult:
        """Fit scores `values` measured at sizes `n` (repeats allowed: one entry per measurement).

        `max_n` is the data the user has (default: the largest n given); n = 0 is kept aside as
        the zero-shot baseline. Raises ForetuneError when the points cannot support a fit.
        """
        n = np.asarray(n, dtype=float).ravel()
        values = np.asarray(values, dtype=float).ravel()
        if n.shape != values.shape:
            raise ForetuneError(f"saturation fit: {len(n)} sizes but {len(values)} values")
        if not (np.all(np.isfinite(n)) and np.all(np.isfinite(values))):
            raise ForetuneError("saturation fit: sizes and values must be finite numbers (found NaN or inf)")
        if np.any(n < 0) or np.any(n != np.round(n)):
            bad = n[(n < 0) | (n != np.round(n))][0]
            raise ForetuneError(f"saturation fit: sizes must be non-negative integers, got {bad:g}")
        sign = 1.0 if self.mode == "max" else -1.0
        # The best score the metric allows caps the asymptote (in signed units: the fit maximizes).
        best = None if self.bounds is None else (self.bounds[1] if sign > 0 else self.bounds[0])
        ceiling = None if best is None else sign * float(best)
        baseline = float(np.mean(values[n == 0])) if np.any(n == 0) else None
        keep = n > 0
        sizes = np.unique(n[keep])
        if len(sizes) < self.min_points:
            raise ForetuneError(
                f"saturation fit: {len(sizes)} distinct sizes n > 0 given, the model needs at least "
                f"{self.min_points}; measure more sizes (e.g. a geometric grid such as 50,100,200,400)"
            )
        if max_n is None:
            max_n = float(sizes[-1])
        if max_n < sizes[0]:
            raise ForetuneError(f"saturation fit: max_n={max_n:g} is below the smallest measured n={sizes[0]:g}")
        groups = {s: sign * values[keep][n[keep] == s] for s in sizes}
        y = np.array([g.mean() for g in groups.values()])
        w = np.array([len(g) for g in groups.values()], dtype=float)
        n_ref = float(sizes[-1])
        x = sizes / n_ref
        noise = _noise_level(sizes, y, groups)

        # Noise level and outliers are judged by plain robust fits (no prior, no tail weight): a
        # prior-bent fit would call good points outliers. The prior and tail weight come after.
        ensemble = _fit_ensemble(x, y, w, self.families, noise, ceiling=ceiling)
        if ensemble is None:
            raise ForetuneError("saturation fit: no curve family could be fitted to these points")
        # An outlier inflates the first noise estimate (and so the robust loss's scale): twice,
        # re-estimate it from the median residual of the family that fits most points closely
        # and refit. Then points far off that fit (at most one in five) are set aside, so they
        # decide neither the fit nor which family wins (the information criterion is not robust).
        floor = 0.01 * max(float(np.ptp(y)), 1e-12)
        for _ in range(2):
            residuals = min(
                (np.abs(y - fit(x)) * np.sqrt(w / w.mean()) for fit in ensemble.fits),
                key=lambda r: float(np.median(r)),
            )
            refined = max(1.4826 * float(np.median(residuals)), floor)
            if refined >= 0.5 * noise:
                break
            noise = refined
            ensemble = _fit_ensemble(x, y, w, self.families, noise, ceiling=ceiling) or ensemble
        set_aside = ()
        far = np.argsort(-residuals)[: len(y) // 5]
        # The largest n is never set aside: it says most about where the curve goes, and a jump
        # there is a rise to confirm by measuring further, not an outlier to drop.
        far = far[(residuals[far] > 5 * noise) & (far != len(y) - 1)]
        if len(far) and len(y) - len(far) >= self.min_points:
            kept = np.setdiff1d(np.arange(len(y)), far)
            set_aside = tuple(float(v) for v in sizes[far])
            sizes, y, w, x = sizes[kept], y[kept], w[kept], x[kept]
            groups = {s: groups[s] for s in sizes}
            ensemble = _fit_ensemble(x, y, w, self.families, noise, ceiling=ceiling) or ensemble
        if self.exponent_prior is not None or self.tail_weight > 0:
            ensemble = _fit_ensemble(
                x, y, self._fit_weights(x, w), self.families, noise, prior=self.exponent_prior, ceiling=ceiling
            ) or ensemble
        replicates = self._bootstrap(x, y, w, groups, ensemble, noise, ceiling)

        estimates = [self._read(ensemble, y, w, sizes, max_n)]
        estimates += [self._read(e, y_star, w, sizes, max_n) for e, y_star in replicates]
        replicates = [e for e, _ in replicates]
        point, reps = estimates[0], estimates[1:]
        alpha = (1 - self.interval) / 2

        def band(values_, missing=np.inf):
            arr = np.array([missing if v is None else v for v in values_], dtype=float)
            if len(arr) == 0:
                return (None, None)
            # 'nearest' never interpolates, so replicates beyond the horizon (inf) stay inf, not NaN.
            lo, hi = np.quantile(arr, [alpha, 1 - alpha], method="nearest")
            return (None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi))

        asym_band = band([sign * r[0] for r in reps]) if reps else (sign * point[0],) * 2
        if asym_band[0] is not None and asym_band[1] is not None:
            # A percentile band can miss an estimate that sits on a bound (the asymptote at the
            # metric's best score, say, with the replicates below it): widen it to hold the estimate.
            asym_band = (min(*asym_band, sign * point[0]), max(*asym_band, sign * point[0]))
        useful_noise = band([r[1] for r in reps]) if reps else (point[1], point[1])
        sufficient_noise = band([r[2] for r in reps]) if reps else (point[2], point[2])
        useful_band, sufficient_band = useful_noise, sufficient_noise
        if self.calibrated:
            horizon_n = float(max(max_n, n_ref) * self.horizon)
            cal_u = calibrated_band(point[1], extrapolated=point[1] is None or point[1] > n_ref,
                                    interval=self.interval, lo=float(sizes[0]), hi=horizon_n)
            cal_s = calibrated_band(point[2], extrapolated=point[2] > n_ref,
                                    interval=self.interval, lo=float(sizes[0]), hi=float(max_n))
            useful_band = _union(useful_noise, cal_u)
            sufficient_band = _union(sufficient_noise, cal_s)
        if point[1] is None and useful_band[0] is None:
            # Beyond the horizon in (nearly) every replicate: all the points say is "past the
            # largest measured n", which is the honest lower end.
            useful_band = (n_ref, None)
        weights: dict[str, float] = {}
        for fit, weight in zip(ensemble.fits, ensemble.weights):
            weights[fit.family] = float(weight)
        return SaturationResult(
            mode=self.mode,
            epsilon=self.epsilon,
            interval=self.interval,
            max_n=float(max_n),
            n=sizes,
            mean=sign * y,
            count=w.astype(int),
            baseline=baseline,
            asymptote=sign * point[0],
            asymptote_interval=asym_band,
            min_useful_n=point[1],
            min_useful_n_interval=useful_band,
            min_sufficient_n=point[2],
            min_sufficient_n_interval=sufficient_band,
            score_at_max_n=sign * float(ensemble(np.array([max_n / n_ref]))[0]),
            family_weights=weights,
            horizon=float(max(max_n, n_ref) * self.horizon),
            n_bootstrap=len(replicates),
            set_aside=set_aside,
            min_useful_n_noise_interval=useful_noise,
            min_sufficient_n_noise_interval=sufficient_noise,
            _ensemble=ensemble,
            _replicates=tuple(replicates),
            _n_ref=n_ref,
            bounds=self.bounds,
            _replicate_estimates=np.array(
                [[a, np.inf if u is None else u, m] for a, u, m in reps], dtype=float
            ).reshape(len(reps), 3),
        )

    def _fit_weights(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        # Weight ~ x^tail_weight: the last points say most about where the curve goes next.
        return w * x**self.tail_weight

    def _read(self, ensemble: _Ensemble, y: np.ndarray, w: np.ndarray, sizes: np.ndarray, max_n: float):
        """(asymptote, min useful n, min sufficient n) of one fit, in signed units and sizes.

        Where points were measured, the crossing is read from the measured means made monotone
        (isotonic regression), shifted by what the fit adds beyond the last point; the fitted curve
        is only used where there are no points. On LCDB this beats reading everything off the fit:
        a parametric family often bends the wrong way among the measured points.
        """
        n_ref = float(sizes[-1])
        smooth = isotonic(y, w)
        last_fit = float(ensemble(np.array([1.0]))[0])
        asymptote = ensemble.asymptote
        at_max = float(ensemble(np.array([max_n / n_ref]))[0])

        def crossing(level: float, end: float) -> float | None:
            # `level` is a score the fitted curve reaches at `end`; epsilon below it is the target.
            target = smooth[-1] + (level - last_fit) - self.epsilon
            if target <= smooth[-1]:
                return _first_crossing(sizes, smooth, target)
            grid = np.geomspace(n_ref, max(end, n_ref), 400)
            return _first_crossing(grid, ensemble(grid / n_ref), level - self.epsilon)

        useful = crossing(asymptote, n_ref * self.horizon)
        sufficient = crossing(at_max, max_n)
        sufficient = max_n if sufficient is None else min(sufficient, max_n)
        return asymptote, useful, max(sufficient, float(sizes[0]))

    def _bootstrap(self, x, y, w, groups, ensemble: _Ensemble, noise: float, ceiling: float | None) -> list[tuple[_Ensemble, np.ndarray]]:
        if self.n_bootstrap == 0:
            return []
        rng = np.random.default_rng(self.seed)
        fitted = ensemble(x)
        residuals = y - fitted
        repeated = sum(len(g) >= 2 for g in groups.values()) >= len(groups) / 2
        replicates = []
        for _ in range(self.n_bootstrap):
            if repeated:
                # Bootstrap over repeats: resample the seeds measured at each n.
                y_star = np.array([rng.choice(g, size=len(g)).mean() if len(g) >= 2 else yi
                                   for g, yi in zip(groups.values(), y)])
            else:
                # Wild bootstrap: each residual keeps its size and gets a random sign.
                y_star = fitted + residuals * rng.choice([-1.0, 1.0], size=len(y))
            rep = _fit_ensemble(x, y_star, self._fit_weights(x, w), self.families, noise, warm=ensemble,
                                prior=self.exponent_prior, ceiling=ceiling)
            if rep is not None:
                replicates.append((rep, y_star))
        return replicates


def _union(a: tuple, b: tuple) -> tuple:
    """The smallest band containing both (None = unbounded above / unknown below)."""
    lows = [v for v in (a[0], b[0]) if v is not None]
    his = [a[1], b[1]]
    return (min(lows) if lows else None, None if any(v is None for v in his) else max(his))


def fit_saturation(n: Any, values: Any, *, max_n: float | None = None, **options: Any) -> SaturationResult:
    """Shortcut: `SaturationModel(**options).fit(n, values, max_n=max_n)`."""
    return SaturationModel(**options).fit(n, values, max_n=max_n)


def read_points(path: str | Any) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV of measured points with columns `n, value[, seed]` -> (n, value) arrays.

    Raises ForetuneError naming the file for a missing file, missing columns, non-numeric values,
    or sizes that are negative or not integers.
    """
    import pandas as pd  # only this reader needs pandas

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ForetuneError(f"points file not found: {path} (give a CSV with columns n,value[,seed])") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ForetuneError(f"{path}: not a readable CSV ({error}); expected columns n,value[,seed]") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("n", "value") if c not in frame.columns]
    if missing:
        raise ForetuneError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns) or 'none'}); "
            "expected a header n,value[,seed]"
        )
    if frame.empty:
        raise ForetuneError(f"{path}: no rows; add one row per measurement (n,value[,seed])")
    values = {}
    for column in ("n", "value"):
        numeric = pd.to_numeric(frame[column], errors="coerce")
        bad = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ForetuneError(
                f"{path}, row {row + 2}: column '{column}' = {frame[column].iloc[row]!r} is not a finite number"
            )
        values[column] = numeric.to_numpy(dtype=float)
    n = values["n"]
    bad = (n < 0) | (n != np.round(n))
    if bad.any():
        row = int(np.argmax(bad))
        raise ForetuneError(f"{path}, row {row + 2}: n = {n[row]:g} is not a non-negative integer (a sample count)")
    return n, values["value"]
