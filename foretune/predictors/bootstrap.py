"""Bootstrap intervals of test metrics: resample the scored items, re-score with the task's own `score`.

A percentile bootstrap over test items (`scipy.stats.bootstrap`): each replicate draws as many items
as were scored, with replacement, and hands them with their predictions to the same `score` function
that produced the point estimate, so any metric a task reports gets an interval (a task.metric_fn's by the
user's function: `item_intervals`). A metric a replicate cannot compute (NaN: e.g. no non-null label drawn) is left
out of that metric's percentiles.

Pure numpy / scipy: the items and predictions are opaque objects passed back to `score`.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from foretune.keys import CI_HIGH_SUFFIX, CI_LOW_SUFFIX, ITEMS_KEY

Score = Callable[[list[Any], list[Any]], Mapping[str, float]]

# Below this many test items an interval is wide enough that the report says so in words.
SMALL_TEST_ITEMS = 100


@dataclass(frozen=True)
class Interval:
    """A metric's point estimate on all items and its bootstrap interval."""

    estimate: float
    low: float
    high: float
    n_items: int
    confidence: float = 0.95

    @property
    def width(self) -> float:
        return self.high - self.low


def interval_metrics(scores: Mapping[str, Any]) -> list[str]:
    """The headline metrics of a task's scores: numbers, no counts (n_*), no per-field breakdowns (a/b)."""
    return [
        name
        for name, value in scores.items()
        if "/" not in name
        and not name.startswith("n_")
        and isinstance(value, (int, float))
        and math.isfinite(float(value))
    ]


