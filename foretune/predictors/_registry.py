"""Predictors by name: `get_predictor("auto", mode="min")`."""

from __future__ import annotations

from foretune.keys import Mode
from foretune.predictors._auto import AutoPredictor
from foretune.predictors._base import Predictor
from foretune.predictors._curve import CurvePredictor
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._mirrored import MirroredScore
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.metric_names import is_error_rate

PREDICTORS: dict[str, type[Predictor]] = {
    "snapshot": SnapshotPredictor,
    "curve": CurvePredictor,
    "learned": LearnedPredictor,
    "auto": AutoPredictor,
}


def get_predictor(name: str, *, mode: Mode = "max", metric: str | None = None, **options: object) -> Predictor:
    """A new predictor by name (one of `PREDICTORS`); `options` go to its constructor. `metric`: the objective's
    name, where known: an error rate by its name to minimize (`metric_names.is_error_rate`: "val_error") is predicted
    as the score it mirrors (`_mirrored.MirroredScore`), not by the rules made for a loss."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; choose one of {', '.join(PREDICTORS)}")
    if mode == "min" and metric is not None and is_error_rate(metric):
        return MirroredScore(PREDICTORS[name](mode="max", **options))
    return PREDICTORS[name](mode=mode, **options)
