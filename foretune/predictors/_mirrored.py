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

from collections.abc import Callable, Sequence
from dataclasses import replace

from foretune.keys import Mode
from foretune.predictors._base import Curve, Prediction, Predictor
from foretune.predictors.calibration import curve_values, reads_as_error_rate


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


class ErrorRateByValues(Predictor):
    """A metric to minimize named neither a loss nor an error rate ("value", "objective"): predicted as the score it
    mirrors while every value seen (the finished runs' and the judged runs' points up to `at`) is in [0, `top`] (1;
    the upper end of a range given by hand), else as a loss (`calibration.reads_as_error_rate`). Decided at each
    prediction, on what a search has seen by then: a later value above `top` turns it into a loss. `build(mode)`
    makes the inner predictor."""

    def __init__(self, build: Callable[[Mode], Predictor], metric: str, top: float = 1.0) -> None:
        super().__init__(mode="min")
        self.build, self.metric, self.top = build, metric, float(top)
        self.read_as = (
            f"read as an error rate: every value in [0, {self.top:g}], named neither a loss nor an error rate"
        )
        self.name = build("min").name
        self.train: list[Curve] = []
        self.fitted: dict[bool, Predictor] = {}  # by reading: each fitted once, on the first prediction that needs it

    def fit(self, curves: Sequence[Curve]) -> ErrorRateByValues:
        self.train, self.fitted = list(curves), {}
        return self

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        seen = curve_values([*self.train, *(c.upto(at) for c in curves)])
        as_error_rate = reads_as_error_rate(seen, mode="min", metric=self.metric, top=self.top)
        if as_error_rate not in self.fitted:
            inner = MirroredScore(self.build("max")) if as_error_rate else self.build("min")
            self.fitted[as_error_rate] = inner.fit(self.train)
        shown = self.fitted[as_error_rate].predict(curves, at=at)
        return replace(shown, basis=f"{shown.basis} ({self.read_as})") if as_error_rate else shown
