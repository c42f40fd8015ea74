"""Predictors by name: `get_predictor("auto", mode="min")`."""

from __future__ import annotations

from foretune.keys import Mode
from foretune.predictors._auto import AutoPredictor
from foretune.predictors._base import Predictor
from foretune.predictors._curve import CurvePredictor
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._snapshot import SnapshotPredictor

PREDICTORS: dict[str, type[Predictor]] = {
    "snapshot": SnapshotPredictor,
    "curve": CurvePredictor,
    "learned": LearnedPredictor,
    "auto": AutoPredictor,
}


def get_predictor(name: str, *, mode: Mode = "max", **options: object) -> Predictor:
    """A new predictor by name (one of `PREDICTORS`); `options` go to its constructor."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; choose one of {', '.join(PREDICTORS)}")
    return PREDICTORS[name](mode=mode, **options)
