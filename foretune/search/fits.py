"""`CachedFit`: the early-stage predictor fitted on the finished runs, kept until a refit is due, and its
predictions on one scale (plain curves; no Ray, no Optuna). `evaluator.EarlyStageEvaluator` asks it for every
prediction a verdict rests on.

The first prediction of a fit at a new budget fraction is the slow part (the learned predictor's leave-one-out
errors for that fraction: 1.5 s with 60 finished runs on an idle 2-core machine, 0.16 s before round 13's Gaussian
process joined kernel ridge), so the fit is kept until enough new runs finished
(`refit_due`), and `warm` makes those first predictions when a run finishes, off the next judgement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from foretune.predictors._base import Curve, Prediction, Predictor
from foretune.predictors.calibration import Bounds, MetricRange, ReadRange, bounds_among, clip_to_bounds, curve_values

if TYPE_CHECKING:
    from foretune.config import SearchConfig

logger = logging.getLogger(__name__)

# Refit on every newly finished run while there are few; from then on once their number grew by a tenth (the
# first prediction of a fit computes leave-one-out errors: 1.5 s with 60 runs, 3 s with 100, on an idle machine).
_REFIT_EVERY_RUN_BELOW = 20
_REFIT_GROWTH = 1.1


def refit_due(fitted_on: int, finished: int) -> bool:
    """Whether a fit on `fitted_on` finished runs is stale now that `finished` runs have finished."""
    if finished == fitted_on:
        return False
    return fitted_on < _REFIT_EVERY_RUN_BELOW or finished >= fitted_on * _REFIT_GROWTH


def range_of(metric_range: MetricRange, curves: Sequence[Curve]) -> Bounds | None:
    """The bounds `metric_range` sets for predictions among `curves` (a `ReadRange` reads them from their values)."""
    return bounds_among(metric_range, curve_values(curves))


def search_range(search: SearchConfig) -> MetricRange:
    """`search.metric_range` for the evaluator: the range given, None for "none"; for "auto" the range read from the
    values (`ReadRange`), the built-in task's range of the metric's name (`trainers.tasks.metric_bounds`) first."""
    from foretune.trainers.tasks import metric_bounds

    if search.metric_range == "none":
        return None
    if search.metric_range != "auto":
        return tuple(search.metric_range)
    return ReadRange(search.metric, search.mode, metric_bounds(search.metric))


class CachedFit:
    """One fit of `make_predictor()` per number of finished runs (as `refit_due` says); predictions clipped into
    the metric's range (`bounds`: accuracy 0..1, or a `ReadRange`) when given."""

    def __init__(self, make_predictor: Callable[[], Predictor], bounds: MetricRange = None) -> None:
        self.make_predictor = make_predictor
        self.bounds = bounds
        self.fitted_on: int | None = None  # how many finished runs the kept fit learned from
        self._predictor: Predictor | None = None

    def predictor(self, finished: Sequence[Curve]) -> Predictor:
        """The predictor fitted on `finished`, refitted only when a refit is due (the early curves of judged trials
        do not change the fit, so judgements between refits are cheap)."""
        if self._predictor is None or self.fitted_on is None or refit_due(self.fitted_on, len(finished)):
            self._predictor = self.make_predictor().fit(list(finished))
            self.fitted_on = len(finished)
        return self._predictor

    def warm(self, finished: Sequence[Curve], fractions: Sequence[float]) -> None:
        """Refit now if a fit was made before and a refit is due, and make the fit's first prediction at each of
        `fractions`; the next judgement uses the same fit, so no verdict changes."""
        if self.fitted_on is None or not finished or not refit_due(self.fitted_on, len(finished)):
            return
        try:
            predictor = self.predictor(finished)
            for fraction in fractions:
                predictor.predict([finished[0].upto(fraction)], at=fraction)
        except Exception:  # a failing predictor is logged, and answered by early scores, at the judgement
            logger.debug("warming the early-stage predictor failed", exc_info=True)

    def finals(self, finished: Sequence[Curve], ranked: list[Curve], reached: float) -> Prediction:
        """The prediction for each `ranked` curve seen up to `reached`, all from one fit (one scale): predicted
        finals with calibrated intervals in the metric's range, or, with too few finished runs, early scores.
        Raises on a non-finite prediction for the first curve (the one judged)."""
        prediction = self.predictor(finished).predict(ranked, at=reached)
        # Its plausible finals too: the probability rule's.
        prediction = clip_to_bounds(prediction, range_of(self.bounds, [*finished, *ranked]))
        mean, lower, upper = (np.asarray(a, dtype=float) for a in (prediction.mean, prediction.lower, prediction.upper))
        if not np.all(np.isfinite([mean[0], lower[0], upper[0]])):
            raise ValueError(f"non-finite prediction {mean[0]} [{lower[0]}, {upper[0]}]")
        return prediction
