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
    fill_unobserved,
    final_value,
    observed,
    residual_quantiles,
    snapshot_values,
)


class SnapshotPredictor(Predictor):
    """Predicts each run's final value as its last observed value (the baseline to beat).

    The interval comes from how far finished runs moved after `at` (their residual quantiles);
    with no finished runs it spans the run's own last step, a crude cold-start guess.
    """

    name = "snapshot"

    def __init__(self, *, mode: Mode = "max") -> None:
        super().__init__(mode=mode)
        self._finished: list[Curve] = []

    def fit(self, curves: Sequence[Curve]) -> SnapshotPredictor:
        self._finished = list(curves)
        return self

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        mean = snapshot_values(curves, at)
        band = residual_quantiles(
            snapshot_values(self._finished, at), np.array([final_value(c) for c in self._finished])
        )
        if band is not None:
            lower, upper = mean + band[0], mean + band[1]
        else:
            step = np.array([_last_step(c, at) for c in curves])
            lower, upper = mean - step, mean + step
        return fill_unobserved(curves, mean, lower, upper, mode=self.mode, at=at)


def _last_step(curve: Curve, at: float) -> float:
    _, y = observed(curve, at)
    return float(abs(y[-1] - y[-2])) if len(y) >= 2 else 0.0
