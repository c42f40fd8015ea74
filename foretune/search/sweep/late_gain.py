"""`late-gain`: the sweep's own early-stage predictor (the default of `EarlyCut`).

A sweep has a handful of finished runs, one per size, and they differ mostly in level: a run on
more data ends higher. Below 8 finished runs `auto` is `snapshot` moved by the finished runs'
median late gain (an additive shift), which errs by the spread of the finals when the late gain
grows with the level. This predictor moves the score at `at` by the finished runs' median late
gain either added (final - now) or multiplied (final / now, for positive scores only), whichever
predicts the finished runs better leave-one-out (mean absolute error), and takes its 80% interval
from the chosen form's residuals (split-conformal, `foretune.predictors.calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foretune.predictors import Curve, Prediction, SnapshotPredictor
from foretune.predictors._base import check_at, final_value, snapshot_values
from foretune.predictors.calibration import MIN_FINISHED, calibrated, early_ranking, predicted_basis

LATE_GAIN = "late-gain"


def loo_error(finals: np.ndarray, early: np.ndarray, *, proportional: bool) -> float:
    """Mean absolute error of each finished run's final predicted from the others' median late gain."""
    gains = np.log(finals / early) if proportional else finals - early
    errors = []
    for i in range(len(finals)):
        gain = float(np.median(np.delete(gains, i)))
        errors.append(finals[i] - (early[i] * np.exp(gain) if proportional else early[i] + gain))
    return float(np.mean(np.abs(errors)))


class LateGainPredictor(SnapshotPredictor):
    """The score at `at` moved by the finished runs' median late gain, additive (the snapshot rule) or
    proportional."""

    name = LATE_GAIN

    def __init__(self, *, mode="max") -> None:
        super().__init__(mode=mode)
        self.form: dict[float, str] = {}  # the form chosen at each fraction predicted from

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        train = self.trainable(at)
        if len(train) < MIN_FINISHED:
            return early_ranking(curves, at, mode=self.mode, finished=len(train))
        finals, early = np.array([final_value(c) for c in train]), snapshot_values(train, at)
        now = snapshot_values(curves, at)
        positive = bool(np.all(finals > 0) and np.all(early > 0) and np.all(now[np.isfinite(now)] > 0))
        if positive and loo_error(finals, early, proportional=True) < loo_error(finals, early, proportional=False):
            self.form[at] = "proportional"
            with np.errstate(invalid="ignore", divide="ignore"):
                raw = np.log(now)
            basis = predicted_basis(self.name, len(train))
            return calibrated(
                curves, raw, np.log(finals / early), at=at, mode=self.mode, basis=basis, recenter=True, back=np.exp
            )
        self.form[at] = "additive"
        return super().predict(curves, at)
