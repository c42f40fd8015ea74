"""The predictor API: scikit-learn-like `fit` on finished runs, `predict` on partial ones.

A run's learning curve is a `Curve`: values observed at budget fractions in [0, 1]. Predictors
work for either direction (``mode="max"`` for accuracy, ``"min"`` for loss).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["max", "min"]


@dataclass(frozen=True)
class Curve:
    """One run: `values[i]` observed at budget fraction `fractions[i]` (increasing, in [0, 1])."""

    fractions: np.ndarray
    values: np.ndarray
    params: Mapping[str, float | int | str] = field(default_factory=dict)
    trial: str | int | None = None

    def __post_init__(self) -> None:
        fractions = np.asarray(self.fractions, dtype=float)
        values = np.asarray(self.values, dtype=float)
        if fractions.shape != values.shape or fractions.ndim != 1:
            raise ValueError(f"trial {self.trial}: fractions and values must be 1-D and of equal length")
        order = np.argsort(fractions, kind="stable")
        object.__setattr__(self, "fractions", fractions[order])
        object.__setattr__(self, "values", values[order])

    def upto(self, at: float) -> Curve:
        """The part of the curve a study would have seen at budget fraction `at`."""
        keep = self.fractions <= at + 1e-9
        return Curve(self.fractions[keep], self.values[keep], self.params, self.trial)

    @property
    def final(self) -> float:
        """The last observed value (the final score of a finished run)."""
        return float(self.values[-1]) if len(self.values) else float("nan")


@dataclass(frozen=True)
class Prediction:
    """Predicted final value of each run, with an interval (`lower` <= `mean` <= `upper`)."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def std(self) -> np.ndarray:
        # The interval is a central 80% interval; 2 * 1.2816 std wide for a normal.
        return (self.upper - self.lower) / (2 * 1.2816)


class Predictor(abc.ABC):
    """Predicts each run's final value from its early curve.

    `fit(curves)` takes finished runs (possibly none: cold start) and returns self;
    `predict(curves, at)` uses each curve only up to fraction `at` and never returns NaN.
    """

    name: str = "base"

    def __init__(self, *, mode: Mode = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.mode = mode

    def fit(self, curves: Sequence[Curve]) -> Predictor:
        return self

    @abc.abstractmethod
    def predict(self, curves: Sequence[Curve], at: float) -> Prediction:
        """Predict the final value (fraction 1.0) of each curve from its points at fraction <= `at`."""
