"""Several objectives: dominance, Pareto fronts, the knee, and the early-stage verdict on predicted objectives.

Pure numbers (no Ray, no Optuna). A point is one value per objective; `modes` says for each
whether larger ('max') or smaller ('min') is better.

The verdict generalises the one-objective rule: there a trial continues while fewer than `allowed`
judged trials are predicted better; here while fewer than `allowed` judged trials *dominate* its
predicted objectives (at least as good in every one, better in one). The first objective is the
predictor's predicted final (as the one-objective verdict computes it, re-predicted for every judged
trial from one fit); a cost that grows with the budget (seconds, device-hours, tokens, dollars) is
extrapolated linearly from the fraction trained; any other cost or metric is taken as measured. The
judged trials include the study's others (an earlier session's, other drivers'), each as of its last
evaluation (`ParetoJudge.observe_earlier`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foretune.keys import (
    CUMULATIVE_COSTS,
    PARETO_DOMINATED_BY_ATTR,
    PARETO_PREDICTED_ATTR,
    check_mode,
)
from foretune.predictors._base import Curve


def _signs(modes: Sequence[str]) -> np.ndarray:
    """+1 where larger is better: `sign * value` always wants to go up."""
    return np.array([1.0 if check_mode(m) == "max" else -1.0 for m in modes])


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether `a` is at least as good as `b` in every objective and better in one."""
    signs = _signs(modes)
    up_a, up_b = signs * np.asarray(a, dtype=float), signs * np.asarray(b, dtype=float)
    return bool(np.all(up_a >= up_b) and np.any(up_a > up_b))


def dominated_count(point: Sequence[float], others: Sequence[Sequence[float]], modes: Sequence[str]) -> int:
    """How many of `others` dominate `point`."""
    return sum(1 for other in others if dominates(other, point, modes))


def front_ranks(points: Sequence[Sequence[float]], modes: Sequence[str]) -> np.ndarray:
    """Non-dominated sorting: 1 for the Pareto front, 2 for the front once the first is removed, ..."""
    remaining = set(range(len(points)))
    ranks = np.zeros(len(points), dtype=int)
    rank = 0
    while remaining:
        rank += 1
        front = {i for i in remaining if not any(dominates(points[j], points[i], modes) for j in remaining if j != i)}
        for i in front:
            ranks[i] = rank
        remaining -= front
    return ranks


def knee_index(points: Sequence[Sequence[float]], modes: Sequence[str]) -> int | None:
    """The knee of a front: the point closest to the ideal corner once each objective is scaled to [0, 1]
    over the front (0 = the front's best value); on a tie (two points are always tied) the better first
    objective. None for no points."""
    if len(points) == 0:
        return None
    up = np.asarray(points, dtype=float) * _signs(modes)
    best, worst = up.max(axis=0), up.min(axis=0)
    span = np.where(best > worst, best - worst, 1.0)  # an objective all points share adds no distance
    distance = np.round(np.sqrt((((best - up) / span) ** 2).sum(axis=1)), 12)
    return int(np.lexsort((-up[:, 0], distance))[0])  # sorted by distance, then by the first objective


def predicted_point(
    objectives: Sequence[str], predicted_first: float, observed: Mapping[str, float], reached: float
) -> tuple[float, ...] | None:
    """The objectives a trial is judged on at budget fraction `reached`: the first is `predicted_first`,
    a cumulative cost is extrapolated to the whole budget, anything else is as observed. None when an
    objective was never reported."""
    point = [float(predicted_first)]
    for name in objectives[1:]:
        value = observed.get(name)
        if value is None or not math.isfinite(value):
            return None
        point.append(float(value) / reached if name in CUMULATIVE_COSTS else float(value))
    return tuple(point)


@dataclass(frozen=True)
class ParetoVerdict:
    keep: bool
    dominated_by: int  # judged trials whose predicted objectives dominate this one's
    allowed: int  # a trial continues while dominated by fewer than this many
    reason: str  # grace, kept or pruned (the one-objective rule's words)


def pareto_verdict(
    point: Sequence[float], others: Sequence[Sequence[float]], modes: Sequence[str], *, allowed: int, grace_trials: int
) -> ParetoVerdict:
    """Judge one trial's predicted objectives against those of the trials judged before it."""
    count = dominated_count(point, others, modes)
    if len(others) < grace_trials:
        return ParetoVerdict(True, count, allowed, "grace")
    if count < allowed:
        return ParetoVerdict(True, count, allowed, "kept")
    return ParetoVerdict(False, count, allowed, "pruned")


@dataclass
class ParetoJudge:
    """The early-stage verdict with several objectives; the evaluator asks it once per trial.

    `observe` keeps each trial's latest reported values (costs, other metrics); `decide` gets the
    first objective's predictions for the trial and the judged ones (one fit) and returns the verdict
    and the user attributes that say what it was judged on.
    """

    objectives: Sequence[str]
    modes: Sequence[str]
    allowed: Callable[[int], int]  # judged trials -> how many dominating trials a trial may have (the rule's)
    grace_trials: int = 3
    observed: dict[str, dict[str, float]] = field(default_factory=dict, init=False)  # trial -> latest values
    reached: dict[str, float] = field(default_factory=dict, init=False)  # trial -> latest budget fraction

    def observe(self, trial_id: str, fraction: float, values: Mapping[str, Any]) -> None:
        numbers = {k: float(v) for k, v in values.items() if k in self.objectives and isinstance(v, (int, float))}
        self.observed.setdefault(trial_id, {}).update(numbers)
        self.reached[trial_id] = float(fraction)

    def observe_earlier(self, curve: Curve, costs: Mapping[str, float]) -> str:
        """Record a trial this session did not run (an earlier session's, another driver's) as of its last
        evaluation: its other metrics' latest values and its recorded `costs`. Returns the key `decide` knows it by.
        """
        key = f"study trial {curve.trial}"
        latest = {name: series[np.isfinite(series)] for name, series in curve.extras.items()}
        values = {name: finite[-1] for name, finite in latest.items() if len(finite)} | dict(costs)
        self.observe(key, curve.fractions[-1], values)  # the same filter as this session's trials
        return key

    def point(self, trial_id: str, predicted_first: float) -> tuple[float, ...] | None:
        reached = self.reached.get(trial_id)
        if not reached:
            return None
        return predicted_point(self.objectives, predicted_first, self.observed.get(trial_id, {}), reached)

    def decide(self, trial_id: str, predicted: Mapping[str, float]) -> tuple[bool, str, dict[str, Any]]:
        """`predicted`: trial id -> predicted first objective, this trial first, then the judged ones (this
        session's, and the study's others by their `observe_earlier` keys)."""
        mine = self.point(trial_id, predicted[trial_id])
        if mine is None:  # an objective was never reported: nothing to judge on, so never prune
            return True, "kept", {}
        others = [self.point(t, v) for t, v in predicted.items() if t != trial_id]
        others = [p for p in others if p is not None]
        verdict = pareto_verdict(
            mine, others, self.modes, allowed=self.allowed(len(others) + 1), grace_trials=self.grace_trials
        )
        attributes = {
            PARETO_DOMINATED_BY_ATTR: verdict.dominated_by,
            PARETO_PREDICTED_ATTR: dict(zip(self.objectives, mine, strict=True)),
        }
        return verdict.keep, verdict.reason, attributes