def _paired_lists(items: Sequence[Any], predictions: Sequence[Any]) -> tuple[list, list]:
    """Items and their predictions as lists, one prediction per item (else ValueError)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(items)} items but {len(predictions)} predictions: one prediction per item")
    return list(items), list(predictions)


def bootstrap_intervals(
    score: Score,
    items: Sequence[Any],
    predictions: Sequence[Any],
    *,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile-bootstrap intervals of `score(items, predictions)`'s metrics, over the items.

    `metrics` defaults to `interval_metrics` of the full-sample scores. Fewer than 2 items give no
    interval (an empty dict): one item cannot be resampled into anything but itself.
    """
    items, predictions = _paired_lists(items, predictions)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    full = score(items, predictions)
    names = list(metrics) if metrics is not None else interval_metrics(full)
    if len(items) < 2 or not names:
        return {}

    def statistic(index: np.ndarray) -> np.ndarray:
        picked = index.astype(int)
        scores = score([items[i] for i in picked], [predictions[i] for i in picked])
        return np.array([float(scores.get(name, math.nan)) for name in names])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant metric (all right) is a degenerate distribution: fine here
        result = stats.bootstrap(
            (np.arange(len(items)),),
            statistic,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    replicates = np.atleast_2d(result.bootstrap_distribution)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for row, name in enumerate(names):
        values = replicates[row][np.isfinite(replicates[row])]
        estimate = float(full.get(name, math.nan))
        if not len(values) or not math.isfinite(estimate):
            continue
        low, high = np.percentile(values, [tail, 100 - tail])
        out[name] = Interval(estimate, float(low), float(high), len(items), confidence)
    return out


def flat_intervals(intervals: Mapping[str, Interval]) -> dict[str, float]:
    """`{metric + CI_LOW_SUFFIX: low, metric + CI_HIGH_SUFFIX: high}`: for JSON files and trial attributes."""
    flat = {}
    for name, interval in intervals.items():
        flat[name + CI_LOW_SUFFIX] = interval.low
        flat[name + CI_HIGH_SUFFIX] = interval.high
    return flat


def read_intervals(flat: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The (low, high) pairs in a mapping written with `flat_intervals` (other keys ignored)."""
    pairs = {}
    for key, low in flat.items():
        if key.endswith(CI_LOW_SUFFIX):
            name = key.removesuffix(CI_LOW_SUFFIX)
            high = flat.get(name + CI_HIGH_SUFFIX)
            if isinstance(low, (int, float)) and isinstance(high, (int, float)):
                pairs[name] = (float(low), float(high))
    return pairs


def small_test_note(metric: str, n_items: int, low: float, high: float, *, confidence: float = 0.95) -> str | None:
    """One plain sentence on what a small test split's interval means; None from SMALL_TEST_ITEMS items up."""
    if n_items >= SMALL_TEST_ITEMS:
        return None
    if high - low < 1e-9:  # every resample scored alike (e.g. all wrong): no spread to show, yet no certainty
        return (
            f"The test split has only {n_items} items and every resample scored {metric} {low:.2f}, so its "
            f"{confidence:.0%} interval has no width; that is not certainty: with {n_items} items a share can "
            f"still be off by up to {1 - 0.05 ** (1 / n_items):.2f} (95%: 1 - 0.05^(1/{n_items}), about 3/{n_items} "
            "for many items, the rule of three)."
        )
    return (
        f"The test split has only {n_items} items: the {confidence:.0%} interval of {metric} is "
        f"{high - low:.2f} wide ({low:.2f} to {high:.2f}), so two models whose {metric} differ by less "
        f"than that may not really differ; score more test items (or use data.test_folds) to tell them apart."
    )


def mean_and_standard_error(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample std / sqrt(k)) of per-fold scores; NaN error with one value."""
    array = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if not len(array):
        return math.nan, math.nan
    error = float(array.std(ddof=1) / math.sqrt(len(array))) if len(array) > 1 else math.nan
    return float(array.mean()), error


# A metric slower than this for all its resamples (a user's metric_fn calling a model, say) gets none: they would
# add minutes to every completed trial for an interval or a report line.
DRAWS_BUDGET_S = 15.0


def item_intervals(
    scores: Mapping[str, float],
    score: Score,
    items: Sequence[Any],
    predictions: Sequence[Any],
    *,
    user_score: Score | None = None,
    budget_s: float = DRAWS_BUDGET_S,
    **options: Any,
) -> dict[str, Interval]:
    """Bootstrap intervals of the headline metrics in `scores`: the task's own re-scored by `score`, the metrics
    `user_score` gives (a task.metric_fn's, which `scores` carries beside the task's) by it.

    The user's metrics get none where their full-sample call says the resamples would take longer than `budget_s`;
    the task's keep theirs.
    """
    names = interval_metrics(scores)
    user_names: list[str] = []
    fast_enough = False
    if user_score is not None and len(items) >= 2:
        started = time.perf_counter()
        user_names = [name for name in user_score(list(items), list(predictions)) if name in names]
        resamples = options.get("n_resamples", 1000)
        fast_enough = (time.perf_counter() - started) * resamples <= budget_s
    own = [name for name in names if name not in user_names]
    intervals = bootstrap_intervals(score, items, predictions, metrics=own, **options)
    if user_names and fast_enough:
        intervals |= bootstrap_intervals(user_score, items, predictions, metrics=user_names, **options)
    return intervals


def with_intervals(
    scores: Mapping[str, float],
    score: Score,
    scored: tuple[Sequence[Any], Sequence[Any]] | None,
    *,
    user_score: Score | None = None,
    **options: Any,
) -> dict[str, float]:
    """`scores` plus the flat `item_intervals` of its headline metrics, re-scored from `scored` = (items,
    predictions), and ITEMS_KEY: how many items were scored.

    Without `scored` (a trainer that keeps no predictions) the scores come back unchanged.
    """
    if not scored:
        return dict(scores)
    intervals = item_intervals(scores, score, scored[0], scored[1], user_score=user_score, **options)
    return {**scores, **flat_intervals(intervals), ITEMS_KEY: float(len(scored[0]))}


# Draws per completed trial: a 90% range of a rank correlation over ~10 trials settles within a few hundredths.
FINAL_DRAWS = 200


def paired_draws(
    score: Score,
    items: Sequence[Any],
    predictions: Sequence[Any],
    metric: str,
    *,
    draws: int = FINAL_DRAWS,
    budget_s: float = DRAWS_BUDGET_S,
) -> list[float]:
    """`metric` re-scored on `draws` resamples of the items (with replacement): one seed, so every run scored on
    the same items draws the same resamples, and two runs' draws are paired (draw b of each is scored on the same
    items): their differences are what the items' luck does to them. Empty where a draw cannot score `metric`
    (not among `score`'s metrics, or NaN), with fewer than 2 items, or where the first draw's time says all of
    them would take longer than `budget_s`."""
    items, predictions = _paired_lists(items, predictions)
    if len(items) < 2:
        return []
    values = []
    started = time.perf_counter()
    for row in np.random.default_rng(0).integers(0, len(items), size=(draws, len(items))):
        value = score([items[i] for i in row], [predictions[i] for i in row]).get(metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return []
        if not values and (time.perf_counter() - started) * draws > budget_s:
            return []
        values.append(float(value))
    return values


def items_fingerprint(items: Sequence[Any]) -> str:
    """ "<count>:<hash of the items in order>": paired draws compare only runs scored on the same items."""
    digest = hashlib.sha256(repr(list(items)).encode()).hexdigest()[:16]
    return f"{len(items)}:{digest}"
