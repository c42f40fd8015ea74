"""The predictor API: scikit-learn-like `fit` on finished runs, `predict` on partial ones.

A run's learning curve is a `Curve`: values observed at budget fractions in [0, 1]. Predictors
work for either direction (``mode="max"`` for accuracy, ``"min"`` for loss).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from foretune.keys import Mode, check_mode


@dataclass(frozen=True)
class Curve:
    """One run: `values[i]` observed at budget fraction `fractions[i]` (increasing, in [0, 1]).

    `extras` holds the run's other metrics (eval loss, train loss, ...), each aligned to
    `fractions` (NaN where a metric was not reported at that point). `history`: a finished run of an
    earlier study (`search.history`): it teaches a predictor how runs end, but an interval is calibrated
    on the study's own runs only (`AutoPredictor`), since another study's finals can sit on another level.
    """

    fractions: np.ndarray
    values: np.ndarray
    params: Mapping[str, float | int | str] = field(default_factory=dict)
    trial: str | int | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)
    history: bool = False

    def __post_init__(self) -> None:
        fractions = np.asarray(self.fractions, dtype=float)
        values = np.asarray(self.values, dtype=float)
        if fractions.shape != values.shape or fractions.ndim != 1:
            raise ValueError(f"trial {self.trial}: fractions and values must be 1-D and of equal length")
        extras = {str(k): np.asarray(v, dtype=float) for k, v in self.extras.items()}
        for name, series in extras.items():
            if series.shape != fractions.shape:
                raise ValueError(f"trial {self.trial}: extra metric {name!r} must have one value per fraction")
        order = np.argsort(fractions, kind="stable")
        object.__setattr__(self, "fractions", fractions[order])
        object.__setattr__(self, "values", values[order])
        object.__setattr__(self, "extras", {k: v[order] for k, v in extras.items()})

    def upto(self, at: float) -> Curve:
        """The part of the curve a study would have seen at budget fraction `at`."""
        keep = self.fractions <= at + 1e-9
        extras = {k: v[keep] for k, v in self.extras.items()}
        return replace(self, fractions=self.fractions[keep], values=self.values[keep], extras=extras)

    @property
    def final(self) -> float:
        """The last observed value (the final score of a finished run)."""
        return float(self.values[-1]) if len(self.values) else float("nan")


@dataclass(frozen=True)
class Prediction:
    """Predicted final value of each run, with an interval (`lower` <= `mean` <= `upper`).

    `predicted` False: too few finished runs to predict a final; `mean` is then a ranking, not a final (the
    score at the early fraction, or another signal's order) and `lower` = `upper` = `mean`. `basis` says in
    words what the numbers rest on; `finished_used` is how many finished runs calibrated them.
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    predicted: bool = True
    basis: str = ""
    finished_used: int = 0
    # Per run, its plausible finals (run x finished run): the prediction plus each out-of-sample error
    # (`calibration.plausible_finals`); None when no final was predicted.
    plausible: np.ndarray | None = None
    # The loss whose early value the predicted finals follow (a loss's line: monotone in it), or, with no final
    # predicted, the loss that ranks the runs; None where the objective's own values do. A study's predicted finals
    # are held to its order (`judged_order`).
    follows: str | None = None


class Predictor(abc.ABC):
    """Predicts each run's final value from its early curve.

    `fit(curves)` takes finished runs (possibly none: cold start) and returns self;
    `predict(curves, at)` uses each curve only up to fraction `at` and never returns NaN.
    """

    name: str = "base"

    def __init__(self, *, mode: Mode = "max") -> None:
        check_mode(mode)
        self.mode = mode

    def fit(self, curves: Sequence[Curve]) -> Predictor:
        return self

    @abc.abstractmethod
    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        """Predict the final value (fraction 1.0) of each curve from its points at fraction <= `at`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r})"


# --- helpers shared by the predictors -------------------------------------------------------------


def plain_params(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """`mapping` with plain Python values, so params print, compare and serialize simply.

    numpy scalars become their Python value; bool, int, float and str are kept; anything else
    (None, lists, objects) becomes its `str`.
    """
    return {key: plain_value(value) for key, value in mapping.items()}


def plain_value(value: Any) -> Any:
    """One value as `plain_params` makes it."""
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def check_at(at: float) -> float:
    """`at` is a budget fraction in (0, 1]."""
    at = float(at)
    if not 0.0 < at <= 1.0:
        raise ValueError(f"at must be a budget fraction in (0, 1], got {at}")
    return at


def sign(mode: Mode) -> float:
    """+1 when larger is better, -1 when smaller is better: `sign * value` always wants to go up."""
    return 1.0 if mode == "max" else -1.0


def observed(curve: Curve, at: float) -> tuple[np.ndarray, np.ndarray]:
    """The finite points of `curve` at fraction <= `at` (NaN / inf values count as missing)."""
    keep = (curve.fractions <= at + 1e-9) & np.isfinite(curve.values) & np.isfinite(curve.fractions)
    return curve.fractions[keep], curve.values[keep]


def final_value(curve: Curve) -> float:
    """The last finite value of a finished run (NaN when it has none)."""
    finite = np.isfinite(curve.values)
    return float(curve.values[finite][-1]) if finite.any() else float("nan")


def snapshot_values(curves: Sequence[Curve], at: float) -> np.ndarray:
    """The last finite value at fraction <= `at` of each curve (NaN when it has none)."""
    out = np.full(len(curves), np.nan)
    for i, curve in enumerate(curves):
        _, y = observed(curve, at)
        if len(y):
            out[i] = y[-1]
    return out


def fill_unobserved(
    curves: Sequence[Curve], mean: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, mode: Mode, at: float
) -> Prediction:
    """Replace the NaN predictions of runs with nothing to go on, so a Prediction never holds NaN.

    A run whose points before `at` are all NaN/inf has diverged: it gets the worst prediction of
    the others. A run with no point yet gets their median. Both get the widest interval.
    """
    mean, lower, upper = (np.asarray(a, dtype=float).copy() for a in (mean, lower, upper))
    missing = ~np.isfinite(mean)
    lower = np.where(np.isfinite(lower), np.minimum(lower, mean), mean)
    upper = np.where(np.isfinite(upper), np.maximum(upper, mean), mean)
    if missing.any():
        known = ~missing
        if known.any():
            worst = mean[known].min() if mode == "max" else mean[known].max()
            median = float(np.median(mean[known]))
            low, high = float(lower[known].min()), float(upper[known].max())
        else:
            worst = median = low = high = 0.0
        for i in np.flatnonzero(missing):
            seen = curves[i].fractions <= at + 1e-9
            mean[i] = worst if seen.any() else median
            lower[i], upper[i] = min(low, mean[i]), max(high, mean[i])
    return Prediction(mean=mean, lower=lower, upper=upper)
