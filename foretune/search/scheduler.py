"""The early-stage evaluator as a Ray Tune scheduler: thin bookkeeping around `EarlyStageRule`.

When a trial first reports at (or past) the early fraction, the scheduler fits the predictor on
the trials that finished, predicts the trial's final score from its curve so far, and asks the rule
whether the trial may continue. Stopped is stopped: there is no pause and resume.

The verdict is written to a `TrialNotes` object that the searcher shares, so the Optuna record of
the trial carries the early score, the prediction and the early rank.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from foretune.predictors._base import Curve, Predictor
from foretune.search.rule import EarlyStageRule

logger = logging.getLogger(__name__)

FRACTION_KEY = "fraction"  # every result the trainable reports carries its budget fraction
_EPS = 1e-9


@dataclass
class TrialNotes:
    """What the scheduler learned about each trial, read by the searcher when it records the trial."""

    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial_id -> user attributes
    errors: dict[str, str] = field(default_factory=dict)  # trial_id -> last line of the error


@dataclass(frozen=True)
class PastTrial:
    """A trial of an earlier session of the same study (for resume): curve, outcome, estimate."""

    curve: Curve
    finished: bool  # reached the full budget
    estimate: float | None  # its final if finished, else the prediction made when it was judged


class EarlyStageScheduler(FIFOScheduler):
    """Judge each trial once at `fraction` of its budget; stop it when the rule says so.

    `rule=None` only observes: every trial is predicted and ranked but none is stopped.
    `make_predictor()` builds a fresh `Predictor` (already set to the search direction).
    """

    def __init__(
        self,
        *,
        metric: str,
        mode: str,
        fraction: float,
        make_predictor: Callable[[], Predictor],
        rule: EarlyStageRule | None,
        notes: TrialNotes | None = None,
        past: Iterable[PastTrial] = (),
    ) -> None:
        super().__init__()
        if not 0 < fraction < 1:
            raise ValueError(f"the early fraction must be in (0, 1), got {fraction}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self._metric = metric
        self._mode = mode
        self.fraction = fraction
        self.make_predictor = make_predictor
        self.rule = rule
        self.notes = notes if notes is not None else TrialNotes()
        self._curves: dict[str, dict[float, float]] = {}
        self._params: dict[str, Mapping[str, Any]] = {}
        self._finished: set[str] = set()
        self._estimates: dict[str, float] = {}  # judged trials: real final once finished, else prediction
        self._past = list(past)

    # --- Tune hooks ---------------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        # Metric and mode are set once, when the glue builds this scheduler; agree or refuse.
        return (metric in (None, self._metric)) and (mode in (None, self._mode))

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self._params[trial.trial_id] = dict(trial.config)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        trial_id = trial.trial_id
        self._observe(trial_id, result)
        reached = float(result.get(FRACTION_KEY, 0.0))
        if trial_id in self._estimates or reached < self.fraction - _EPS:
            return TrialScheduler.CONTINUE
        keep = self._judge(trial_id, reached)
        return TrialScheduler.CONTINUE if keep else TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        trial_id = trial.trial_id
        if result:
            self._observe(trial_id, result)
        curve = self._curves.get(trial_id, {})
        if curve and max(curve) >= 1.0 - _EPS:
            self._finished.add(trial_id)
            self._estimates[trial_id] = curve[max(curve)]

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.notes.errors[trial.trial_id] = _last_error_line(trial)

    def debug_string(self) -> str:
        stopped = sum(1 for a in self.notes.attrs.values() if a.get("early_decision") == "pruned")
        return f"foretune early stage at {self.fraction:.0%}: {len(self._estimates)} judged, {stopped} stopped"

    # --- the bookkeeping ----------------------------------------------------------------------

    def _observe(self, trial_id: str, result: Mapping[str, Any]) -> None:
        if FRACTION_KEY not in result or self._metric not in result:
            return
        value = float(result[self._metric])
        self._curves.setdefault(trial_id, {})[round(float(result[FRACTION_KEY]), 9)] = value

    def _curve(self, trial_id: str) -> Curve:
        points = self._curves.get(trial_id, {})
        fractions = np.array(sorted(points))
        values = np.array([points[f] for f in fractions])
        return Curve(fractions, values, params=_plain(self._params.get(trial_id, {})), trial=trial_id)

    def _judge(self, trial_id: str, reached: float) -> bool:
        finished = [self._curve(t) for t in self._finished] + [p.curve for p in self._past if p.finished]
        others = [v for t, v in self._estimates.items() if t != trial_id]
        others += [p.estimate for p in self._past if p.estimate is not None]
        candidate = self._curve(trial_id)
        early_score = float(candidate.values[-1])
        try:
            predictor = self.make_predictor().fit(finished)
            prediction = predictor.predict([candidate], at=reached)
            mean, lower, upper = (float(prediction.mean[0]), float(prediction.lower[0]), float(prediction.upper[0]))
        except Exception:  # a predictor failure must never prune a trial
            logger.exception("early-stage predictor failed on trial %s; it continues", trial_id)
            mean = lower = upper = early_score
        if not all(np.isfinite([mean, lower, upper])):
            mean = lower = upper = early_score
        rule = self.rule or EarlyStageRule(mode=self._mode, grace_trials=0)
        early_rank = rule.rank(mean, others)
        if self.rule is None:
            keep, reason = True, "observed"
        else:
            verdict = self.rule.decide(mean=mean, lower=lower, upper=upper, others=others)
            keep, reason = verdict.keep, verdict.reason
        self._estimates[trial_id] = mean
        self.notes.attrs[trial_id] = {
            "early_fraction": reached,
            "early_score": early_score,
            "predicted_final": mean,
            "predicted_lower": lower,
            "predicted_upper": upper,
            "early_rank": early_rank,
            "early_judged_with": len(others) + 1,
            "early_decision": reason,
        }
        return keep


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Trial params as plain floats/ints/strings (what predictors expect)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def _last_error_line(trial: Trial) -> str:
    """The exception line of a failed trial (Ray writes the full traceback to its error file)."""
    try:
        with open(trial.error_file) as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, TypeError):
        return "the trial raised an error (no error file)"
    exception_lines = [line for line in lines if not line.startswith(("Failure #", "File ", "^", "~"))]
    return (exception_lines or lines or ["the trial raised an error"])[-1][:500]
