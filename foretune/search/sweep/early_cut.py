"""Cut sweep runs short when the early-stage predictor already knows how they will end.

A sweep measures the final score of one training run per size. Every run reports its validation
curve at budget fractions; once the sweep has a few finished runs, the early-stage predictor
(`foretune.predictors`, fitted on those finished curves) predicts a new run's final validation
score from its early points. A run is stopped when, at its current budget fraction, (1) the
predictor's own 80% interval lies within `tolerance` of the prediction on both sides, and (2) a
conformal check agrees: the predictor, refitted without each finished run in turn, predicts that
run's final from the same fraction, and the ceil((k + 1) 0.8)-th smallest of those k errors (the
split-conformal 80% bound; with fewer than 4 finished runs it does not exist) is within `tolerance`.
A sweep has a handful of runs, and an interval from their error quantiles alone is too optimistic.
Running on would then tell the saturation fit little it does not know: the run is scored on the
test split as it stands, and its score is raised by the gain the predictor still expects (final -
now, on the validation curve). The run's compute is the fraction it trained.

Use it with `SaturationSweep(..., early_cut=EarlyCut(metric="accuracy", tolerance=0.005))`; each
run's trainer gets an `EarlyCutReporter` (the `Reporter` protocol of `foretune.trainers`). The
predictor is the sweep's own `late-gain` (`late_gain`) unless another is named; `auto` names it too,
since a sweep rarely has the 8 finished runs `auto`'s blend needs and below them `auto` shifts every
run by the same late gain, while a sweep's runs gain late in proportion to their level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from foretune.keys import Mode
from foretune.predictors import Curve, Predictor, get_predictor
from foretune.search.sweep.late_gain import LATE_GAIN, LateGainPredictor
from foretune.trainers.reporters import Decision

_END = 1.0 - 1e-9


@dataclass(frozen=True)
class Cut:
    """Where a run was stopped and what the predictor said of its final validation score."""

    fraction: float
    value: float  # validation score when stopped
    predicted: float  # predicted final validation score
    lower: float
    upper: float

    @property
    def remaining_gain(self) -> float:
        """What the run was still expected to gain (in the metric's units; negative for a loss)."""
        return self.predicted - self.value


class EarlyCutReporter:
    """The reporter of one sweep run: records its curve, and says stop when the prediction is tight."""

    def __init__(self, rule: EarlyCut, predictor: Predictor | None, tolerance: float) -> None:
        self.rule = rule
        self.predictor = predictor
        self.tolerance = tolerance
        self.fractions: list[float] = []
        self.values: list[float] = []
        self.cut: Cut | None = None

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        value = metrics.get(self.rule.metric)
        if value is None or not np.isfinite(value):
            return Decision.CONTINUE
        self.fractions.append(float(fraction))
        self.values.append(float(value))
        if self.predictor is None or fraction < self.rule.min_fraction or fraction >= _END:
            return Decision.CONTINUE
        prediction = self.predictor.predict([self.curve()], at=fraction)
        lower, upper = float(prediction.lower[0]), float(prediction.upper[0])
        tight = max(upper - prediction.mean[0], prediction.mean[0] - lower) <= self.tolerance
        if tight and self.rule.conformal_error(fraction) <= self.tolerance:
            self.cut = Cut(float(fraction), float(value), float(prediction.mean[0]), lower, upper)
            return Decision.STOP
        return Decision.CONTINUE

    def curve(self) -> Curve:
        return Curve(np.array(self.fractions), np.array(self.values))


class EarlyCut:
    """The sweep's early-stage rule: a predictor fitted on the sweep's finished runs, and a tolerance.

    Args:
        metric: the validation metric the runs report (the sweep's score).
        mode: "max" or "min".
        tolerance: cut a run when its predicted final lies within this much of both ends of the
            predictor's 80% interval and of the conformal bound (the metric's units; e.g. half the
            sweep's epsilon). `reporter(noise=...)` lowers it to the measurement noise of a run.
        predictor: `late-gain` (the default; `auto` means it too) or the name of another early-stage
            predictor (`foretune.predictors.PREDICTORS`).
        min_fraction: never cut before this budget fraction.
        min_finished: finished runs needed before any cut (the conformal check needs at least 4).
        level: coverage of the conformal check.
    """

    def __init__(
        self,
        *,
        metric: str,
        mode: Mode = "max",
        tolerance: float = 0.005,
        predictor: str = LATE_GAIN,
        min_fraction: float = 0.2,
        min_finished: int = 4,
        level: float = 0.8,
    ) -> None:
        if not (np.isfinite(tolerance) and tolerance > 0):
            raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
        if not 0 < min_fraction < 1:
            raise ValueError(f"min_fraction must be in (0, 1), got {min_fraction!r}")
        if min_finished < 0:
            raise ValueError(f"min_finished must be >= 0, got {min_finished!r}")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        self.predictor = LATE_GAIN if predictor in (LATE_GAIN, "auto") else predictor
        self.mode = mode
        self.metric = metric
        self._new_predictor()  # unknown names fail here, not mid-sweep
        self.tolerance = float(tolerance)
        self.min_fraction = float(min_fraction)
        self.min_finished = int(min_finished)
        self.level = float(level)
        self.finished: list[Curve] = []
        self._past_errors: dict[tuple[int, float], float] = {}

    def reporter(self, noise: float | None = None) -> EarlyCutReporter:
        """A reporter for the next run, with the predictor fitted on the runs finished so far.

        `noise`: how far a whole run's score is off the sweep's fitted curve anyway (its measurement
        noise). The tolerance is capped there: a predicted score further off than a measured one
        would be an outlier to the saturation fit, which reads its answer from small differences.
        """
        tolerance = self.tolerance if noise is None else min(self.tolerance, max(float(noise), 0.0))
        predictor = None
        if len(self.finished) >= self.min_finished and tolerance > 0:
            predictor = self._new_predictor().fit(self.finished)
        return EarlyCutReporter(self, predictor, tolerance)

    def _new_predictor(self) -> Predictor:
        if self.predictor == LATE_GAIN:
            return LateGainPredictor(mode=self.mode)
        return get_predictor(self.predictor, mode=self.mode, metric=self.metric)

    def conformal_error(self, fraction: float) -> float:
        """Split-conformal bound (at `level`) on the error of predicting a final from `fraction`.

        Leave-one-out over the finished runs; inf when there are too few for the bound to exist.
        """
        key = (len(self.finished), round(float(fraction), 9))
        if key not in self._past_errors:
            errors = []
            for i, curve in enumerate(self.finished):
                others = self.finished[:i] + self.finished[i + 1 :]
                predicted = self._new_predictor().fit(others).predict([curve], at=fraction)
                errors.append(abs(float(predicted.mean[0]) - curve.final))
            rank = math.ceil((len(errors) + 1) * self.level)
            self._past_errors[key] = sorted(errors)[rank - 1] if rank <= len(errors) else math.inf
        return self._past_errors[key]

    def learn(self, curve: Sequence[tuple[float, float]], *, cut: bool) -> None:
        """Record a run that ended, by its (fraction, score) curve: only a run that trained its whole budget and
        reported along the way teaches the predictor."""
        if not cut and len(curve) >= 2 and curve[-1][0] >= _END:
            fractions, values = zip(*curve, strict=True)
            self.finished.append(Curve(np.array(fractions, dtype=float), np.array(values, dtype=float)))
