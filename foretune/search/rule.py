"""The early-stage stopping rule, on plain numbers (no Ray, no Optuna), like ASHA's `_Bracket`.

At the early fraction every trial gets a predicted final score. The rule compares the trial's
score (the prediction, or its optimistic end when `use_upper_bound`) with the predictions for all
the other trials judged so far (made by the same fit from their curves up to the same fraction, so
all on one scale), and lets it go on only if it ranks inside the kept set. This is one rung of
successive halving where the rung's score is the predicted final instead of the score so far:
with `rule="quantile", keep=1/3` a trial continues when it is in the top third of every trial that
reached the early fraction (ASHA's reduction factor 3). `later_rungs` adds further rungs (successive halving
on predictions): at each rung's fraction a trial still running is ranked, by its predicted final from its
curve up to there, among every trial that reached that fraction, and goes on only inside that rung's share;
each rung may rank the optimistic end or the prediction (`later_upper_bound`: an optimistic first cut, where
few runs have finished and intervals are wide, then a strict later one).

`ProbabilityRule` is predictive termination (Domhan et al. 2015; LC-PFN's rule): at every evaluation
from the early fraction on, a trial stops when the calibrated probability that its final beats the
k-th best final seen so far is below `min_probability`; its optional safety nets (`conformal`,
`best_so_far`, `spare_rising`, a first `rank_cut`) are applied by the evaluator, with the curve tests of
`best_so_far` and `spare_rising` here (`best_point`, `rising`). `make_rule` builds either from the config.
Which rule is the default, and why: benchmarks/results/search.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from foretune.config import EarlyStageConfig
from foretune.keys import Mode, check_mode
from foretune.predictors._base import Curve

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    keep: bool
    rank: int  # 1 = best; rank of the score the rule judged among all trials judged so far
    allowed: int  # how many ranks are kept (a trial continues when rank <= allowed)
    reason: Literal["grace", "kept", "pruned"]


class EarlyStageRule:
    """Keep the top `keep` trials (`rule="top_k"`) or the top `keep` share (`rule="quantile"`).

    The first `grace_trials` trials judged always continue: with nothing to compare with, a
    verdict would be noise, and their full curves calibrate the predictor.
    """

    def __init__(
        self,
        *,
        mode: Mode = "max",
        rule: Literal["top_k", "quantile"] = "quantile",
        keep: float = 0.5,
        use_upper_bound: bool = True,
        grace_trials: int = 3,
        later_rungs: Sequence[tuple[float, float]] = (),
        later_upper_bound: Sequence[bool | None] = (),
        stop_repeats: bool = False,
    ) -> None:
        check_mode(mode)
        if rule not in ("top_k", "quantile"):
            raise ValueError(f"rule must be 'top_k' or 'quantile', got {rule!r}")
        if rule == "quantile" and not 0 < keep <= 1:
            raise ValueError(f"a quantile rule keeps a share in (0, 1], got keep={keep}")
        if rule == "top_k" and (keep < 1 or keep != int(keep)):
            raise ValueError(f"a top_k rule keeps a whole number >= 1 of trials, got keep={keep}")
        if grace_trials < 0:
            raise ValueError(f"grace_trials must be >= 0, got {grace_trials}")
        self.mode = mode
        self.rule = rule
        self.keep = keep
        self.use_upper_bound = use_upper_bound
        self.grace_trials = grace_trials
        # (fraction, keep) after the first rung; the config checked them (`EarlyStageConfig.rungs`, `RungSpec`)
        self.later_rungs = tuple((float(f), float(k)) for f, k in later_rungs)
        # per later rung: rank its optimistic end (True) or its predicted final (False); None = `use_upper_bound`
        if len(later_upper_bound) > len(self.later_rungs):
            raise ValueError(f"{len(later_upper_bound)} later_upper_bound settings for {len(self.later_rungs)} rungs")
        self.later_upper_bound = tuple(later_upper_bound) + (None,) * (len(self.later_rungs) - len(later_upper_bound))
        self.stop_repeats = stop_repeats  # the evaluator stops a trial that replays a finished run's curve

    def optimistic(self, rung: int = 0) -> bool:
        """Whether `rung` (0 = the first) ranks the optimistic end of the interval instead of the prediction."""
        own = self.later_upper_bound[rung - 1] if rung > 0 else None
        return self.use_upper_bound if own is None else own

    def score(self, mean: float, lower: float, upper: float, rung: int = 0) -> float:
        """The value the rule ranks at `rung`: the prediction, or its optimistic end."""
        if not self.optimistic(rung):
            return mean
        return upper if self.mode == "max" else lower

    def allowed(self, n: int, rung: int = 0) -> int:
        """How many of `n` trials judged at `rung` (0 = the first) may continue."""
        if rung > 0:  # a later rung keeps a share (<= 1) or a whole number of trials (> 1)
            keep = self.later_rungs[rung - 1][1]
            return int(keep) if keep > 1 else max(1, math.ceil(keep * n))
        if self.rule == "top_k":
            return int(self.keep)
        return max(1, math.ceil(self.keep * n))

    def rank(self, value: float, others: Sequence[float]) -> int:
        """1 + the number of others strictly better than `value` (ties favour the newcomer)."""
        if self.mode == "max":
            return 1 + sum(1 for o in others if o > value)
        return 1 + sum(1 for o in others if o < value)

    def decide(self, *, mean: float, lower: float, upper: float, others: Sequence[float], rung: int = 0) -> Verdict:
        """Judge one trial against the estimates `others` of the trials judged before it at `rung` (grace
        applies at the first rung only: a grace trial is never judged again)."""
        rank = self.rank(self.score(mean, lower, upper, rung), others)
        allowed = self.allowed(len(others) + 1, rung)
        if rung == 0 and len(others) < self.grace_trials:
            return Verdict(True, rank, allowed, "grace")
        if rank <= allowed:
            return Verdict(True, rank, allowed, "kept")
        return Verdict(False, rank, allowed, "pruned")


class ProbabilityRule:
    """Stop a trial when P(its final beats the `k`-th best final so far) < `min_probability`, judged at
    every evaluation from budget fraction `stop_from` on (the last evaluation excepted).

    The probability is computed by the evaluator from the predictor's calibrated distribution of the
    trial's final (`calibration.probability_better`, `shape` says how). The first `grace_trials`
    trials judged always run to the end. With no calibrated prediction (too few finished runs) or
    fewer than `k` finished runs there is no probability to compare, and the trial continues.
    """

    def __init__(
        self,
        *,
        mode: Mode = "max",
        k: int = 1,
        min_probability: float = EarlyStageConfig.model_fields["min_probability"].default,  # one default
        grace_trials: int = 3,
        stop_from: float = 0.1,
        shape: Literal["kde", "student"] = "kde",
        conformal: bool = False,
        spare_rising: bool = False,
        best_so_far: bool = False,
        rank_cut: float | None = None,
        rank_cut_upper_bound: bool = False,
        stop_repeats: bool = False,
    ) -> None:
        check_mode(mode)
        if k < 1 or k != int(k):
            raise ValueError(f"k must be a whole number >= 1 (1 = the incumbent), got k={k}")
        if not 0 < min_probability < 1:
            raise ValueError(f"min_probability must be in (0, 1), got {min_probability}")
        if grace_trials < 0:
            raise ValueError(f"grace_trials must be >= 0, got {grace_trials}")
        if not 0 < stop_from < 1:
            raise ValueError(f"stop_from must be a budget fraction in (0, 1), got {stop_from}")
        if shape not in ("student", "kde"):
            raise ValueError(f"shape must be 'student' or 'kde', got {shape!r}")
        self.mode = mode
        self.k = int(k)
        self.min_probability = min_probability
        self.grace_trials = grace_trials
        self.stop_from = stop_from
        self.shape = shape
        self.conformal = conformal  # probability never below 1 / (n + 1) with n finished runs
        self.spare_rising = spare_rising  # never stop a trial improving faster than the target run did there
        self.best_so_far = best_so_far  # judge a trial on its curve up to its best evaluation so far
        if rank_cut is not None and not 0 < rank_cut <= 1:
            raise ValueError(f"rank_cut must be a share in (0, 1], got {rank_cut}")
        self.rank_cut = rank_cut  # at the early verdict, also keep only this top share by predicted final
        self.rank_cut_upper_bound = rank_cut_upper_bound  # ... by the optimistic end of the interval instead
        self.stop_repeats = stop_repeats  # the evaluator stops a trial that replays a finished run's curve

    def target(self, finals: Sequence[float]) -> float | None:
        """The k-th best of the finished runs' `finals`; None while fewer than k runs finished."""
        return self._kth_best(finals, float)

    def target_run(self, runs: Sequence[Curve]) -> Curve | None:
        """The finished run whose final is `target`: the k-th best of `runs`."""
        return self._kth_best(runs, lambda c: c.final)

    def rising(self, curve: Curve, target: Curve | None) -> bool:
        """`spare_rising`: whether `curve` (a trial's, up to now) gained more since its previous evaluation than
        the target run gained over the same stretch of budget (a curve still falling steeply is what the
        predictors misjudge most)."""
        if target is None or len(curve.fractions) < 2:
            return False
        sign = 1.0 if self.mode == "max" else -1.0
        before, now = curve.fractions[-2], curve.fractions[-1]
        gain = sign * (curve.values[-1] - curve.values[-2])
        reference = sign * np.diff(np.interp([before, now], target.fractions, target.values))[0]
        return bool(gain > reference)

    def best_point(self, curve: Curve, reached: float) -> float:
        """`best_so_far`: the fraction of the best evaluation of `curve` (a trial's, up to `reached`; the latest
        one if tied): a dip of a noisy metric then never stops a trial, a run past its best is still judged on
        that best."""
        oriented = curve.values if self.mode == "max" else -curve.values
        if not np.isfinite(oriented).any():
            return reached
        best = np.nanmax(oriented)
        return float(curve.fractions[np.flatnonzero(oriented == best)[-1]])

    def _kth_best(self, items: Sequence[T], final: Callable[[T], float]) -> T | None:
        ordered = sorted((i for i in items if math.isfinite(final(i))), key=final, reverse=self.mode == "max")
        return ordered[self.k - 1] if len(ordered) >= self.k else None

    def keep(self, probability: float | None) -> bool:
        """Continue unless a probability was computed and is below the threshold."""
        return probability is None or not probability < self.min_probability


def make_rule(early: EarlyStageConfig, mode: Mode) -> EarlyStageRule | ProbabilityRule:
    """The rule `early_stage.rule` names, with its settings."""
    if early.rule == "probability":
        return ProbabilityRule(
            mode=mode,
            k=early.k,
            min_probability=early.min_probability,
            grace_trials=early.grace_trials,
            stop_from=early.stop_from,
            conformal=early.conformal,
            spare_rising=early.spare_rising,
            best_so_far=early.best_so_far,
            rank_cut=early.rank_cut,
            rank_cut_upper_bound=early.use_upper_bound,
            stop_repeats=early.stop_repeats,
        )
    return EarlyStageRule(
        mode=mode,
        rule=early.rule,
        keep=early.keep,
        use_upper_bound=early.use_upper_bound,
        grace_trials=early.grace_trials,
        later_rungs=[(r.fraction, r.keep) for r in early.rungs],
        later_upper_bound=[r.use_upper_bound for r in early.rungs],
        stop_repeats=early.stop_repeats,
    )
