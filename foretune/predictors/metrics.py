"""Ranking metrics: how well predicted finals order the runs the way their true finals do.

All take `predicted` and `true` final values of the same runs (and `mode`: "max" when larger is
better). Near the top, finals are often within noise of each other, so whether the best run
survives pruning and the regret of the top pick matter more than the exact top-k order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import sign


def _pair(predicted: Sequence[float], true: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"predicted and true must be 1-D and of equal length, got {p.shape} and {t.shape}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predicted and true must be finite")
    return p, t


def _order(values: np.ndarray, mode: Mode) -> np.ndarray:
    """Indices from best to worst (stable, so ties keep input order)."""
    return np.argsort(-sign(mode) * values, kind="stable")


# Rank correlations in plain numpy: importing scipy.stats fails where torch is blocked in
# sys.modules (its array-API shim probes sys.modules["torch"]), and predictors must import there.


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (like scipy.stats.rankdata)."""
    ordered = np.sort(values)
    return (np.searchsorted(ordered, values, "left") + np.searchsorted(ordered, values, "right") + 1) / 2.0


def spearman(predicted: Sequence[float], true: Sequence[float]) -> float:
    """Spearman rank correlation (NaN when either side is constant)."""
    p, t = _pair(predicted, true)
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(np.corrcoef(_average_ranks(p), _average_ranks(t))[0, 1])


def kendall(predicted: Sequence[float], true: Sequence[float]) -> float:
    """Kendall's tau-b (NaN when either side is constant)."""
    p, t = _pair(predicted, true)
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        return float("nan")
    sp = np.sign(p[:, None] - p[None, :])
    st = np.sign(t[:, None] - t[None, :])
    return float((sp * st).sum() / np.sqrt(np.abs(sp).sum() * np.abs(st).sum()))


def top_k_overlap(predicted: Sequence[float], true: Sequence[float], *, k: int = 5, mode: Mode = "max") -> int:
    """How many of the truly best `k` runs are among the predicted best `k`."""
    p, t = _pair(predicted, true)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return len(set(_order(p, mode)[:k].tolist()) & set(_order(t, mode)[:k].tolist()))


def regret(predicted: Sequence[float], true: Sequence[float], *, mode: Mode = "max") -> float:
    """How much worse the predicted best run truly ends than the truly best run (>= 0)."""
    p, t = _pair(predicted, true)
    picked = t[_order(p, mode)[0]]
    best = t.max() if mode == "max" else t.min()
    return float(abs(best - picked))


def best_survives(predicted: Sequence[float], true: Sequence[float], *, q: float = 0.2, mode: Mode = "max") -> bool:
    """Whether the truly best run is among the predicted top `q` (at least one run is kept), i.e.
    survives a pruner that keeps only that share of the runs."""
    p, t = _pair(predicted, true)
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], got {q}")
    keep = max(1, math.ceil(q * len(p) - 1e-9))
    best = set(np.flatnonzero(t == (t.max() if mode == "max" else t.min())).tolist())
    return bool(best & set(_order(p, mode)[:keep].tolist()))


def mae(predicted: Sequence[float], true: Sequence[float]) -> float:
    """Mean absolute error of the predicted finals."""
    p, t = _pair(predicted, true)
    return float(np.mean(np.abs(p - t)))


def coverage(lower: Sequence[float], upper: Sequence[float], true: Sequence[float]) -> float:
    """Share of runs whose true final lies inside [lower, upper] (the nominal level is 80%)."""
    lo, t = _pair(lower, true)
    hi, _ = _pair(upper, true)
    return float(np.mean((lo <= t) & (t <= hi)))


METRICS = ("spearman", "kendall", "top_k", "regret", "best_survives", "mae", "coverage")


def evaluate(
    prediction, true: Sequence[float], *, mode: Mode = "max", k: int = 5, q: float = 0.2, order=None
) -> dict[str, float]:
    """Every metric for one `Prediction` against the true finals, as a dict keyed by `METRICS`. `order`: what the
    runs are ranked by, where not by `prediction.mean` (the finals before they were clipped into the metric's range,
    as `foretune rank` orders them); the errors and the coverage are the prediction's own."""
    ranked = prediction.mean if order is None else order
    return {
        "spearman": spearman(ranked, true),
        "kendall": kendall(ranked, true),
        "top_k": float(top_k_overlap(ranked, true, k=k, mode=mode)),
        "regret": regret(ranked, true, mode=mode),
        "best_survives": float(best_survives(ranked, true, q=q, mode=mode)),
        "mae": mae(prediction.mean, true),
        "coverage": coverage(prediction.lower, prediction.upper, true),
    }
