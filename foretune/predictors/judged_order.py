"""A study's judgements held to one order: a run's predicted final between those of the runs judged before it.

A search judges its trials one at a time, each by a fit on the runs finished by then. Within one fit a loss's
line is monotone in the early loss, but the line moves as runs finish (2, 4, 6 of them), so a trial judged
better at the early fraction than one predicted before it could be predicted below it: replayed on 36
recorded twins of the default job, its predicted finals ranked the finals 0.870 (mean Spearman) while the eval
loss at 20% alone ranked the same trials 0.902. So a new prediction that follows a loss is held between the
predictions already made: never below a run whose held-out loss was higher at the early fraction, never above
one whose was lower (mode "max"; the other way for a loss objective), and its interval stretched to hold both
the fit's value and the held one. Twins >= 0.8 83% -> 92%, the job set's design ids 90% -> 97%
(benchmarks/results/verdict.md, round 36). Only what is shown and recorded is held: a pruning rule ranks every
judged run by one fit, already one order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from foretune.keys import EARLY_ORDER_ATTR, PREDICTED_FINAL_ATTR, Mode
from foretune.predictors._base import Curve, Prediction
from foretune.predictors._learned import extra_features
from foretune.predictors.metric_copies import loss_preference
from foretune.predictors.metric_names import is_held_out, is_loss, is_test

HELD = "held between the trials judged before"  # in the basis of a held prediction (the report counts them)


@dataclass(frozen=True)
class JudgedRun:
    """A run predicted before: its order metric's value at the early fraction, and the final predicted then."""

    metric: str
    value: float
    predicted: float


def order_metric(curve: Curve, follows: str) -> str:
    """The metric a study's judgements are ordered on: its held-out loss (what every line is chosen for first,
    measured on data no run trained on), else the loss the prediction follows."""
    held_out = [n for n in curve.extras if is_loss(n) and is_held_out(n)]
    # A validation loss before a test loss, then the name `distinct_metrics` keeps of copies (`val_loss` before
    # `val_bpb` or `val_ppl`: the same order, the name a user reads in the basis).
    return min(held_out, key=lambda n: (is_test(n), loss_preference(n))) if held_out else follows


def judged_run(curve: Curve, prediction: Prediction, at: float) -> JudgedRun | None:
    """What a later judgement is held to from this one (`prediction` of `curve`, its first run); None where no
    final was predicted, the prediction follows no loss, or the order metric was not reported."""
    if not prediction.predicted or prediction.follows is None:
        return None
    metric = order_metric(curve, prediction.follows)
    value = float(extra_features([curve], at, [metric])[0, 0])  # NaN where it was never reported
    return JudgedRun(metric, value, float(prediction.mean[0])) if np.isfinite(value) else None


def held_in_order(
    prediction: Prediction, run: JudgedRun | None, judged: Sequence[JudgedRun], *, mode: Mode, at: float
) -> Prediction:
    """`prediction` (its first run: the one judged now, `run`) held between the predicted finals of the runs in
    `judged` ordered on the same metric; unchanged where it already lies there, or where they contradict each
    other (a run judged better early predicted below a worse one: nothing to hold to)."""
    if run is None:
        return prediction
    sign = 1.0 if mode == "max" else -1.0  # a lower loss early: a final at least as good
    same = [j for j in judged if j.metric == run.metric]
    cap = min((sign * j.predicted for j in same if j.value <= run.value), default=np.inf)
    floor = max((sign * j.predicted for j in same if j.value >= run.value), default=-np.inf)
    own = sign * run.predicted
    if floor > cap or floor <= own <= cap:
        return prediction
    held = sign * float(np.clip(own, floor, cap))
    shift = held - run.predicted
    mean, lower, upper = (np.array(a, dtype=float) for a in (prediction.mean, prediction.lower, prediction.upper))
    mean[0] = held
    lower[0], upper[0] = min(lower[0], lower[0] + shift), max(upper[0], upper[0] + shift)
    basis = f"{prediction.basis}; {HELD} by {run.metric} at {at:.0%} (this fit: {run.predicted:.3g})"
    return replace(prediction, mean=mean, lower=lower, upper=upper, basis=basis)


def recorded_judgement(verdict: Mapping[str, Any]) -> JudgedRun | None:
    """What a recorded verdict (a trial's early-stage attributes: its order value and predicted final) holds later
    judgements to, or None."""
    order, predicted = verdict.get(EARLY_ORDER_ATTR), verdict.get(PREDICTED_FINAL_ATTR)
    if not isinstance(order, dict) or not isinstance(predicted, (int, float)):
        return None
    try:
        return JudgedRun(str(order["metric"]), float(order["value"]), float(predicted))
    except (KeyError, TypeError, ValueError):
        return None


def shown_prediction(
    curve: Curve, prediction: Prediction, judged: Sequence[JudgedRun], *, mode: Mode, at: float
) -> tuple[Prediction, JudgedRun | None]:
    """The prediction of `curve` (`prediction`'s first run) held to `judged` (`held_in_order`), and what later
    judgements are held to from it (None where nothing)."""
    run = judged_run(curve, prediction, at)
    shown = held_in_order(prediction, run, judged, mode=mode, at=at)
    return shown, None if run is None else replace(run, predicted=float(shown.mean[0]))
