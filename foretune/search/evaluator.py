"""The early-stage evaluator on plain curves (no Ray): `EarlyStageEvaluator`, and what it shares.

When a trial first reports at (or past) the early fraction, the evaluator fits the predictor on the
trials that finished, predicts the final score of this trial *and of every trial judged before it*
from their curves up to the same fraction, and asks the rule whether this trial still ranks among
the kept ones. Re-predicting the others with the same fit keeps every value the rule compares on one
scale, whatever the predictor (`snapshot` ranks scores at 20%, `auto` predicted finals) and however
many trials had finished when each was first judged. Stopped is stopped: there is no pause and resume.

`scheduler.EarlyStageScheduler` wraps it for Ray Tune; benchmarks drive it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from foretune.keys import (
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FINISHED_USED_ATTR,
    EARLY_FRACTION_ATTR,
    EARLY_JUDGED_WITH_ATTR,
    EARLY_RANK_ATTR,
    EARLY_SCORE_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
    check_mode,
)
from foretune.predictors import plain_params
from foretune.predictors._base import Curve, Prediction, Predictor
from foretune.predictors.calibration import early_ranking
from foretune.search.rule import EarlyStageRule

logger = logging.getLogger(__name__)

_EPS = 1e-9


@dataclass
class VerdictsAndErrors:
    """Per trial, what the scheduler learned and the searcher writes onto the trial's Optuna record."""

    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial_id -> early-stage user attributes
    errors: dict[str, str] = field(default_factory=dict)  # trial_id -> last line of the error


@dataclass(frozen=True)
class EarlierTrialCurve:
    """The curve of a trial of an earlier session of the same study (for resume), and whether it finished."""

    curve: Curve
    finished: bool  # reached the full budget


