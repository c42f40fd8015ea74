"""Reading sizes off a fitted ensemble, and the intervals around them.

An estimate is (asymptote, min useful n, min sufficient n) of one fit, in signed units and sizes;
the bands are quantiles over the bootstrap replicates' estimates, widened by the model's measured
error on LCDB (`calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import isotonic_regression

from foretune.predictors.saturation.bands import first_crossing, quantile_band
from foretune.predictors.saturation.calibration import band_union, calibrated_band
from foretune.predictors.saturation.correction import corrected_band
from foretune.predictors.saturation.direct import blended_band
from foretune.predictors.saturation.ensemble import Ensemble

# (asymptote, min useful n, min sufficient n) of one fit, in signed units and sizes.
Estimate = tuple[float, float | None, float]


def read_estimate(
    ensemble: Ensemble,
    y: np.ndarray,
    w: np.ndarray,
    sizes: np.ndarray,
    *,
    max_n: float,
    epsilon: float,
    horizon: float,
) -> Estimate:
    """(asymptote, min useful n, min sufficient n) of one fit, in signed units and sizes.

    Where points were measured, the crossing is read from the measured means made monotone
    (isotonic regression), shifted by what the fit adds beyond the last point; the fitted curve
    is only used where there are no points. On LCDB this beats reading everything off the fit:
    a parametric family often bends the wrong way among the measured points.
    """
    n_ref = float(sizes[-1])
    smooth = isotonic_regression(y, weights=w).x
    last_fit = float(ensemble(np.array([1.0]))[0])
    asymptote = ensemble.asymptote
    at_max = float(ensemble(np.array([max_n / n_ref]))[0])

    def crossing(level: float, end: float) -> float | None:
        # `level` is a score the fitted curve reaches at `end`; epsilon below it is the target.
        target = smooth[-1] + (level - last_fit) - epsilon
        if target <= smooth[-1]:
            return first_crossing(sizes, smooth, target)
        grid = np.geomspace(n_ref, max(end, n_ref), 400)
        return first_crossing(grid, ensemble(grid / n_ref), level - epsilon)

    useful = crossing(asymptote, n_ref * horizon)
    sufficient = crossing(at_max, max_n)
    sufficient = max_n if sufficient is None else min(sufficient, max_n)
    return asymptote, useful, max(sufficient, float(sizes[0]))


def estimate_bands(
    point: Estimate,
    reps: Sequence[Estimate],
    sizes: np.ndarray,
    *,
    sign: float,
    interval: float,
    calibrated: bool,
    max_n: float,
    horizon: float,
    correction_group: str | None = None,
    corrected_n: float | None = None,
):
    """(asymptote, useful, sufficient, useful noise-only, sufficient noise-only) bands, user units.

    `horizon` is the multiple of the largest n beyond which a minimum useful n counts as unknown.
    With `correction_group` (the minimum sufficient n was corrected, `correction`), its band comes
    from the corrected answers' errors on LCDB in that group (the regime, or "3-5 sizes"). With
    `corrected_n` (the corrected answer before the direct estimate took part, `direct`), it holds both
    the blended answer's band (from the blended answers' errors) and the corrected answer's: two
    estimators that disagree widen the interval rather than one of them being trusted alone.
    """
    n_ref = float(sizes[-1])
    alpha = (1 - interval) / 2
    asym_band = quantile_band([sign * r[0] for r in reps], alpha) if reps else (sign * point[0],) * 2
    if asym_band[0] is not None and asym_band[1] is not None:
        # A percentile band can miss an estimate that sits on a bound (the asymptote at the
        # metric's best score, say, with the replicates below it): widen it to hold the estimate.
        asym_band = (min(*asym_band, sign * point[0]), max(*asym_band, sign * point[0]))
    useful_noise = quantile_band([r[1] for r in reps], alpha) if reps else (point[1], point[1])
    sufficient_noise = quantile_band([r[2] for r in reps], alpha) if reps else (point[2], point[2])
    useful_band, sufficient_band = useful_noise, sufficient_noise
    if calibrated:
        horizon_n = float(max(max_n, n_ref) * horizon)
        cal_u = calibrated_band(
            point[1],
            extrapolated=point[1] is None or point[1] > n_ref,
            interval=interval,
            lo=float(sizes[0]),
            hi=horizon_n,
        )
        cal_s = (
            calibrated_band(
                point[2], extrapolated=point[2] > n_ref, interval=interval, lo=float(sizes[0]), hi=float(max_n)
            )
            if correction_group is None
            else blended_band(
                point[2],
                group=correction_group,
                blended=corrected_n is not None,
                interval=interval,
                lo=float(sizes[0]),
                hi=max_n,
            )
        )
        if correction_group is not None and corrected_n is not None:
            cal_s = band_union(
                cal_s,
                corrected_band(corrected_n, group=correction_group, interval=interval, lo=float(sizes[0]), hi=max_n),
            )
        useful_band = band_union(useful_noise, cal_u)
        sufficient_band = band_union(sufficient_noise, cal_s)
    if point[1] is None and useful_band[0] is None:
        # Beyond the horizon in (nearly) every replicate: all the points say is "past the
        # largest measured n", which is the honest lower end.
        useful_band = (n_ref, None)
    return asym_band, useful_band, sufficient_band, useful_noise, sufficient_noise
