"""The AICc-weighted average of the saturation families fitted to one set of points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from foretune.predictors.saturation.families import SATURATION_FAMILIES, FamilyFit, fit_family


def _aicc_weights(fits: Sequence[FamilyFit]) -> np.ndarray:
    aicc = np.array([f.aicc for f in fits])
    weights = np.exp(-0.5 * (aicc - aicc.min()))
    return weights / weights.sum()


@dataclass(frozen=True)
class Ensemble:
    """AICc-weighted average of family fits, in the normalized x = n / n_ref and signed units."""

    fits: tuple[FamilyFit, ...]
    weights: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return sum(w * f(x) for f, w in zip(self.fits, self.weights, strict=True))

    @property
    def asymptote(self) -> float:
        return float(sum(w * f.asymptote for f, w in zip(self.fits, self.weights, strict=True)))


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


def fit_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    families: Sequence[str],
    noise: float,
    *,
    warm: Ensemble | None = None,
    prior: tuple[float, float] | None = None,
    ceiling: float | None = None,
) -> Ensemble | None:
    """Fit each of `families` (see `fit_family`) and weight them by AICc; None when none fits.

    The flat line is dropped while the points still rise. With `warm` (a bootstrap replicate)
    only the families that carry weight in `warm` are refitted, each from its parameters there.
    """
    fits = []
    if "flat" in families and len(families) > 1 and still_rising(x, y, w, noise):
        families = [name for name in families if name != "flat"]
    if warm is not None:
        # Refitting only the families that carry weight in the full-data fit is fast, and the
        # others would hardly count anyway.
        warm_params = {f.family: f.params for f, wt in zip(warm.fits, warm.weights, strict=True) if wt >= 0.01}
        families = [name for name in families if name in warm_params]
    for name in families:
        family = SATURATION_FAMILIES[name]
        starts = [warm_params[name]] if warm is not None else None
        fit = fit_family(family, x, y, w, noise=noise, starts=starts, exponent_prior=prior, ceiling=ceiling)
        if fit is not None:
            fits.append(fit)
    if not fits:
        return None
    return Ensemble(tuple(fits), _aicc_weights(fits))