class EarlyStageEvaluator:
    """Curves in, one verdict per trial out: the scheduler's logic without Ray (benchmarks use it too).

    `rule=None` only observes: every trial is predicted and ranked but none is stopped.
    `make_predictor()` builds a fresh `Predictor` (already set to the search direction).
    """

    def __init__(
        self,
        *,
        mode: str,
        fraction: float,
        make_predictor: Callable[[], Predictor],
        rule: EarlyStageRule | None,
        past: Iterable[EarlierTrialCurve] = (),
        bounds: tuple[float, float] | None = None,
        history: Iterable[Curve] = (),
    ) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"the early fraction must be in (0, 1), got {fraction}")
        self.mode = check_mode(mode)
        self.fraction = fraction
        self.make_predictor = make_predictor
        self.rule = rule
        self.bounds = bounds  # the metric's range (accuracy: 0..1): predictions are clipped into it
        self.verdicts: dict[str, dict[str, Any]] = {}  # trial_id -> what the verdict was based on
        self._curves: dict[str, dict[float, float]] = {}
        self._extras: dict[str, dict[float, dict[str, float]]] = {}  # trial -> fraction -> metric -> value
        self._params: dict[str, Mapping[str, Any]] = {}
        self._finished: set[str] = set()
        self._judged: list[str] = []
        # Earlier sessions' trials count like this session's: finished ones fit the predictor,
        # every one that reached the early fraction is ranked against.
        self._past = [p for p in past if len(p.curve.fractions) and p.curve.fractions[0] <= fraction + _EPS]
        # Finished runs of earlier, matching studies (`search.history`): they fit the predictor only.
        self.history = list(history)

    def add(self, trial_id: str, params: Mapping[str, Any]) -> None:
        self._params[trial_id] = plain_params(params)

    def observe(self, trial_id: str, fraction: float, value: float, extras: Mapping[str, float] | None = None) -> None:
        """One evaluation: the objective's `value` and the trial's other metrics (`extras`: eval loss,
        train loss), which the learned predictors may use as features."""
        point = round(float(fraction), 9)
        self._curves.setdefault(trial_id, {})[point] = float(value)
        if extras:
            self._extras.setdefault(trial_id, {})[point] = {k: float(v) for k, v in extras.items()}

    def due(self, trial_id: str, reached: float) -> bool:
        """Whether `trial_id` has just reached the early fraction and awaits its verdict."""
        return trial_id not in self.verdicts and reached >= self.fraction - _EPS

    def finish(self, trial_id: str) -> None:
        """The trial ended; it fits the predictor if it reached the full budget."""
        curve = self._curves.get(trial_id, {})
        if curve and max(curve) >= 1.0 - _EPS:
            self._finished.add(trial_id)

    def judge(self, trial_id: str, reached: float) -> bool:
        """Predict, rank and decide once; returns whether the trial continues."""
        finished = [self.curve(t) for t in sorted(self._finished)] + [p.curve for p in self._past if p.finished]
        finished += self.history
        ranked = [self.curve(trial_id)] + [self.curve(t) for t in self._judged if t != trial_id]
        ranked += [p.curve for p in self._past]
        early_score = float(ranked[0].upto(reached).values[-1])
        try:
            prediction = self._predict_finals(ranked, finished, reached)
        except Exception:  # a predictor failure must never prune a trial: fall back to the early scores
            logger.exception("early-stage predictor failed on trial %s; ranking by early scores", trial_id)
            prediction = early_ranking(ranked, reached, mode=self.mode, finished=0)
            prediction = replace(prediction, basis="ranked by early score; the predictor failed (see the log)")
        mean, lower, upper = prediction.mean, prediction.lower, prediction.upper
        others = [float(v) for v in mean[1:] if np.isfinite(v)]
        rule = self.rule or EarlyStageRule(mode=self.mode, grace_trials=0)
        early_rank = rule.rank(float(mean[0]), others)
        if self.rule is None:
            keep, reason = True, "observed"
        else:
            verdict = self.rule.decide(mean=float(mean[0]), lower=float(lower[0]), upper=float(upper[0]), others=others)
            keep, reason = verdict.keep, verdict.reason
        self._judged.append(trial_id)
        attributes = {
            EARLY_FRACTION_ATTR: reached,
            EARLY_SCORE_ATTR: early_score,
            EARLY_BASIS_ATTR: prediction.basis,
            EARLY_FINISHED_USED_ATTR: prediction.finished_used,
            EARLY_RANK_ATTR: early_rank,
            EARLY_JUDGED_WITH_ATTR: len(others) + 1,
            EARLY_DECISION_ATTR: reason,
        }
        if prediction.predicted:  # never a number that was not predicted
            attributes[PREDICTED_FINAL_ATTR] = float(mean[0])
            attributes[PREDICTED_LOWER_ATTR] = float(lower[0])
            attributes[PREDICTED_UPPER_ATTR] = float(upper[0])
        self.verdicts[trial_id] = attributes
        return keep

    def _predict_finals(self, ranked: list[Curve], finished: list[Curve], reached: float) -> Prediction:
        """The prediction for each `ranked` curve seen up to `reached`, all from one fit (one scale):
        predicted finals with calibrated intervals, or, with too few finished runs, early scores."""
        prediction = self.make_predictor().fit(finished).predict(ranked, at=reached)
        mean, lower, upper = (np.asarray(a, dtype=float) for a in (prediction.mean, prediction.lower, prediction.upper))
        if self.bounds is not None and prediction.predicted:
            mean, lower, upper = (np.clip(a, *self.bounds) for a in (mean, lower, upper))
        if not np.all(np.isfinite([mean[0], lower[0], upper[0]])):
            raise ValueError(f"non-finite prediction {mean[0]} [{lower[0]}, {upper[0]}]")
        return replace(prediction, mean=mean, lower=lower, upper=upper)

    def curve(self, trial_id: str) -> Curve:
        points = self._curves.get(trial_id, {})
        fractions = np.array(sorted(points))
        values = np.array([points[f] for f in fractions])
        reported = self._extras.get(trial_id, {})
        names = sorted({name for metrics in reported.values() for name in metrics})
        extras = {n: np.array([reported.get(f, {}).get(n, np.nan) for f in fractions]) for n in names}
        return Curve(fractions, values, params=self._params.get(trial_id, {}), trial=trial_id, extras=extras)
