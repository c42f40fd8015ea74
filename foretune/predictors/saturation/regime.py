"""Which regime a measured learning curve is in, so that a user knows when not to trust the answer.

LCDB 1.1 (Yan, Mohr, Viering, NeurIPS 2025) finds about 15% of sample-size curves ill-behaved
(non-monotone, peaking), and parametric fits suffer on them; the other three regimes say how far the
answer leans on extrapolation.
"""

from __future__ import annotations

import numpy as np

from foretune.keys import (
    REGIME_BENT,
    REGIME_FLAT,
    REGIME_NOT_MONOTONE,
    REGIME_RISING,
    SaturationRegime,
)


def largest_drop(y: np.ndarray) -> float:
    """The largest fall of the mean score below the best score at a smaller n (signed units)."""
    return float(np.max(np.maximum.accumulate(y) - y)) if len(y) else 0.0


def curve_regime(
    y: np.ndarray,
    *,
    smooth: np.ndarray,
    noise: float,
    epsilon: float,
    asymptote: float,
    useful_n: float | None,
    n_ref: float,
) -> SaturationRegime:
    """The regime of measured means `y` (signed units, increasing n) and of the fit read from them.

    - "ill-behaved: not monotone": a later size scores worse than an earlier one by more than three
      noise levels and more than epsilon (a real dip or peak, not seed noise);
    - "flat": the measured points gain at most epsilon and the fit expects at most epsilon more;
    - "still rising": the fit's minimum useful n lies beyond the largest measured n (or beyond the horizon);
    - "bent": the curve levels off within the measured sizes.
    `smooth` is the isotonic regression of `y`.
    """
    if largest_drop(y) > max(3.0 * noise, epsilon):
        return REGIME_NOT_MONOTONE
    if smooth[-1] - smooth[0] <= epsilon and asymptote - smooth[-1] <= epsilon:
        return REGIME_FLAT
    if useful_n is None or useful_n > n_ref:
        return REGIME_RISING
    return REGIME_BENT
