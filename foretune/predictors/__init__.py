"""Predict at a fraction of a run's budget how it will end, and rank runs by it.

Pure numpy / scipy (pandas only in `io`): importing this package never imports torch or ray.

    >>> from foretune.predictors import get_predictor
    >>> predictor = get_predictor("auto", mode="min").fit(finished_curves)
    >>> prediction = predictor.predict(partial_curves, at=0.2)  # .mean, .lower, .upper
"""

from foretune.predictors import metrics
from foretune.predictors._auto import AutoPredictor
from foretune.predictors._base import Curve, Mode, Prediction, Predictor
from foretune.predictors._curve import FAMILIES, CurvePredictor
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._registry import PREDICTORS, get_predictor
from foretune.predictors._snapshot import SnapshotPredictor

__all__ = [
    "AutoPredictor",
    "Curve",
    "CurvePredictor",
    "FAMILIES",
    "LearnedPredictor",
    "Mode",
    "PREDICTORS",
    "Prediction",
    "Predictor",
    "SnapshotPredictor",
    "get_predictor",
    "metrics",
]
from foretune.predictors.saturation import SaturationModel, SaturationResult, fit_saturation  # noqa: E402,F401
