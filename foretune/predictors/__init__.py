"""Predict at a fraction of a run's budget how it will end, and rank runs by it; data saturation.

Curve predictors (snapshot, curve, learned, auto), the cold-start prior learned from public curves
(`prior`, package data `prior_scan_bench.json`), ranking metrics, long-table readers and the
`saturation` subpackage. Imports numpy / scipy / pandas and `foretune.keys` / `foretune.errors`
only: never torch, ray or optuna.

    >>> from foretune.predictors import get_predictor
    >>> predictor = get_predictor("auto", mode="min").fit(finished_curves)
    >>> prediction = predictor.predict(partial_curves, at=0.2)  # .mean, .lower, .upper
"""

from foretune.predictors import metrics
from foretune.predictors._auto import AutoPredictor
from foretune.predictors._base import Curve, Prediction, Predictor, plain_params
from foretune.predictors._curve import CURVE_FAMILIES, CurvePredictor
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._registry import PREDICTORS, get_predictor
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.prior import PriorPredictor

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
