"""An error rate predicted as the score it mirrors: the same curves, the same verdict.

An error rate (`val_error`, 1 - accuracy) carries what the accuracy does, but minimized it went through the rules
made for a loss (a loss's change as a ratio, a loss's line to its own final), which read a share badly: on the LoRA
curve sets reported as 1 - accuracy, `auto`'s Spearman was 0.840 against the accuracy's 0.872 (cold-5) and 0.899
against 0.940 (warm) on `lora_curves.csv`, 0.552 against 0.957 at cold-5 on the default job's set
(benchmarks/error_rate.py; verdict.md, round 42). The predictors read a score the same shifted, so the error rate
negated (accuracy - 1, maximized) gets the accuracy's verdict (to 1e-9 in the tests; the Gaussian process's
optimizer may move a warm Spearman by 0.003); the prediction is negated back, its interval's ends swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from foretune.predictors._base import Curve, Prediction, Predictor


def _negated(curve: Curve) -> Curve:
    return replace(curve, values=-curve.values)


class MirroredScore(Predictor):
    """`inner` (built for mode "max") fitted and predicting on the negated curves of a metric to minimize."""

    def __init__(self, inner: Predictor) -> None:
        super().__init__(mode="min")
        if inner.mode != "max":
            raise ValueError(f"the mirrored predictor maximizes the negated metric; got mode {inner.mode!r}")
        self.inner = inner
        self.name = inner.name

    def fit(self, curves: Sequence[Curve]) -> MirroredScore:
        self.inner.fit([_negated(c) for c in curves])
        return self

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        shown = self.inner.predict([_negated(c) for c in curves], at=at)
        plausible = None if shown.plausible is None else -shown.plausible
        return replace(shown, mean=-shown.mean, lower=-shown.upper, upper=-shown.lower, plausible=plausible)
