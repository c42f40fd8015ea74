"""Measured (n, score) points: read from a CSV, checked, grouped by size, their noise level, and which of them
lie too far off the fit to be fitted (`set_aside_far_points`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from foretune.errors import ForetuneError
from foretune.keys import MAD_TO_STD

# A point is set aside beyond this many noise levels off the robust fit, when it also breaks its neighbours' trend
# (5 before that second condition; 3 chosen on LCDB's design curves: benchmarks/results/saturation.md, round 9).
FAR_OFF = 3.0


@dataclass(frozen=True)
class MeasuredPoints:
    """The measurements at n > 0 grouped by size, in signed units (the fit always maximizes)."""

    sizes: np.ndarray  # distinct sizes, increasing
    x: np.ndarray  # sizes / n_ref, n_ref being the largest size
    y: np.ndarray  # mean signed score at each size
    w: np.ndarray  # measurements at each size
    groups: dict[float, np.ndarray]  # the signed scores measured at each size


def check_points(n: Any, values: Any) -> tuple[np.ndarray, np.ndarray]:
    """`n` and `values` as flat float arrays; ForetuneError unless finite, paired and n integer >= 0."""
    n = np.asarray(n, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if n.shape != values.shape:
        raise ForetuneError(f"saturation fit: {len(n)} sizes but {len(values)} values")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(values))):
        raise ForetuneError("saturation fit: sizes and values must be finite numbers (found NaN or inf)")
    if np.any(n < 0) or np.any(n != np.round(n)):
        bad = n[(n < 0) | (n != np.round(n))][0]
        raise ForetuneError(f"saturation fit: sizes must be non-negative integers, got {bad:g}")
    return n, values


def group_points(n: np.ndarray, values: np.ndarray, *, sign: float, min_points: int) -> MeasuredPoints:
    """The points at n > 0 grouped by size, times `sign`; ForetuneError with fewer than `min_points` sizes."""
    keep = n > 0
    sizes = np.unique(n[keep])
    if len(sizes) < min_points:
        more = min_points - len(sizes)
        raise ForetuneError(
            f"saturation fit: {len(sizes)} distinct size(s) n > 0 given, the model needs at least "
            f"{min_points}; measure {more} more size(s) (e.g. a geometric grid such as 50,100,200,400)"
        )
    groups = {s: sign * values[keep][n[keep] == s] for s in sizes}
    y = np.array([g.mean() for g in groups.values()])
    w = np.array([len(g) for g in groups.values()], dtype=float)
    return MeasuredPoints(sizes, sizes / float(sizes[-1]), y, w, groups)


def noise_level(y: np.ndarray, groups: Mapping[float, np.ndarray]) -> float:
    """Noise of a per-n mean: from repeats when there are some, else from successive differences."""
    spreads = [np.std(v, ddof=1) / np.sqrt(len(v)) for v in groups.values() if len(v) >= 2]
    if spreads:
        return float(np.median(spreads))
    if len(y) >= 3:
        # Second differences cancel a smooth trend; MAD makes one outlier harmless.
        d2 = np.diff(y, 2) / np.sqrt(6.0)
        # From fewer than four differences the deviation from their median collapses (three
        # values, two of them equal, give 0: a zero-width interval); then take |d2| itself.
        centre = np.median(d2) if len(d2) >= 4 else 0.0
        return float(MAD_TO_STD * np.median(np.abs(d2 - centre)) + 1e-12)
    return float(np.std(y) + 1e-12)


def off_trend(y: np.ndarray) -> np.ndarray:
    """Per point (in size order, signed: rising = better), whether it breaks its neighbours' trend: above or
    below both of them, or for the first point above the second (a curve rises with n). The last point has
    no right neighbour and is judged by nothing here (it is never set aside)."""
    out = np.zeros(len(y), dtype=bool)
    if len(y) < 2:
        return out
    left, mid, right = y[:-2], y[1:-1], y[2:]
    out[1:-1] = (mid < np.minimum(left, right)) | (mid > np.maximum(left, right))
    out[0] = y[0] > y[1]
    return out


def set_aside_far_points(
    points: MeasuredPoints, residuals: np.ndarray, noise: float, *, min_points: int
) -> tuple[MeasuredPoints, tuple[float, ...]]:
    """The points without those far off the robust fit (at most one in five) that also break the trend of their
    neighbours (`off_trend`), and their sizes; unchanged when fewer than `min_points` would be left.

    Set aside, they decide neither the fit nor which family wins (the information criterion is not robust). The
    largest n is never set aside: it says most about where the curve goes, and a jump there is a rise to confirm by
    measuring further, not an outlier to drop. Nor is a point that lies between its neighbours: far off the fit
    there means a shape the families miss (a sharp rise, a late climb), not a bad run; on LCDB's design curves 3 of
    4 points the residual alone set aside were of that kind, among them the rise of a curve still climbing.
    """
    last = len(points.y) - 1
    far = np.argsort(-residuals)[: len(points.y) // 5]
    far = far[(residuals[far] > FAR_OFF * noise) & (far != last) & off_trend(points.y)[far]]
    if not len(far) or len(points.y) - len(far) < min_points:
        return points, ()
    kept = np.setdiff1d(np.arange(len(points.y)), far)
    sizes = points.sizes[kept]
    subset = replace(
        points,
        sizes=sizes,
        x=points.x[kept],
        y=points.y[kept],
        w=points.w[kept],
        groups={s: points.groups[s] for s in sizes},
    )
    return subset, tuple(float(v) for v in points.sizes[far])


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
