"""How wrong the default saturation model tends to be on LCDB, as bands around a predicted size.

The bootstrap only sees measurement noise; these tables say how wrong a curve family tends to be
when it reads a size off its fit, and widen the reported intervals accordingly.
"""

from __future__ import annotations

import numpy as np

# Extrapolation error of the default model: quantiles of log(true / predicted minimum sufficient n)
# on the training half of LCDB (1,766 predictions from the first 30% of compute, both epsilons), for
# predictions read off the measured points and for predictions beyond them.
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


def band_union(a: tuple, b: tuple) -> tuple:
    """The smallest band containing both (None = unbounded above / unknown below)."""
    lows = [v for v in (a[0], b[0]) if v is not None]
    his = [a[1], b[1]]
    return (min(lows) if lows else None, None if any(v is None for v in his) else max(his))
