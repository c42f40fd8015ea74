"""Reading sizes off a curve: the first crossing of a level, and the central band of bootstrap estimates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def first_crossing(grid: np.ndarray, values: np.ndarray, target: float) -> float | None:
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


def quantile_band(values: Sequence[float | None], alpha: float) -> tuple[float | None, float | None]:
    """Central band of `values` (None counts as inf: beyond the horizon); None ends are unbounded."""
    arr = np.array([np.inf if v is None else v for v in values], dtype=float)
    if len(arr) == 0:
        return (None, None)
    # 'nearest' never interpolates, so replicates beyond the horizon (inf) stay inf, not NaN.
    lo, hi = np.quantile(arr, [alpha, 1 - alpha], method="nearest")
    return (None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi))
