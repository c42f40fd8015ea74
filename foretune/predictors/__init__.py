"""Predict at a fraction of a run's budget how it will end, and rank runs by it; data saturation.

Curve predictors (snapshot, curve, learned, auto), the cold-start prior learned from public curves
(`prior`, package data `prior_scan_bench.json`), ranking metrics, long-table readers and the
`saturation` subpackage. Imports numpy / scipy / pandas and `foretune.keys` / `foretune.errors`
only: never torch, ray or optuna.

    >>> from foretune.predictors import get_predictor
    >>> predictor = get_predictor("auto", mode="min").fit(finished_curves)
    >>> prediction = predictor.predict(partial_curves, at=0.2)  # .mean, .lower, .upper
"""

from typing import TYPE_CHECKING

# name -> submodule that defines it, imported on first use (PEP 562): `import foretune.predictors.bootstrap`
# (a completed trial's test intervals) then loads that module and its imports, not every predictor.
_LAZY = {
    "AutoPredictor": "_auto",
    "CURVE_FAMILIES": "_curve",
    "Curve": "_base",
    "CurvePredictor": "_curve",
    "LearnedPredictor": "_learned",
    "PREDICTORS": "_registry",
    "Prediction": "_base",
    "Predictor": "_base",
    "PriorPredictor": "prior",
    "SnapshotPredictor": "_snapshot",
    "get_predictor": "_registry",
    "plain_params": "_base",
}
__all__ = [
    "AutoPredictor",
    "CURVE_FAMILIES",
    "Curve",
    "CurvePredictor",
    "LearnedPredictor",
    "PREDICTORS",
    "Prediction",
    "Predictor",
    "PriorPredictor",
    "SnapshotPredictor",
    "get_predictor",
    "metrics",
    "plain_params",
]

if TYPE_CHECKING:
    from foretune.predictors import metrics
    from foretune.predictors._auto import AutoPredictor
    from foretune.predictors._base import Curve, Prediction, Predictor, plain_params
    from foretune.predictors._curve import CURVE_FAMILIES, CurvePredictor
    from foretune.predictors._learned import LearnedPredictor
    from foretune.predictors._registry import PREDICTORS, get_predictor
    from foretune.predictors._snapshot import SnapshotPredictor
    from foretune.predictors.prior import PriorPredictor


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value  # looked up once
        return value
    if name == "metrics":
        return importlib.import_module(f"{__name__}.metrics")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
