"""Calibrated 80% intervals (split-conformal) and the honest cold start shared by the predictors.

Every predictor measures its own out-of-sample errors on the study's finished runs (`final -
prediction`, each run predicted without its own final: leave-one-out, or no fit at all for the
ranking rules) and turns them into an interval by split-conformal prediction: the interval is
the prediction plus the residuals' `ceil((n + 1) * level)`-th smallest deviation (each from the
median of the other residuals), which covers a new exchangeable run with probability >= `level`
whatever the predictor. With few residuals that is the largest one; with fewer than
`ceil((n + 1) * level)` of them it is a wide prior band (the largest deviation, doubled). From
`ASYMMETRIC_FROM` runs on, both tails are taken separately
(learning curves move more one way than the other).

With fewer than `MIN_FINISHED` finished runs there is nothing to predict a final from: the
predictors rank by the score at the early fraction and say so (`Prediction.predicted` False).

A metric with a known range (an accuracy in [0, 1]) gets its predictions and intervals clipped into
it (`clip_to_bounds`); `value_range` infers that range where no task or setting says so (`foretune rank`, a search
of your own training code, the benchmarks): [0, 1] for a score with every value seen in [0, 1], [0, 100] for one
named as a share (accuracy, F1, BLEU) with every value in [0, 100], 0 and up for a loss or an error rate named so,
[0, 1] for a share to minimize under another name (`reads_as_error_rate`).

The same residuals give each run's *plausible finals* (`Prediction.plausible`: its prediction plus
each residual), from which `probability_better` computes the chance that its final beats a given
value (the early-stage probability rule stops trials on it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import special, stats

from foretune.keys import Mode
from foretune.predictors._base import Curve, Prediction, fill_unobserved, snapshot_values
from foretune.predictors.metric_names import is_error_rate, is_loss, is_read_by_values, is_share

MIN_FINISHED = 3  # finished runs needed before any final is predicted
ASYMMETRIC_FROM = 20  # finished runs from which each tail gets its own conformal quantile
PRIOR_WIDENING = 2.0  # the band while too few residuals make a conformal quantile: largest x 2
LEVEL = 0.8
Bounds = tuple[float | None, float | None]  # a metric's range; None for an open side


def cold_basis(finished: int) -> str:
    """What a ranking without a predicted final was based on (shown in reports and attributes)."""
    runs = "run" if finished == 1 else "runs"
    return f"ranked by early score; {finished} finished {runs}, no final predicted"


def predicted_basis(name: str, finished: int) -> str:
    runs = "run" if finished == 1 else "runs"
    return f"predicted by {name} from {finished} finished {runs}, 80% conformal interval"


def early_ranking(curves: Sequence[Curve], at: float, *, mode: Mode, finished: int) -> Prediction:
    """No final predicted: the score at `at` ranks the runs; its 'interval' is the point itself."""
    score = snapshot_values(curves, at)
    filled = fill_unobserved(curves, score, score, score, mode=mode, at=at)
    return Prediction(
        filled.mean,
        filled.mean.copy(),
        filled.mean.copy(),
        predicted=False,
        basis=cold_basis(finished),
        finished_used=finished,
    )


def conformal_band(
    residuals: np.ndarray, *, level: float = LEVEL, deviations: np.ndarray | None = None
) -> tuple[float, float, float]:
    """(center shift, lower offset, upper offset) from out-of-sample residuals `final - prediction`.

    Below `ASYMMETRIC_FROM` runs: symmetric around the residuals' median, each residual's deviation
    taken from the median of the *other* residuals (a new run's residual is not part of the median it
    is measured from; with 3-7 finished runs the plain deviations covered 0.70-0.80 of finals on the
    design sets, these 0.78-0.84: benchmarks/results/verdict.md); above: each tail's own conformal
    quantile (level split evenly). Needs at least one finite residual. `deviations` (below
    `ASYMMETRIC_FROM` runs): the held-out deviations to cut the width from, where the caller measured
    them more honestly than `held_out_deviations` can (a rule chosen on the same runs: `_auto`).
    """
    r = np.sort(np.asarray(residuals, dtype=float)[np.isfinite(residuals)])
    n = len(r)
    if n == 0:
        raise ValueError("conformal_band needs at least one finite residual")
    center = float(np.median(r))
    if n >= ASYMMETRIC_FROM:
        tail = (1.0 - level) / 2
        low = r[max(math.floor((n + 1) * tail) - 1, 0)]
        high = r[min(math.ceil((n + 1) * (1 - tail)) - 1, n - 1)]
        return center, float(min(low, center)), float(max(high, center))
    given = np.array([]) if deviations is None else _finite(deviations)
    deviation = np.sort(given if len(given) else held_out_deviations(r))
    k = math.ceil((len(deviation) + 1) * level)
    width = float(deviation[k - 1]) if k <= len(deviation) else PRIOR_WIDENING * float(deviation[-1])
    return center, center - width, center + width


def held_out_deviations(residuals: np.ndarray) -> np.ndarray:
    """|r_i - median of the others| per residual (|r_i - r_i| = 0 when there is only one)."""
    r = np.asarray(residuals, dtype=float)
    if len(r) < 2:
        return np.zeros(len(r))
    return np.array([abs(x - np.median(np.delete(r, i))) for i, x in enumerate(r)])


def calibrated(
    curves: Sequence[Curve],
    raw: np.ndarray,
    residuals: np.ndarray,
    *,
    at: float,
    mode: Mode,
    basis: str,
    recenter: bool,
    back: Callable[[np.ndarray], np.ndarray] = lambda v: v,
    deviations: np.ndarray | None = None,
) -> Prediction:
    """The prediction `raw` (in the space the residuals were measured in) with its conformal
    interval, mapped back by `back`. `recenter` moves the mean by the residuals' median: for a
    ranking rule (the score at `at` is not a final) that puts it on the scale of real finals.
    `deviations`: see `conformal_band`."""
    center, low, high = conformal_band(residuals, deviations=deviations)
    mean = raw + (center if recenter else 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        values = back(mean), back(raw + low), back(raw + high)
        plausible = back(np.asarray(raw, dtype=float)[:, None] + _finite(residuals)[None, :])
    filled = fill_unobserved(curves, *values, mode=mode, at=at)
    n = int(np.isfinite(residuals).sum())
    return Prediction(
        filled.mean, filled.lower, filled.upper, predicted=True, basis=basis, finished_used=n, plausible=plausible
    )


def calibrated_on_own_runs(
    curves: Sequence[Curve],
    raw: np.ndarray,
    residuals: np.ndarray,
    train: Sequence[Curve],
    *,
    at: float,
    mode: Mode,
    basis: str,
) -> Prediction | None:
    """With runs of earlier studies (`Curve.history`) among the finished runs `train` and at least `MIN_FINISHED`
    of the study's own: `raw` with its band cut from the own runs' `residuals` alone, moved by their median (only
    they are exchangeable with the runs it judges; another study's finals can sit on another level, and a shift
    common to every run leaves the ranking as it was). None where every run is the study's own, or too few are
    (`AutoPredictor.predict` then predicts no final)."""
    own = np.array([not c.history for c in train])
    if own.all() or own.sum() < MIN_FINISHED:
        return None
    basis = f"{basis} on this study's {int(own.sum())}"
    prediction = calibrated(curves, raw, residuals[own], at=at, mode=mode, basis=basis, recenter=True)
    return replace(prediction, finished_used=len(train))


def reads_as_error_rate(values: np.ndarray, *, mode: Mode, metric: str | None, top: float = 1.0) -> bool:
    """Whether a metric is predicted as the score it mirrors (`_mirrored`): one to minimize named an error rate
    (`metric_names.is_error_rate`: "val_error"), or named, neither a loss nor an error rate ("value", a `foretune
    rank` file's default column; "objective"), with every finite value seen in [0, `top`] (1; a range given by hand
    with an upper end, [0, 100], sets it): a share to minimize, an error rate under another name. Read as a loss,
    1 - accuracy ranked 0.55 against 0.96 on the default job's curves at cold-5, and its cold-0 80% intervals
    covered 45-88% of finals (round 43, benchmarks/error_rate.py). A loss or a cost, time or size named so is never
    one (`metric_names.is_read_by_values`); without a name (None) the metric reads as a loss, as before."""
    if mode != "min" or metric is None:
        return False
    if is_error_rate(metric):  # by its name (never a loss's)
        return True
    if not is_read_by_values(metric):  # a loss; a cost, a time, a size: small values are no share
        return False
    values = _finite(values)
    return bool(len(values)) and values.min() >= 0 and values.max() <= top


def share_top(given: Bounds | None) -> float:
    """The upper end a share to minimize under another name is read within (`reads_as_error_rate`'s `top`): that of
    a range given by hand ([0, 100]: an error rate in percent), else 1."""
    return given[1] if given is not None and given[1] is not None else 1.0


def value_range(values: np.ndarray, *, mode: Mode, metric: str | None = None) -> Bounds | None:
    """The range a metric's predictions are clipped into, read from its finite `values` and its name: (0, 1) where
    mode is "max" and every value is in [0, 1] (an accuracy); (0, 100) where `metric` names a share
    (`metric_names.is_share`: "accuracy", "val_acc", "f1", "bleu") and every value is in [0, 100] (the same in
    percent); (0, None) where mode is "min", `metric` names a loss (`metric_names.is_loss`) or an error rate
    (`metric_names.is_error_rate`: "val_error", "top1_err", "eval_wer") and no value is below 0
    (a cross-entropy, an MSE: 0 and up); (0, 1) for one to minimize read as an error rate by its values
    (`reads_as_error_rate`: named neither, every value in [0, 1]: a share, the range its mirror is clipped to); else
    None. Unclipped, an 80% interval reached -18% for an accuracy in percent and below 0 for up to one eval loss in
    six (benchmarks/metric_scale.py). An error rate named so may exceed 1 (a WER passes 100%): no upper bound."""
    values = _finite(values)
    if not len(values) or values.min() < 0:
        return None
    if mode == "min":
        if metric is not None and (is_loss(metric) or is_error_rate(metric)):
            return (0.0, None)
        # A share to minimize by its values alone is read as one while every value is in [0, 1]: so is its range.
        return (0.0, 1.0) if reads_as_error_rate(values, mode=mode, metric=metric) else None
    if values.max() <= 1:
        return (0.0, 1.0)
    return (0.0, 100.0) if metric is not None and is_share(metric) and values.max() <= 100 else None


def curve_values(curves: Sequence[Curve]) -> np.ndarray:
    """Every value of `curves`, in one array (empty without curves)."""
    return np.concatenate([np.asarray(c.values, dtype=float) for c in curves]) if curves else np.array([])


def curves_range(curves: Sequence[Curve], *, mode: Mode, metric: str | None = None) -> Bounds | None:
    """`value_range` of every value of `curves`."""
    return value_range(curve_values(curves), mode=mode, metric=metric)


@dataclass(frozen=True)
class ReadRange:
    """A metric's range read from the values seen so far: `known` (the built-in task's range of that name) while
    every value fits it, else `value_range` of the values and the name ([0, 1] for a score with every value in
    [0, 1], [0, 100] for a share named so, 0 and up for a loss or an error rate named so, [0, 1] for a share to
    minimize under another name). A trainable of your own,
    or a task's `metric_fn`, may report an `accuracy` in percent: clipped to the task's [0, 1], every prediction would
    read 1. Read by `bounds_among` (the evaluator's curves, a saturation fit's scores)."""

    metric: str | None
    mode: Mode
    known: Bounds | None = None

    def of_values(self, values: np.ndarray) -> Bounds | None:
        values = _finite(values)
        return self.known if self._fits(values) else value_range(values, mode=self.mode, metric=self.metric)

    def _fits(self, values: np.ndarray) -> bool:
        """Every value inside `known` (and one at least)."""
        return self.known is not None and bool(len(values)) and not len(outside_range(values, self.known))


MetricRange = Bounds | ReadRange | None  # a range given, one read from the values, or none


def bounds_among(metric_range: MetricRange, values: np.ndarray) -> Bounds | None:
    """The bounds `metric_range` sets among `values`: a `ReadRange` reads them from the values; a range given (or
    None) is itself."""
    return metric_range.of_values(values) if isinstance(metric_range, ReadRange) else metric_range


def range_text(bounds: Bounds) -> str:
    """A range as `[LOW, HIGH]`, an open side as -inf / inf."""
    low, high = (f"{v:g}" if v is not None else end for v, end in zip(bounds, ("-inf", "inf"), strict=True))
    return f"[{low}, {high}]"


def outside_range(values: np.ndarray, bounds: Bounds) -> np.ndarray:
    """The finite `values` outside `bounds` (a range given by hand that the values show is not the metric's)."""
    values, (low, high) = _finite(values), bounds
    outside = np.zeros(len(values), dtype=bool)
    if low is not None:
        outside |= values < low
    if high is not None:
        outside |= values > high
    return values[outside]


def clip_to_bounds(prediction: Prediction, bounds: Bounds | None) -> Prediction:
    """`prediction` with its predicted finals, interval and plausible finals clipped into `bounds` (low, high;
    None for an open side: a loss is 0 and up); unchanged when `bounds` is None or no final was predicted (the early
    scores are observed values, inside the range already)."""
    if bounds is None or bounds == (None, None) or not prediction.predicted:
        return prediction
    low, high = bounds
    if low is not None and high is not None and not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
    arrays = (prediction.mean, prediction.lower, prediction.upper)
    mean, lower, upper = (np.clip(np.asarray(a, dtype=float), low, high) for a in arrays)
    plausible = None if prediction.plausible is None else np.clip(prediction.plausible, low, high)
    return replace(prediction, mean=mean, lower=lower, upper=upper, plausible=plausible)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def probability_better(
    plausible: np.ndarray, threshold: float, *, mode: Mode, shape: str = "kde", conformal: bool = False
) -> float:
    """P(a run's final is better than `threshold`) from its plausible finals (its prediction plus each
    finished run's out-of-sample error: `Prediction.plausible`, what the conformal interval is cut from).

    `shape="kde"` (default): the values themselves, each smoothed by a normal kernel of Silverman's
    bandwidth, so that a handful of errors gives a graded probability rather than 0 or 1; it keeps
    their skew and is not widened by one wild error (the bandwidth is robust).
    `shape="student"`: the predictive distribution of one more draw from those n values, Student-t
    with n - 1 degrees of freedom around their mean, scale sd * sqrt(1 + 1/n) (exact for normal
    errors; one wild error widens it for every run). On scan-bench's tuning seeds it stopped trials
    later for no gain in regret (benchmarks/results/search.md). NaN when nothing was predicted.

    `conformal=True` is honest about how few errors were measured: a new run's error lies beyond all n
    measured ones with chance 1 / (n + 1), so the probability is (n p + 1) / (n + 1), never below
    1 / (n + 1) (with 4 finished runs no trial can be given less than 20%).
    """
    x = _finite(plausible)
    if len(x) == 0:
        return float("nan")
    if conformal:
        p = probability_better(x, threshold, mode=mode, shape=shape)
        return (len(x) * p + 1) / (len(x) + 1)
    sign = 1.0 if mode == "max" else -1.0
    if shape == "student":
        n = len(x)
        sd = float(np.std(x, ddof=1)) if n > 1 else 0.0
        gap = sign * (float(np.mean(x)) - threshold)  # > 0: the centre beats the threshold
        if sd <= 0:
            return float(gap > 0)
        return float(stats.t.cdf(gap / (sd * np.sqrt(1 + 1 / n)), df=n - 1))
    if shape != "kde":
        raise ValueError(f"shape must be 'student' or 'kde', got {shape!r}")
    gap = sign * (x - threshold)  # > 0: this plausible final beats the threshold
    bandwidth = silverman_bandwidth(x)
    if bandwidth <= 0:
        return float(np.mean(gap > 0))
    return float(np.mean(special.ndtr(gap / bandwidth)))


def silverman_bandwidth(x: np.ndarray) -> float:
    """0.9 min(sd, IQR / 1.34) n^(-1/5) (the sd alone when the IQR is 0): Silverman's rule of thumb."""
    if len(x) < 2:
        return 0.0
    sd = float(np.std(x, ddof=1))
    iqr = float(np.subtract(*np.percentile(x, [75, 25]))) / 1.34
    spread = min(sd, iqr) if iqr > 0 else sd
    return 0.9 * spread * len(x) ** -0.2
