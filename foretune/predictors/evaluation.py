"""Rank runs from their early curves, and measure predictors honestly on complete curves.

Pure functions behind `foretune rank` / `foretune rank-eval` and `benchmarks/predictors.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from foretune.keys import Mode
from foretune.predictors import metrics
from foretune.predictors._base import Curve, Prediction, Predictor, final_value, snapshot_values
from foretune.predictors._registry import get_predictor
from foretune.predictors.calibration import Bounds, clip_to_bounds

PredictorSpec = str | Callable[[Mode], Predictor]


def ranking_table(
    curves: Sequence[Curve], prediction: Prediction, *, at: float, mode: Mode, order: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per run, best first: trial, predicted_final, lower, upper, early_value, rank, basis.

    Where no final was predicted (too few finished runs) the predicted cells are empty and the runs
    are ranked by `early_value` (or by the eval loss: `basis` says which). `order`: what to rank by instead of
    the predicted finals, the same order where they differ: the finals before they were clipped into the metric's
    range, so that runs predicted past 100% keep their order rather than tie at 100%."""
    made = prediction.predicted
    table = pd.DataFrame(
        {
            "trial": [c.trial for c in curves],
            "predicted_final": prediction.mean if made else np.nan,
            "lower": prediction.lower if made else np.nan,
            "upper": prediction.upper if made else np.nan,
            "early_value": snapshot_values(curves, at),
        }
    )
    by = prediction.mean if order is None else order
    table = table.assign(_by=by).sort_values("_by", ascending=(mode == "min"), kind="stable").drop(columns="_by")
    table["rank"] = np.arange(1, len(table) + 1)
    table["basis"] = prediction.basis
    return table.reset_index(drop=True)


def _make(spec: PredictorSpec, mode: Mode, metric: str | None = None, metric_range: Bounds | None = None) -> Predictor:
    if isinstance(spec, str):
        return get_predictor(spec, mode=mode, metric=metric, metric_range=metric_range)
    return spec(mode)


def cross_fit_predict(
    spec: PredictorSpec,
    curves: Sequence[Curve],
    *,
    at: float,
    mode: Mode,
    folds: int = 5,
    seed: int = 0,
    finished: Sequence[Curve] | None = None,
    metric: str | None = None,
    metric_range: Bounds | None = None,
) -> Prediction:
    """Predict every complete run from its points at fraction <= `at`, never with a model that saw
    its final: with `finished` given, fit on those; else split `curves` in `folds` parts and
    predict each part with a predictor fit on the other parts (a study's finished runs). `metric`: the objective's
    name, where known, and `metric_range` its range (`get_predictor`: an error rate is predicted as the score it
    mirrors)."""
    partial = [c.upto(at) for c in curves]
    if finished is not None:
        return _make(spec, mode, metric, metric_range).fit(finished).predict(partial, at=at)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    mean, lower, upper = (np.empty(len(curves)) for _ in range(3))
    fold = np.random.default_rng(seed).permutation(len(curves)) % folds
    parts = []
    for f in range(folds):
        test = np.flatnonzero(fold == f)
        if not len(test):
            continue
        train = [curves[i] for i in np.flatnonzero(fold != f)]
        prediction = _make(spec, mode, metric, metric_range).fit(train).predict([partial[i] for i in test], at=at)
        mean[test], lower[test], upper[test] = prediction.mean, prediction.lower, prediction.upper
        parts.append(prediction)
    return Prediction(
        mean,
        lower,
        upper,
        predicted=all(p.predicted for p in parts),
        basis=parts[0].basis if parts else "",
        finished_used=min((p.finished_used for p in parts), default=0),
    )


@dataclass(frozen=True)
class Scored:
    """One predictor on complete curves: its predictions as `foretune rank` shows them (clipped into the metric's
    range) and their `metrics.METRICS`; MAE and coverage are NaN where no final was predicted (too few finished
    runs: the runs are only ranked, by an early value whose distance to the finals is no prediction's error)."""

    shown: Prediction
    scores: dict[str, float]


def score_predictors(
    specs: dict[str, PredictorSpec],
    curves: Sequence[Curve],
    *,
    at: float,
    mode: Mode,
    k: int = 5,
    q: float = 0.2,
    folds: int = 5,
    seed: int = 0,
    finished: Sequence[Curve] | None = None,
    bounds: Bounds | None = None,
    metric: str | None = None,
) -> dict[str, Scored]:
    """Each predictor (by label) on complete `curves`, cross-fitted (`cross_fit_predict`). `bounds`: the metric's
    range, the predicted finals and intervals clipped into it as `foretune rank` shows them (its ranking, like
    `rank`'s, by the predictions before clipping: runs predicted past 100% keep their order), and the predictors read
    it (`get_predictor`'s `metric_range`)."""
    finals = np.array([final_value(c) for c in curves])
    scored = {}
    for label, spec in specs.items():
        prediction = cross_fit_predict(
            spec,
            curves,
            at=at,
            mode=mode,
            folds=folds,
            seed=seed,
            finished=finished,
            metric=metric,
            metric_range=bounds,
        )
        shown = clip_to_bounds(prediction, bounds)
        scores = metrics.evaluate(shown, finals, mode=mode, k=k, q=q, order=prediction.mean)
        if not shown.predicted:
            scores |= {"mae": float("nan"), "coverage": float("nan")}
        scored[label] = Scored(shown, scores)
    return scored


def scores_table(scored: dict[str, Scored]) -> pd.DataFrame:
    """The metrics (rows: `metrics.METRICS`) of each predictor (columns)."""
    return pd.DataFrame({label: s.scores for label, s in scored.items()}).loc[list(metrics.METRICS)]


def evaluate_predictors(specs: dict[str, PredictorSpec], curves: Sequence[Curve], **how) -> pd.DataFrame:
    """`scores_table` of `score_predictors` (its keyword arguments: `how`)."""
    return scores_table(score_predictors(specs, curves, **how))
