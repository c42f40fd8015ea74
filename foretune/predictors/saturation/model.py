"""Data saturation: fit score against training-set size n and say how much data is enough.

A saturating learning curve is fitted to (n, score) points with several parametric families
(inverse power law ``a - b n^-c`` and the alternatives LCDB found best at extrapolating: pow4,
exponential, Weibull, MMF, plus a flat line for curves that already plateaued; the flat line is no
candidate while the last points still rise). Each family is fitted with a robust loss, so one bad
seed or a dip does not drag the curve (a dip or spike far off the fit is set aside, never the largest n);
families are averaged with AICc weights. The power laws get a log-normal prior on their exponent
and the points a weight growing with n (x^1), both chosen on half of the LCDB datasets: fitted
freely, the start of a real learning curve tends to promise a plateau sooner than it comes.
Uncertainty comes from a bootstrap over repeats (or over residuals when every n was measured once),
refitting and re-weighting the families in each replicate; that only sees measurement noise, so the
reported intervals of the minimum useful / sufficient n are widened by the model's extrapolation
error measured on LCDB (`calibrated=False` gives the bootstrap band alone; both are kept on the result).
The minimum sufficient n read off the fit is then moved by a factor learned on LCDB from features
of the points and the fit (`correction`, after Mahmood et al., CVPR 2022), and its interval taken
from that corrected answer's errors there. Where the learned weight says so (ill-behaved curves, 3-5
sizes), the answer is blended with a direct estimate from the nearest past curves' prefixes
(`direct`). The answer shown is then the size most likely within x1.5 of the truth under that
answer's predictive distribution (`decision`: its window mode on the sizes the truth can take, not its
median; the interval, from the median, is widened to hold it); `corrected=False` keeps the read-off answer.

From the averaged curve F(n):

- ``asymptote``          lim F(n) as n grows;
- ``min_useful_n``       smallest n with F(n) within ``epsilon`` of the asymptote
                         ("would more data help?"); ``None`` when beyond ``horizon`` x the largest n;
- ``min_sufficient_n``   smallest n with F(n) within ``epsilon`` of F(max_n), ``max_n`` being the data
                         the user has ("how much of my data do I need?");
- ``gain_per_doubling``  F(2n) - F(n) at each measured n.

Scores may be maximized (accuracy) or minimized (loss): ``mode="min"`` fits the negated values.
Three distinct sizes are enough: below five the exponent prior is always on (the default one if
unset), which pins down a power law that the points alone could not; the bootstrap never lets a
residual fall below the noise level, so a handful of points never yields a zero-width interval.
Each result names its regime (`regime.curve_regime`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import isotonic_regression

from foretune.errors import ForetuneError
from foretune.keys import MAD_TO_STD, Mode, SaturationRegime, check_mode
from foretune.predictors.calibration import ReadRange, bounds_among
from foretune.predictors.saturation.answer import corrected, decided, log_correction
from foretune.predictors.saturation.bootstrap import bootstrap_fits
from foretune.predictors.saturation.correction import correction_group
from foretune.predictors.saturation.decision import holding
from foretune.predictors.saturation.ensemble import Ensemble, fit_ensemble
from foretune.predictors.saturation.estimates import Estimate, estimate_bands, read_estimate
from foretune.predictors.saturation.families import (
    DEFAULT_EXPONENT_PRIOR,
    DEFAULT_FAMILIES,
    DEFAULT_TAIL_WEIGHT,
    SATURATION_FAMILIES,
)
from foretune.predictors.saturation.points import (
    MeasuredPoints,
    check_points,
    group_points,
    noise_level,
    set_aside_far_points,
)
from foretune.predictors.saturation.regime import curve_regime
from foretune.predictors.saturation.result import SaturationResult

# Three sizes answer (a power law with its exponent prior); below FEW_POINTS sizes the prior is always on.
MIN_POINTS = 3
FEW_POINTS = 5


class SaturationModel:
    """Fits a saturating learning curve (score vs training-set size) and reports data saturation.

    Like the curve predictors, `fit` returns the model (its `SaturationResult` on `.result`), and
    `predict` / `predict_interval` give the fitted score at other sizes.

    >>> result = SaturationModel(epsilon=0.01).fit(n, scores).result   # doctest: +SKIP
    >>> result.min_useful_n, result.min_useful_n_interval               # doctest: +SKIP

    `bounds` is the metric's range, e.g. (0, 1) for an accuracy: the fitted asymptote never passes
    the best score it allows (a curve still rising fast would otherwise promise more than 100%); "auto"
    (the default) takes (0, 1) when mode is "max" and every value is in [0, 1], as `foretune rank` does
    for an accuracy (`calibration.value_range`); a `calibration.ReadRange` reads it from the values with the
    metric's name (a sweep: an `accuracy` in percent from a task's metric_fn is bounded by 100, not the task's 1);
    None: no bounds. The result says which (`bounds`) and whether the asymptote sits on the bound
    (`asymptote_capped`).
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
        corrected: bool = True,
        bounds: tuple[float | None, float | None] | ReadRange | Literal["auto"] | None = "auto",
    ) -> None:
        check_mode(mode)
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
        unknown = [f for f in families if f not in SATURATION_FAMILIES]
        if unknown or not families:
            raise ValueError(f"unknown families {unknown or families!r}; known: {', '.join(SATURATION_FAMILIES)}")
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
        if (
            bounds is not None
            and bounds != "auto"
            and not isinstance(bounds, ReadRange)
            and not (len(bounds) == 2 and (bounds[0] is None or bounds[1] is None or bounds[0] < bounds[1]))
        ):
            raise ValueError(f"bounds must be (low, high) with low < high (None for open), got {bounds!r}")
        self.exponent_prior = None if exponent_prior is None else (float(exponent_prior[0]), float(exponent_prior[1]))
        self.tail_weight = float(tail_weight)
        self.calibrated = bool(calibrated)
        self.corrected = bool(corrected)
        if bounds == "auto":
            bounds = ReadRange(None, mode)
        self.bounds = bounds if bounds is None or isinstance(bounds, ReadRange) else tuple(bounds)
        self.mode = mode
        self.epsilon = float(epsilon)
        self.families = tuple(families)
        self.n_bootstrap = int(n_bootstrap)
        self.interval = float(interval)
        self.horizon = float(horizon)
        self.seed = seed
        self.result: SaturationResult | None = None

    @property
    def min_points(self) -> int:
        """Distinct sizes n > 0 a fit needs: three (a power law whose exponent a prior pins down)."""
        return MIN_POINTS

    def _prior(self, m: int) -> tuple[float, float] | None:
        """The exponent prior for a fit of `m` sizes: below FEW_POINTS always one (the default if unset),
        since four points cannot pin down a three-parameter curve on their own."""
        if m < FEW_POINTS:
            return self.exponent_prior or DEFAULT_EXPONENT_PRIOR
        return self.exponent_prior

    @property
    def _sign(self) -> float:
        return 1.0 if self.mode == "max" else -1.0

    def fit(self, n: Any, values: Any, *, max_n: float | None = None) -> SaturationModel:
        """Fit scores `values` measured at sizes `n` (repeats allowed: one entry per measurement).

        `max_n` is the data the user has (default: the largest n given); n = 0 is kept aside as
        the zero-shot baseline. Stores the `SaturationResult` on `.result` and returns the model.
        Raises ForetuneError when the points cannot support a fit.
        """
        n, values = check_points(n, values)
        metric_range = bounds_among(self.bounds, values)
        baseline = float(np.mean(values[n == 0])) if np.any(n == 0) else None
        points = group_points(n, values, sign=self._sign, min_points=self.min_points)
        if max_n is None:
            max_n = float(points.sizes[-1])
        if max_n < points.sizes[0]:
            raise ForetuneError(f"saturation fit: max_n={max_n:g} is below the smallest measured n={points.sizes[0]:g}")
        n_ref = float(points.sizes[-1])
        # The best score the metric allows caps the asymptote (in signed units: the fit maximizes).
        best = None if metric_range is None else (metric_range[1] if self._sign > 0 else metric_range[0])
        ceiling = None if best is None else self._sign * float(best)

        ensemble, noise, residuals = self._robust_fit(points, ceiling)
        measured = points
        points, set_aside = set_aside_far_points(points, residuals, noise, min_points=self.min_points)
        if set_aside:
            ensemble = fit_ensemble(points.x, points.y, points.w, self.families, noise, ceiling=ceiling) or ensemble
        prior = self._prior(len(points.y))
        if prior is not None or self.tail_weight > 0:
            weights = self._fit_weights(points.x, points.w)
            ensemble = (
                fit_ensemble(points.x, points.y, weights, self.families, noise, prior=prior, ceiling=ceiling)
                or ensemble
            )
        replicates = self._bootstrap(points, ensemble, noise, ceiling)
        read = {"max_n": float(max_n), "epsilon": self.epsilon, "horizon": self.horizon}
        point = read_estimate(ensemble, points.y, points.w, points.sizes, **read)
        estimates = [read_estimate(e, y_star, points.w, points.sizes, **read) for e, y_star in replicates]
        regime = curve_regime(
            points.y,
            smooth=isotonic_regression(points.y, weights=points.w).x,
            noise=noise,
            epsilon=self.epsilon,
            asymptote=point[0],
            useful_n=point[1],
            n_ref=n_ref,
        )
        log_factor, corrected_n, features = (
            log_correction(measured, ensemble, point, regime, max_n=float(max_n), epsilon=self.epsilon)
            if self.corrected
            else (0.0, None, None)
        )
        bounds = (float(points.sizes[0]), float(max_n))
        point, estimates = corrected(point, log_factor, bounds), [corrected(e, log_factor, bounds) for e in estimates]
        group = correction_group(regime, len(measured.sizes)) if self.corrected else None
        shown = point[2] if group is None else decided(point[2], group, measured.sizes, bounds, features)
        self.result = self._result(
            points,
            ensemble,
            [e for e, _ in replicates],
            point,
            estimates,
            max_n=float(max_n),
            n_ref=n_ref,
            baseline=baseline,
            set_aside=set_aside,
            regime=regime,
            log_factor=log_factor + float(np.log(shown / point[2])),
            group=group,
            corrected_n=corrected_n,
            shown=shown,
            metric_range=metric_range,
        )
        return self

    def predict(self, n: Any) -> np.ndarray:
        """Predicted score at sizes `n` (> 0) of the fitted curve."""
        return self._fitted().predict(n)

    def predict_interval(self, n: Any) -> tuple[np.ndarray, np.ndarray]:
        """Central `interval` band of the predicted score at sizes `n`, from the bootstrap."""
        return self._fitted().predict_interval(n)

    def _fitted(self) -> SaturationResult:
        if self.result is None:
            raise RuntimeError("this SaturationModel is not fitted yet; call fit(n, values) first")
        return self.result

    # --- the steps of `fit` -------------------------------------------------------------------

    def _robust_fit(self, points: MeasuredPoints, ceiling: float | None) -> tuple[Ensemble, float, np.ndarray]:
        """A plain robust fit (no prior, no tail weight), its noise level and each point's residual.

        Noise level and outliers are judged by plain fits: a prior-bent fit would call good points
        outliers. An outlier inflates the first noise estimate (and so the robust loss's scale):
        twice, re-estimate it from the median residual of the family that fits most points closely
        and refit. The residuals returned are those the last noise estimate was taken from.
        """
        x, y, w = points.x, points.y, points.w
        noise = noise_level(y, points.groups)
        # No prior here, except with so few points that no curve could be fitted without one.
        prior = self._prior(len(y)) if len(y) < FEW_POINTS else None
        ensemble = fit_ensemble(x, y, w, self.families, noise, prior=prior, ceiling=ceiling)
        if ensemble is None:
            raise ForetuneError("saturation fit: no curve family could be fitted to these points")
        floor = 0.01 * max(float(np.ptp(y)), 1e-12)
        for _ in range(2):
            residuals = min(
                (np.abs(y - fit(x)) * np.sqrt(w / w.mean()) for fit in ensemble.fits),
                key=lambda r: float(np.median(r)),
            )
            refined = max(MAD_TO_STD * float(np.median(residuals)), floor)
            if refined >= 0.5 * noise:
                break
            noise = refined
            ensemble = fit_ensemble(x, y, w, self.families, noise, prior=prior, ceiling=ceiling) or ensemble
        return ensemble, noise, residuals

    def _fit_weights(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        # Weight ~ x^tail_weight: the last points say most about where the curve goes next.
        return w * x**self.tail_weight

    def _bootstrap(
        self, points: MeasuredPoints, ensemble: Ensemble, noise: float, ceiling: float | None
    ) -> list[tuple[Ensemble, np.ndarray]]:
        """(refitted ensemble, resampled means) per bootstrap replicate that could be fitted."""

        def refit(y_star: np.ndarray, warm: Ensemble) -> Ensemble | None:
            weights = self._fit_weights(points.x, points.w)
            prior = self._prior(len(points.y))
            return fit_ensemble(
                points.x, y_star, weights, self.families, noise, warm=warm, prior=prior, ceiling=ceiling
            )

        return bootstrap_fits(points, ensemble, noise, n_bootstrap=self.n_bootstrap, seed=self.seed, fit=refit)

    def _result(
        self,
        points: MeasuredPoints,
        ensemble: Ensemble,
        replicates: list[Ensemble],
        point: Estimate,
        reps: list[Estimate],
        *,
        max_n: float,
        n_ref: float,
        baseline: float | None,
        set_aside: tuple[float, ...],
        regime: SaturationRegime,
        log_factor: float,
        group: str | None,
        corrected_n: float | None,
        shown: float,
        metric_range: tuple[float | None, float | None] | None,
    ) -> SaturationResult:
        """The `SaturationResult` of a fit, back in the user's units; `shown` is the minimum sufficient n
        decided on (`answer.decided`), the bands are those of the median answer `point[2]`, widened to hold it."""
        sign = self._sign
        asym_band, useful_band, sufficient_band, useful_noise, sufficient_noise = estimate_bands(
            point,
            reps,
            points.sizes,
            sign=sign,
            interval=self.interval,
            calibrated=self.calibrated,
            max_n=max_n,
            horizon=self.horizon,
            correction_group=group,
            corrected_n=corrected_n,
        )
        if metric_range is not None:  # a replicate's resampled points may pass the bound, its asymptote with them
            low, high = (-np.inf if metric_range[0] is None else metric_range[0]), metric_range[1]
            asym_band = tuple(
                None if v is None else float(np.clip(v, low, np.inf if high is None else high)) for v in asym_band
            )
        return SaturationResult(
            mode=self.mode,
            epsilon=self.epsilon,
            interval=self.interval,
            max_n=max_n,
            n=points.sizes,
            mean=sign * points.y,
            count=points.w.astype(int),
            baseline=baseline,
            asymptote=sign * point[0],
            asymptote_interval=asym_band,
            min_useful_n=point[1],
            min_useful_n_interval=useful_band,
            min_sufficient_n=shown,
            min_sufficient_n_interval=holding(sufficient_band, shown),
            score_at_max_n=sign * float(ensemble(np.array([max_n / n_ref]))[0]),
            family_weights={f.family: float(weight) for f, weight in zip(ensemble.fits, ensemble.weights, strict=True)},
            horizon=float(max(max_n, n_ref) * self.horizon),
            n_bootstrap=len(replicates),
            set_aside=set_aside,
            regime=regime,
            min_sufficient_n_correction=float(np.exp(log_factor)),
            min_useful_n_noise_interval=useful_noise,
            min_sufficient_n_noise_interval=sufficient_noise,
            _ensemble=ensemble,
            _replicates=tuple(replicates),
            _n_ref=n_ref,
            bounds=metric_range,
            _replicate_estimates=np.array(
                [[a, np.inf if u is None else u, m] for a, u, m in reps], dtype=float
            ).reshape(len(reps), 3),
        )
