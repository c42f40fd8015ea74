"""`EarlyStageScheduler`: the thin Ray Tune `TrialScheduler` around `EarlyStageEvaluator`.

It feeds each result (the objective and every other metric the trainer reported) to the
evaluator, stops a trial when the verdict says so, and puts the verdict
and any error line on the shared `VerdictsAndErrors`, from which the searcher writes the trial's
Optuna record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from foretune.keys import (
    EARLY_DECISION_ATTR,
    FRACTION_KEY,
)
from foretune.predictors._base import Curve, Predictor
from foretune.predictors.metric_names import is_loss
from foretune.search.audit import AuditDraw
from foretune.search.earlier_trials import EarlierTrialCurve
from foretune.search.evaluator import EarlyStageEvaluator, VerdictsAndErrors
from foretune.search.fits import MetricRange
from foretune.search.rule import EarlyStageRule, ProbabilityRule
from foretune.search.searcher import reported_extras


class EarlyStageScheduler(FIFOScheduler):
    """Judge each trial at `fraction` of its budget (by `EarlyStageEvaluator`; the probability rule also at every
    later evaluation); stop it when the rule says so."""

    def __init__(
        self,
        *,
        metric: str,
        mode: str,
        fraction: float,
        make_predictor: Callable[[], Predictor],
        rule: EarlyStageRule | ProbabilityRule | None,
        notes: VerdictsAndErrors | None = None,
        past: Iterable[EarlierTrialCurve] = (),
        bounds: MetricRange = None,
        history: Iterable[Curve] = (),
        audit: AuditDraw | None = None,
        peers: Callable[[], Iterable[EarlierTrialCurve]] | None = None,
    ) -> None:
        super().__init__()
        self.evaluator = EarlyStageEvaluator(
            mode=mode,
            fraction=fraction,
            make_predictor=make_predictor,
            rule=rule,
            past=past,
            bounds=bounds,
            history=history,
            audit=audit,
            peers=peers,
            repeats_need_same_config=True,  # Tune's config of each trial: `on_trial_add`
        )
        self._metric = metric
        self._mode = mode
        self.fraction = fraction
        self.rule = rule
        self.notes = notes if notes is not None else VerdictsAndErrors()

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        # Metric and mode are set once, when the glue builds this scheduler; agree or refuse.
        return (metric in (None, self._metric)) and (mode in (None, self._mode))

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self.evaluator.add(trial.trial_id, trial.config)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        if FRACTION_KEY not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        reached = float(result[FRACTION_KEY])
        if diverged := diverged_loss(result, self._metric, self._mode):
            # A NaN loss does not come back: the run would end with nothing to rank, after its whole budget
            self.notes.diverged[trial.trial_id] = f"diverged: {diverged} at {reached:.0%} of the budget; stopped there"
            return TrialScheduler.STOP
        self.evaluator.observe(
            trial.trial_id, reached, float(result[self._metric]), reported_extras(result, self._metric)
        )
        if self.evaluator.objectives is not None:  # several objectives: their latest values (costs, metrics)
            self.evaluator.objectives.observe(trial.trial_id, reached, result)
        if not self.evaluator.due(trial.trial_id, reached):
            return TrialScheduler.CONTINUE
        keep = self.evaluator.judge(trial.trial_id, reached)
        self.notes.verdicts[trial.trial_id] = self.evaluator.verdicts[trial.trial_id]
        return TrialScheduler.CONTINUE if keep else TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        if result and FRACTION_KEY in result and self._metric in result:
            fraction, value = float(result[FRACTION_KEY]), float(result[self._metric])
            self.evaluator.observe(trial.trial_id, fraction, value, reported_extras(result, self._metric))
        self.evaluator.finish(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.notes.errors[trial.trial_id] = last_error_line(trial)

    def debug_string(self) -> str:
        verdicts = self.evaluator.verdicts
        stopped = sum(1 for a in verdicts.values() if a.get(EARLY_DECISION_ATTR) == "pruned")
        return f"foretune early stage at {self.fraction:.0%}: {len(verdicts)} judged, {stopped} stopped"


def diverged_loss(result: dict, metric: str, mode: str) -> str | None:
    """'eval_loss is nan' when a loss the trial reported is NaN (the objective when lower is better, or any
    metric named as a loss: `metric_names.is_loss`): NaN weights stay NaN. None otherwise: a score's NaN is
    left alone (an F1 can be undefined early on), and so is an infinite loss (one fp16 evaluation can overflow
    and the next recover)."""
    losses = [metric] if mode == "min" else []
    losses += [key for key in result if key != metric and is_loss(str(key))]
    for name in losses:
        try:
            if math.isnan(result.get(name)):  # floats of any kind (numpy, torch scalars)
                return f"{name} is nan"
        except TypeError:  # not a number
            continue
    return None


def last_error_line(trial: Trial) -> str:
    """The exception line of a failed trial (Ray writes the full traceback to its error file)."""
    try:
        with open(trial.error_file) as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, TypeError):
        return "the trial raised an error (no error file)"
    exception_lines = [line for line in lines if not line.startswith(("Failure #", "File ", "^", "~"))]
    return (exception_lines or lines or ["the trial raised an error"])[-1][:500]
