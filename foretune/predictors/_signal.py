"""The best early signal: predict the objective's final from another metric when it ranks better.

With a handful of finished runs (3 to `learned.min_finished`) `auto` has no model to learn; it moves
the objective's early score by the finished runs' median change (the snapshot rule). But the
objective at the early fraction can be flat (an accuracy stuck at 0.05 on 12 validation products)
while another metric the trainer reports, eval loss, already orders the runs: in the default job
with pruning off (seed 0, 8 trials: benchmarks/results/default_job/seed0.json, "twin") accuracy at
20% ranks the finals at Spearman 0.31, eval loss at 20% at 0.95. Each candidate signal predicts the
finished runs' finals leave-one-out; an extra metric is used only where its error is clearly smaller
than the rule's (and than the recentred prior's, where the prior applies).

An extra metric maps to the final by a least-squares line (monotone, either direction; used only
near the finished runs' range); its leave-one-out residuals give its conformal interval
(`calibration.calibrated`), as the rule's do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import Curve, Prediction, final_value, snapshot_values
from foretune.predictors._learned import extra_features, extra_names
from foretune.predictors.calibration import calibrated, held_out_deviations
from foretune.predictors.prior import prior_recentred

# A line has 2 parameters: with 3 runs each leave-one-out fit passes exactly through the other 2, so
# its error measures one pair of runs rather than the map; from 4 runs every refit has a residual.
MIN_RUNS_FOR_LINE = 4
# An extra replaces the objective only when its leave-one-out error is this fraction of the rule's
# or less: with 4-7 runs a mean error is noisy, and the rule is the known-safe default.
MARGIN = 0.8
# How far beyond the finished runs' range of the metric (in units of that range) a judged run may lie
# for the line to predict it (0.25-1.0 gave the same figures on the LoRA design ids).
REACH = 0.5


def is_loss(metric: str) -> bool:
    """Candidate signals are the losses (eval loss, train loss): continuous and reported by every trainer. A
    task's sub-scores (per-attribute accuracies) are as coarse as the objective at the early fraction, and
    picking the best of many with 4-7 runs picks noise: in the default job with pruning off (seed 0) a
    per-attribute accuracy won on 4 runs and ranked 2 trials wrongly, where eval loss ranked the 8 at 0.95."""
    return metric.lower().endswith("loss")


@dataclass(frozen=True)
class Signal:
    """One extra metric's line from its early value to the objective's final.

    `residuals` are the finished runs' leave-one-out errors (final - prediction); `error` their mean
    absolute value; `predictions` the line at each judged curve's early value of the metric."""

    metric: str
    residuals: np.ndarray
    error: float
    predictions: np.ndarray


def rule_error(train: Sequence[Curve], at: float) -> float:
    """Mean leave-one-out absolute error of the snapshot rule (early value + median change of the other
    runs) on the finished runs `train`."""
    changes = np.array([final_value(c) for c in train]) - snapshot_values(train, at)
    return float(np.mean(held_out_deviations(changes[np.isfinite(changes)])))


def line_signal(metric: str, train: Sequence[Curve], curves: Sequence[Curve], at: float) -> Signal | None:
    """The line final = a + b * (metric at `at`), fit on `train`; None where a run lacks the metric
    by `at`, the metric does not vary over the finished runs, or a judged run lies beyond `REACH`
    times their range from it.

    A line through a handful of runs says little beyond their range: on the LoRA curves a line through
    5 runs' eval losses in [0.99, 1.05] predicted -4.8 for a run at 0.58 (the relation saturates), and
    clipping to the range instead tied the best runs (best run kept 0.95 -> 0.85 on the design ids).
    """
    x = extra_features(train, at, [metric])[:, 0]
    query = extra_features(curves, at, [metric])[:, 0]
    finals = np.array([final_value(c) for c in train])
    if not (np.isfinite(x).all() and np.isfinite(query).all() and np.isfinite(finals).all()) or np.ptp(x) <= 0:
        return None
    reach = REACH * np.ptp(x)
    if (query < x.min() - reach).any() or (query > x.max() + reach).any():
        return None
    residuals = np.empty(len(x))
    for i in range(len(x)):
        others = np.arange(len(x)) != i
        residuals[i] = finals[i] - _line(x[others], finals[others], x[i : i + 1])[0]
    return Signal(metric, residuals, float(np.mean(np.abs(residuals))), _line(x, finals, query))


def _line(x: np.ndarray, y: np.ndarray, at_x: np.ndarray) -> np.ndarray:
    """The least-squares line of y on x, evaluated at `at_x` (a flat line where x does not vary)."""
    if np.ptp(x) <= 0:
        return np.full(len(at_x), float(np.mean(y)))
    slope, intercept = np.polyfit(x, y, 1)
    return intercept + slope * at_x


def prior_error(train: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode) -> float:
    """Mean leave-one-out absolute error of the recentred prior on `train` (inf where it does not apply)."""
    recentred = prior_recentred(train, curves, at, mode=mode)
    if recentred is None:
        return float("inf")
    errors = np.array([final_value(c) for c in train]) - recentred[1]
    return float(np.mean(held_out_deviations(errors)))


def best_signal(
    train: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode, use_prior: bool
) -> Signal | None:
    """The loss (`is_loss`) whose line predicts the finished runs' finals best, if its leave-one-out error
    is at most `MARGIN` times that of the objective's rules (the snapshot rule, and the recentred prior
    where `use_prior` and it applies); else None (the objective's rules stay)."""
    if len(train) < MIN_RUNS_FOR_LINE or not curves:
        return None
    names = sorted(n for n in set(extra_names(train)) & set(extra_names(curves)) if is_loss(n))
    signals = [s for s in (line_signal(name, train, curves, at) for name in names) if s is not None]
    if not signals:
        return None
    best = min(signals, key=lambda s: s.error)
    rival = rule_error(train, at)
    if use_prior:
        rival = min(rival, prior_error(train, curves, at, mode=mode))
    return best if best.error <= MARGIN * rival else None


def signal_basis(metric: str, at: float, finished: int) -> str:
    runs = "run" if finished == 1 else "runs"
    return f"predicted by auto from {metric} at {at:.0%}, {finished} finished {runs}, 80% conformal interval"


def signal_prediction(signal: Signal, curves: Sequence[Curve], at: float, *, mode: Mode, finished: int) -> Prediction:
    """The line's predicted finals with a conformal interval from its leave-one-out residuals."""
    return calibrated(
        curves,
        signal.predictions,
        signal.residuals,
        at=at,
        mode=mode,
        basis=signal_basis(signal.metric, at, finished),
        recenter=False,
    )
