"""The adaptive sweep's choice of the next size (pure functions of a saturation fit).

Adaptive mode does not run the whole grid: it measures the smallest sizes the saturation model
needs, then repeatedly picks the size whose measurement is expected to shrink the uncertainty of
the target (minimum useful n by default) the most per unit of compute, and stops when the target's
interval is tight (hi / lo <= the sweep's `tight_ratio`) or the grid is used up.

How "expected to shrink" is computed: the bootstrap replicates of the current fit give, for each
candidate size c, a predicted score F_b(c) and a target T_b. Under a linear-Gaussian reading
(an ensemble Kalman update) a measurement at c with noise variance s^2 reduces Var(log T) by
Cov(F(c), log T)^2 / (Var F(c) + s^2); we divide by the cost of measuring c.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from foretune.keys import SweepTarget
from foretune.predictors.saturation import SaturationResult


def interval_ratio(result: SaturationResult, target: SweepTarget) -> float:
    """hi / lo of the target's noise-only (bootstrap) interval (inf when an end is beyond the horizon).

    The sweep can shrink measurement noise by measuring; the calibrated extrapolation error it
    handles by measuring close to the answer (`SaturationSweep._settled`), so the noise band decides here.
    """
    lo, hi = getattr(result, f"{target}_noise_interval")
    if lo is None or hi is None or lo <= 0:
        return math.inf
    return hi / lo


def expected_reduction(
    result: SaturationResult, candidates: Sequence[int], *, target: SweepTarget, noise: float
) -> np.ndarray:
    """Expected drop in Var(log target) from measuring each candidate size (ensemble Kalman gain)."""
    values = result.replicate_estimates(target)
    horizon = result.horizon
    log_t = np.log(np.clip(np.where(np.isfinite(values), values, horizon), 1.0, horizon))
    candidates = np.asarray(list(candidates), dtype=float)
    reduction = np.zeros(len(candidates))
    if len(log_t) < 3 or np.var(log_t) == 0:
        return reduction
    positive = candidates > 0
    if not positive.any():
        return reduction
    curves = result.replicate_curves(candidates[positive])  # (replicates, candidates)
    cov = ((curves - curves.mean(0)) * (log_t - log_t.mean())[:, None]).mean(0)
    reduction[positive] = cov**2 / (curves.var(0) + noise**2 + 1e-18)
    return reduction


def next_size(
    result: SaturationResult,
    candidates: Sequence[int],
    *,
    target: SweepTarget,
    noise: float,
    cost: Callable[[int], float],
) -> int | None:
    """The candidate with the largest expected variance reduction per unit of compute."""
    candidates = [c for c in candidates if c > 0]
    if not candidates:
        return None
    gain = expected_reduction(result, candidates, target=target, noise=noise)
    if not np.any(gain > 0):
        return max(candidates)  # no signal: the largest size says the most about the plateau
    per_cost = gain / np.array([max(cost(c), 1e-12) for c in candidates])
    return int(candidates[int(np.argmax(per_cost))])


def next_sizes(
    result: SaturationResult,
    candidates: Sequence[int],
    *,
    count: int,
    target: SweepTarget,
    noise: float,
    cost: Callable[[int], float],
) -> list[int]:
    """The `count` candidates with the largest expected variance reduction per unit of compute.

    A round of runs side by side (as many as the cluster holds at once); ranked one by one, so two
    sizes that tell the same thing may both be chosen: a busy cluster is worth that overlap.
    """
    candidates = [c for c in candidates if c > 0]
    if count <= 1 or len(candidates) <= 1:
        chosen = next_size(result, candidates, target=target, noise=noise, cost=cost)
        return [] if chosen is None else [chosen]
    gain = expected_reduction(result, candidates, target=target, noise=noise)
    if not np.any(gain > 0):
        return sorted(candidates)[-count:]  # no signal: the largest sizes say the most about the plateau
    per_cost = gain / np.array([max(cost(c), 1e-12) for c in candidates])
    order = np.argsort(-per_cost, kind="stable")[:count]
    return sorted(int(candidates[i]) for i in order)
