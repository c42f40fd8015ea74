"""The early-stage evaluator: `EarlyStageEvaluator` (plain bookkeeping, no Ray) and
`EarlyStageScheduler`, the thin Ray Tune `TrialScheduler` around it.

When a trial first reports at (or past) the early fraction, the evaluator fits the predictor on the
trials that finished, predicts the final score of this trial *and of every trial judged before it*
from their curves up to the same fraction, and asks the rule whether this trial still ranks among
the kept ones. Re-predicting the others with the same fit keeps every value the rule compares on one
scale, whatever the predictor (`snapshot` ranks scores at 20%, `auto` predicted finals) and however
many trials had finished when each was first judged. Stopped is stopped: there is no pause and resume.

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
        past: Iterable[PastTrial] = (),
        bounds: tuple[float, float] | None = None,
    ) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"the early fraction must be in (0, 1), got {fraction}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.mode = mode
        self.fraction = fraction
        self.make_predictor = make_predictor
        self.rule = rule
        self.bounds = bounds  # the metric's range (accuracy: 0..1): predictions are clipped into it
        self.notes: dict[str, dict[str, Any]] = {}  # trial_id -> what the verdict was based on
        self._curves: dict[str, dict[float, float]] = {}
        self._params: dict[str, Mapping[str, Any]] = {}
        self._finished: set[str] = set()
        self._judged: list[str] = []
        # Earlier sessions' trials count like this session's: finished ones fit the predictor,
        # every one that reached the early fraction is ranked against.
        self._past = [p for p in past if len(p.curve.fractions) and p.curve.fractions[0] <= fraction + _EPS]

    def add(self, trial_id: str, params: Mapping[str, Any]) -> None:
        self._params[trial_id] = _plain(params)

    def observe(self, trial_id: str, fraction: float, value: float) -> None:
        self._curves.setdefault(trial_id, {})[round(float(fraction), 9)] = float(value)

    def due(self, trial_id: str, reached: float) -> bool:
        """Whether `trial_id` has just reached the early fraction and awaits its verdict."""
        return trial_id not in self.notes and reached >= self.fraction - _EPS

    def finish(self, trial_id: str) -> None:
        """The trial ended; it fits the predictor if it reached the full budget."""
        curve = self._curves.get(trial_id, {})
        if curve and max(curve) >= 1.0 - _EPS:
            self._finished.add(trial_id)

    def judge(self, trial_id: str, reached: float) -> bool:
        """Predict, rank and decide once; returns whether the trial continues."""
        finished = [self.curve(t) for t in sorted(self._finished)] + [p.curve for p in self._past if p.finished]
        ranked = [self.curve(trial_id)] + [self.curve(t) for t in self._judged if t != trial_id]
        ranked += [p.curve for p in self._past]
        early_score = float(ranked[0].upto(reached).values[-1])
        try:
            prediction = self.make_predictor().fit(finished).predict(ranked + finished, at=reached)
            mean, lower, upper = (np.asarray(a, dtype=float) for a in (prediction.mean, prediction.lower, prediction.upper))
            # Onto the final scale: a predictor whose mean is a ranking score (`snapshot`: the loss at
            # 20%) is moved by the median of how far the finished runs still went from it, so that the
            # optimistic end of the interval (already on that scale) compares with the others' means.
            # For a predictor of finals (`auto`) the shift is about zero.
            n = len(ranked)
            moved = np.array([c.final for c in finished]) - mean[n:]
            shift = float(np.median(moved[np.isfinite(moved)])) if np.isfinite(moved).any() else 0.0
            mean = mean[:n] + shift  # one shift for all: the ranking by mean does not change
            lower, upper = np.minimum(lower[:n], mean), np.maximum(upper[:n], mean)
            if self.bounds is not None:
                mean, lower, upper = (np.clip(a, *self.bounds) for a in (mean, lower, upper))
            if not np.all(np.isfinite([mean[0], lower[0], upper[0]])):
                raise ValueError(f"non-finite prediction {mean[0]} [{lower[0]}, {upper[0]}]")
        except Exception:  # a predictor failure must never prune a trial: fall back to the early scores
            logger.exception("early-stage predictor failed on trial %s; ranking by early scores", trial_id)
            mean = np.array([c.upto(reached).values[-1] if len(c.upto(reached).values) else np.nan for c in ranked])
            lower = upper = mean
        others = [float(v) for v in mean[1:] if np.isfinite(v)]
        rule = self.rule or EarlyStageRule(mode=self.mode, grace_trials=0)
        early_rank = rule.rank(float(mean[0]), others)
        if self.rule is None:
            keep, reason = True, "observed"
        else:
            verdict = self.rule.decide(mean=float(mean[0]), lower=float(lower[0]), upper=float(upper[0]), others=others)
            keep, reason = verdict.keep, verdict.reason
        self._judged.append(trial_id)
        self.notes[trial_id] = {
            "early_fraction": reached,
            "early_score": early_score,
            "predicted_final": float(mean[0]),
            "predicted_lower": float(lower[0]),
            "predicted_upper": float(upper[0]),
            "early_rank": early_rank,
            "early_judged_with": len(others) + 1,
            "early_decision": reason,
        }
        return keep

    def curve(self, trial_id: str) -> Curve:
        points = self._curves.get(trial_id, {})
        fractions = np.array(sorted(points))
        values = np.array([points[f] for f in fractions])
        return Curve(fractions, values, params=self._params.get(trial_id, {}), trial=trial_id)


class EarlyStageScheduler(FIFOScheduler):
    """Judge each trial once at `fraction` of its budget (by `EarlyStageEvaluator`); stop it when the rule says so."""

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
        bounds: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.evaluator = EarlyStageEvaluator(
            mode=mode, fraction=fraction, make_predictor=make_predictor, rule=rule, past=past, bounds=bounds
        )
        self._metric = metric
        self._mode = mode
        self.fraction = fraction
        self.rule = rule
        self.notes = notes if notes is not None else TrialNotes()

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        # Metric and mode are set once, when the glue builds this scheduler; agree or refuse.
        return (metric in (None, self._metric)) and (mode in (None, self._mode))

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self.evaluator.add(trial.trial_id, trial.config)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        if FRACTION_KEY not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        reached = float(result[FRACTION_KEY])
        self.evaluator.observe(trial.trial_id, reached, float(result[self._metric]))
        if not self.evaluator.due(trial.trial_id, reached):
            return TrialScheduler.CONTINUE
        keep = self.evaluator.judge(trial.trial_id, reached)
        self.notes.attrs[trial.trial_id] = self.evaluator.notes[trial.trial_id]
        return TrialScheduler.CONTINUE if keep else TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        if result and FRACTION_KEY in result and self._metric in result:
            self.evaluator.observe(trial.trial_id, float(result[FRACTION_KEY]), float(result[self._metric]))
        self.evaluator.finish(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.notes.errors[trial.trial_id] = _last_error_line(trial)

    def debug_string(self) -> str:
        notes = self.evaluator.notes
        stopped = sum(1 for a in notes.values() if a.get("early_decision") == "pruned")
        return f"foretune early stage at {self.fraction:.0%}: {len(notes)} judged, {stopped} stopped"


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
