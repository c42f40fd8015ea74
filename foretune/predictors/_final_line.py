"""A score's final through another loss's predicted final: `auto`'s warm prediction of a score (mode "max").

An accuracy at 20% is coarse (12 products, most runs at the floor), and a loss's *early* value orders the
runs only as well as the early loss orders their finals. But a loss is continuous at every evaluation, so
its own final is predicted far better from its early curve than the score's is (the LoRA design ids, warm:
eval loss 0.97), and a run's final loss orders its final score closely. So: `learned` predicts each loss's
final from the run's curve of that loss (its other losses and the hyperparameters as features), and a line
maps that predicted final to the score's final. The line is fit on the finished runs' out-of-sample
predicted losses (each run's from a model refit without it), so its slope already carries the prediction's
own noise, and its leave-one-out residuals give the conformal interval.

It replaces `auto`'s blend (the score's own `learned` model and each loss's line from its *early* value) unless
its leave-one-out error is more than `MARGIN` times `learned`'s: a score that does not follow the loss keeps its
own model. Chosen on the LoRA accuracy design ids, warm (10 finished runs, 100 draws): Spearman 0.882 -> 0.941,
the best run kept when the predicted top 20% continue 0.91 -> 0.99 (benchmarks/results/verdict.md, round 28). As a
candidate of the blend it gained little (0.880 -> 0.886, 20 draws): weighed by their errors on 10 finished runs,
the early lines often won, fitting those runs closely, and they rank the judged runs worse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import Curve, Prediction, final_value
from foretune.predictors._learned import LearnedPredictor, extra_features
from foretune.predictors._signal import REACH, Signal, one_metric, saturating_line, shared_losses
from foretune.predictors.calibration import calibrated, calibrated_on_own_runs
from foretune.predictors.metric_names import is_loss

SUFFIX = "'s predicted final"  # a line's metric: "eval_loss's predicted final"
# The line predicts unless its mean absolute leave-one-out error exceeds this multiple of `learned`'s (the LoRA
# accuracy design ids, warm: 1.5 / 2 ranked 0.942 / 0.948; verdict.md, round 28).
MARGIN = 2.0


def as_loss_curves(curves: Sequence[Curve], metric: str) -> list[Curve]:
    """Each run with `metric` as its curve and its other losses as extras (the score itself is left out: it
    is what the line maps to)."""
    return [
        replace(
            c,
            values=c.extras[metric],
            extras={k: v for k, v in c.extras.items() if k != metric and is_loss(k)},
        )
        for c in curves
    ]


def _reported_at_the_end(curves: Sequence[Curve], metric: str) -> bool:
    return all(len(c.fractions) and c.fractions[-1] >= 0.999 and np.isfinite(c.extras[metric][-1]) for c in curves)


def final_loss_lines(
    train: Sequence[Curve],
    curves: Sequence[Curve],
    at: float,
    *,
    min_finished: int,
    models: dict[tuple[str, float], LearnedPredictor] | None = None,
) -> list[Signal]:
    """For each loss every run reports by `at` and every finished run reports at its end: the line from its
    predicted final to the score's final (module doc); none for a loss whose line has the wrong slope.
    `models` keeps each loss's fitted model (and its leave-one-out predictions) between calls on the same
    finished runs: a search judges many trials between two finished runs."""
    models = {} if models is None else models
    names = shared_losses(train, curves)
    finals = np.array([final_value(c) for c in train])
    out = []
    for name in names:
        early = extra_features([*train, *curves], at, [name])[:, 0]
        if not np.isfinite(early).all() or not _reported_at_the_end(train, name):
            continue
        if (name, at) not in models:
            models[name, at] = LearnedPredictor(mode="min", min_finished=min_finished).fit(as_loss_curves(train, name))
        learned = models[name, at]
        if len(learned.trainable(at)) != len(train):
            continue
        _, x = learned.out_of_sample(at)
        query = learned.predict(as_loss_curves(curves, name), at).mean
        if not (np.isfinite(x).all() and np.isfinite(query).all()) or np.ptp(x) <= 0:
            continue
        if np.polyfit(x, finals, 1)[0] >= 0:  # a higher final loss can only mean a lower score
            continue
        residuals = np.empty(len(x))
        for i in range(len(x)):
            others = np.arange(len(x)) != i
            residuals[i] = finals[i] - _saturating_line(x[others], finals[others], x[i : i + 1])[0]
        predictions = _saturating_line(x, finals, query)
        out.append(Signal(name + SUFFIX, residuals, float(np.mean(np.abs(residuals))), predictions, predictions))
    return out


def _saturating_line(x: np.ndarray, y: np.ndarray, at_x: np.ndarray) -> np.ndarray:
    """The least-squares line of y on x, bending flat beyond `REACH` x their range (`_signal.saturating_line`)."""
    return saturating_line(x, y, at_x, REACH * np.ptp(x), comparable=False)


def final_line_prediction(
    train: Sequence[Curve],
    curves: Sequence[Curve],
    at: float,
    *,
    mode: Mode,
    min_finished: int,
    learned_error: float,
    models: dict[tuple[str, float], LearnedPredictor] | None = None,
) -> tuple[Signal, Prediction] | None:
    """For a score objective: the line of one loss's predicted final (the held-out loss's wherever there is one:
    `_signal.one_metric`) with its conformal interval, where its mean absolute leave-one-out error is at most
    `MARGIN` x `learned_error` (the score's own model's); else None. With runs of earlier studies in `train` the
    interval is cut from the study's own runs alone (`calibrated_on_own_runs`)."""
    if mode != "max":
        return None
    lines = final_loss_lines(train, curves, at, min_finished=min_finished, models=models)
    if not lines:
        return None
    line = one_metric(lines)
    if not line.error <= MARGIN * learned_error:
        return None
    basis = f"predicted by auto from {line.metric}, {len(train)} finished runs, 80% conformal interval"
    raw, residuals = line.predictions, line.residuals
    prediction = calibrated_on_own_runs(curves, raw, residuals, train, at=at, mode=mode, basis=basis)
    if prediction is None:
        prediction = calibrated(curves, raw, residuals, at=at, mode=mode, basis=basis, recenter=False)
    return line, replace(prediction, follows=line.metric.removesuffix(SUFFIX))
