"""Predictors by name: `get_predictor("auto", mode="min")`."""

from __future__ import annotations

from foretune.keys import Mode
from foretune.predictors._auto import AutoPredictor
from foretune.predictors._base import Predictor
from foretune.predictors._curve import CurvePredictor
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._mirrored import ErrorRateByValues, MirroredScore
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.calibration import Bounds, share_top
from foretune.predictors.metric_names import is_error_rate, is_read_by_values

PREDICTORS: dict[str, type[Predictor]] = {
    "snapshot": SnapshotPredictor,
    "curve": CurvePredictor,
    "learned": LearnedPredictor,
    "auto": AutoPredictor,
}


def get_predictor(
    name: str,
    *,
    mode: Mode = "max",
    metric: str | None = None,
    metric_range: Bounds | None = None,
    **options: object,
) -> Predictor:
    """A new predictor by name (one of `PREDICTORS`); `options` go to its constructor. `metric`: the objective's
    name, where known: an error rate by its name to minimize (`metric_names.is_error_rate`: "val_error") is predicted
    as the score it mirrors (`_mirrored.MirroredScore`), not by the rules made for a loss; one to minimize named
    neither a loss nor an error rate ("value") is read so while every value seen is in [0, 1], or in [0, HIGH] where
    `metric_range`, a range given by hand, has an upper end (`_mirrored.ErrorRateByValues`)."""
    if name not in PREDICTORS:
        raise ValueError(f"unknown predictor {name!r}; choose one of {', '.join(PREDICTORS)}")
    cls = PREDICTORS[name]
    if mode == "min" and metric is not None and is_error_rate(metric):
        return MirroredScore(cls(mode="max", **options))
    if mode == "min" and metric is not None and is_read_by_values(metric):
        return ErrorRateByValues(lambda inner_mode: cls(mode=inner_mode, **options), metric, share_top(metric_range))
    return cls(mode=mode, **options)
