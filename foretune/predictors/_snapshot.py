"""`snapshot`: the seed paper's rule, the last value seen so far is the final value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import (
    Curve,
    Prediction,
    Predictor,
    check_at,
    final_value,
    observed,
    snapshot_values,
)
from foretune.predictors.calibration import MIN_FINISHED, calibrated, early_ranking, predicted_basis


class SnapshotPredictor(Predictor):
    """Ranks runs by their last observed value (the baseline to beat).

    With at least `calibration.MIN_FINISHED` finished runs it predicts a final: that value moved by
    the finished runs' median change after `at`, with a conformal interval from those changes.
    With fewer it only ranks (`Prediction.predicted` False).
    """

    name = "snapshot"

    def __init__(self, *, mode: Mode = "max") -> None:
        super().__init__(mode=mode)
        self._finished: list[Curve] = []

    def fit(self, curves: Sequence[Curve]) -> SnapshotPredictor:
        self._finished = [c for c in curves if np.isfinite(final_value(c))]
        return self

    def trainable(self, at: float) -> list[Curve]:
        """The finished runs with a point at or before `at` (those a prediction from `at` can learn from)."""
        return [c for c in self._finished if len(observed(c, at)[1])]

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        train = self.trainable(at)
        if len(train) < MIN_FINISHED:
            return early_ranking(curves, at, mode=self.mode, finished=len(train))
        return self.predict_from(train, curves, at)

    def predict_from(
        self, train: Sequence[Curve], curves: Sequence[Curve], at: float, *, deviations: np.ndarray | None = None
    ) -> Prediction:
        """The rule fit on `train` (>= `MIN_FINISHED` runs): early values moved by their median change, with a
        conformal interval (`deviations`: see `calibration.conformal_band`)."""
        residuals = np.array([final_value(c) for c in train]) - snapshot_values(train, at)
        return calibrated(
            curves,
            snapshot_values(curves, at),
            residuals,
            at=at,
            mode=self.mode,
            basis=predicted_basis(self.name, len(train)),
            recenter=True,
            deviations=deviations,
        )
