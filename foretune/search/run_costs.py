"""The pieces of an estimate (`foretune.search.estimate`), on plain numbers: which trials run to the end under the
early-stage rule, how runs share the slots (list scheduling), and what one run costs from a pilot's timings.

Imports neither torch nor Ray.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from foretune.config import ExperimentConfig

SECONDS_PER_HOUR = 3600.0


def keep_probabilities(config: ExperimentConfig, trials: int) -> list[float]:
    """Per trial, in the order judged, the chance it runs to the end under the early-stage rule."""
    return [passed[-1] for passed in rung_probabilities(config, trials)]


def rung_probabilities(config: ExperimentConfig, trials: int) -> list[list[float]]:
    """Per trial, in the order judged, the chance it is still running after each rung: the first
    (`early_stage.fraction`), then each of `early_stage.rungs`; the last is the chance it runs to the end.

    The first `grace_trials` always run to the end (and are never judged again). Later, with nothing in the
    order of trials to say which are better, the j-th judged is among the `allowed(j)` kept (top_k, quantile)
    with chance allowed(j) / j; the probability rule lets a trial go on while it may still beat the k-th best
    final: chance k / j (and a trial it stops is counted as stopped at the early fraction, its first chance).
    A later rung ranks a trial among every trial that reached it: the j-th trial is ranked among 1 + the
    expected number of trials before it that reached that rung. With `audit_every: k`, one in k of the verdicts
    that would stop a trial lets it run to the end instead."""
    from foretune.search.rule import EarlyStageRule  # the predictors' chain: only when a rule is projected

    early = config.early_stage
    if not early.enabled:
        return [[1.0] for _ in range(trials)]
    audited = 1.0 / early.audit_every if early.audit_every else 0.0  # share of stop verdicts overridden
    if early.rule == "probability":
        first = [1.0 if j <= early.grace_trials else min(1.0, early.k / j) for j in range(1, trials + 1)]
        return [[p + (1.0 - p) * audited] for p in first]
    rule = EarlyStageRule(
        mode=config.search.mode,
        rule=early.rule,
        keep=early.keep,
        grace_trials=early.grace_trials,
        later_rungs=[(r.fraction, r.keep) for r in early.rungs],
    )
    kept = [1.0 if j <= early.grace_trials else min(1.0, rule.allowed(j) / j) for j in range(1, trials + 1)]
    spared = [(1.0 - k) * audited for k in kept]  # audited: run to the end, never judged again
    passed = [[k + a] for k, a in zip(kept, spared, strict=True)]
    for rung in range(1, len(early.rungs) + 1):
        reached_before = 0.0  # expected trials before this one that reached this rung
        for j, row in enumerate(passed):
            reached = row[-1]
            ranked_among = max(1, math.floor(reached_before + 1 + 0.5))
            chance = 1.0 if j < early.grace_trials else min(1.0, rule.allowed(ranked_among, rung) / ranked_among)
            spared[j] += kept[j] * (1.0 - chance) * audited
            kept[j] *= chance
            row.append(kept[j] + spared[j])
            reached_before += reached
    return passed


def makespan(durations: Sequence[float], slots: int) -> float:
    """Wall time of running `durations` in order, each on the first slot that frees up."""
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    free = [0.0] * min(slots, max(1, len(durations)))
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def concurrent_slots(config: ExperimentConfig, *, cpus: int, gpus: int) -> int:
    """Runs side by side: the configured cap, and what the machine's CPUs and GPUs hold."""
    resources = config.resources
    fits = [config.search.max_concurrent_trials, math.floor(cpus / resources.cpus_per_trial)]
    if resources.gpus_per_trial > 0:
        fits.append(math.floor(gpus / resources.gpus_per_trial))
    return max(1, min(fits))


def device_unit(config: ExperimentConfig) -> tuple[float, str]:
    """(devices one run holds, their name): GPUs when a trial asks for any, else CPU cores."""
    resources = config.resources
    return (resources.gpus_per_trial, "GPU") if resources.gpus_per_trial > 0 else (resources.cpus_per_trial, "core")


def run_seconds(timing: Mapping[str, Any], shape, *, import_seconds: float) -> float:
    """Seconds of one run of `shape` (a `pilot.RunShape`) from one model's pilot timings."""
    if shape.zero_shot:  # load the model, one test evaluation
        return import_seconds + timing["start_seconds"] + timing["zero_shot_seconds"]
    return (
        import_seconds
        + timing["start_seconds"]
        + shape.steps * timing["step_seconds"]
        + shape.early_evaluations * timing["eval_seconds"]
        + shape.late_evaluations * timing["trained_eval_seconds"]
        # the evaluation at the last step, on data.max_final_eval_samples products (a pilot saved before it
        # was timed apart scored the final like the others)
        + (timing.get("final_eval_seconds", timing["trained_eval_seconds"]) if shape.final else 0.0)
        + (timing["test_eval_seconds"] if shape.test else 0.0)
    )


@dataclass(frozen=True)
class PilotCosts:
    """What both projections price runs with: each model's pilot timings, the run shapes (`pilot.Plan`), the
    slots runs share, and the price of a device-hour."""

    config: ExperimentConfig
    timings: Mapping[str, Mapping[str, Any]]
    plan: Any  # foretune.search.pilot.Plan
    import_seconds: float
    slots: int
    price: float | None

    def run_seconds(self, model: str, shape, *, fresh_process: bool) -> float:
        """One run of `model`; a fresh process (a trial) also pays the trainer's imports."""
        return run_seconds(self.timings[model], shape, import_seconds=self.import_seconds if fresh_process else 0.0)

    def prepare_seconds(self, models: Sequence[str]) -> float:
        return sum(self.timings[m]["prepare_seconds"] for m in models)

    def device_costs(self, durations: Sequence[float]) -> dict[str, Any]:
        """device_hours, device (its name) and usd of runs of these `durations`."""
        per_run, unit = device_unit(self.config)
        device_hours = sum(durations) * per_run / SECONDS_PER_HOUR
        usd = None if self.price is None else device_hours * self.price
        return {"device_hours": device_hours, "device": unit, "usd": usd}
