"""Ray Tune's `OptunaSearch`, with honest records in the Optuna study.

Ray's stock searcher tells Optuna COMPLETE with the last (partial) score whenever a stopped trial has
a result (ray#6056), and it never sees the result that made the scheduler stop the trial. Here:

- every result is an intermediate value at its budget percent (the dashboard's learning curve);
- a trial that did not reach the full budget without error is PRUNED (TPE then treats it as such), except a
  stopped repeat (`early_stage.stop_repeats`: user attribute `repeat_of`): it re-ran a finished run, so it is
  COMPLETE with that run's final (TPE then knows the config's value instead of returning to it as unpromising);
- a failed trial is FAIL, with the error in the user attribute `error`;
- the early-stage verdict (early score, predicted final, interval, early rank), the budget
  fraction reached and the costs of its last result (`cost.*`) become user attributes;
- every other metric of every result (eval loss, train loss, the task's metrics: what the early-stage
  evaluator saw) goes to the user attribute `extras`, {metric: {budget percent: value}}, which
  `storage.trial_curve` reads back as the curve's extras; written as the results come, so that the other
  drivers of the study can judge against a running trial (`earlier_trials`).

With several objectives (`metric` and `mode` are lists) the study is multi-objective: Optuna keeps no
intermediate values there, so the first objective's curve goes to the user attribute `curve`.

It reads private attributes of Ray's `OptunaSearch` (`_ot_study`, `_ot_trials`, `_completed_trials`,
`_storage`, `_sampler`), which is why pyproject pins Ray below its next minor release.
"""

from __future__ import annotations

import logging
import math
import pickle
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.result import AUTO_RESULT_KEYS
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from foretune.keys import (
    BUDGET_PCT_KEY,
    BUDGET_STEPS_ATTR,
    CONFIG_PREFIX,
    COST_PREFIX,
    CURVE_ATTR,
    ERROR_ATTR,
    EXTRAS_ATTR,
    FINAL_DRAWS_KEY,
    FINAL_ITEMS_KEY,
    FRACTION_KEY,
    FRACTION_REACHED_ATTR,
    NODE_ATTR,
    NODE_KEY,
    REPEAT_OF_ATTR,
    STEP_KEY,
    TEST_ATTR_PREFIX,
    TEST_PREFIX,
)
from foretune.search.evaluator import VerdictsAndErrors
from foretune.search.time_left import StartsInTime
from foretune.search.trial_note import verdict_note, write_verdict_note

logger = logging.getLogger(__name__)

_EPS = 1e-9
# Result keys the trainable adds that are not metrics of the run, and Ray's own bookkeeping.
_NOT_METRICS = frozenset((FRACTION_KEY, STEP_KEY, BUDGET_PCT_KEY, NODE_KEY, "done", "trial_id", "experiment_tag"))


def reported_extras(result: dict, metric: str) -> dict[str, float]:
    """Every metric of a result other than `metric` (eval loss, train loss, ...): finite numbers only; not
    Ray's bookkeeping (with the trial's config, which Tune flattens into `config/<name>` keys: a hyperparameter,
    not a metric), the held-out test scores or the costs (they describe the run, not its curve). The
    scheduler feeds the evaluator the same, so a resumed search sees what the search saw."""
    skip = _NOT_METRICS | set(AUTO_RESULT_KEYS) | {metric}
    return {
        key: float(value)
        for key, value in result.items()
        if key not in skip
        and not key.startswith((TEST_PREFIX, COST_PREFIX, CONFIG_PREFIX))
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    }


class PrunedAwareOptunaSearch(OptunaSearch):
    """`OptunaSearch` that records scheduler-stopped trials as PRUNED with their curve, failed ones as FAIL."""

    def __init__(self, *args: Any, notes: VerdictsAndErrors | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes = notes if notes is not None else VerdictsAndErrors()
        self._steps: dict[str, set[int]] = {}
        self._reached: dict[str, float] = {}
        self._curves: dict[str, dict[str, float]] = {}  # multi-objective: trial -> {budget percent: value}
        self._extras: dict[str, dict[str, dict[str, float]]] = {}  # trial -> metric -> {budget percent: value}
        self._verdicts_written: dict[str, dict[str, Any]] = {}  # trial -> its verdict as its running record holds it
        self.target = None  # foretune.search.drivers.SharedTarget: the trial target shared by concurrent drivers
        self.time_left: StartsInTime | None = None  # search.time_budget_s: no trial started that cannot end

    def suggest(self, trial_id: str) -> dict | str | None:
        if trial_id in self._ot_trials:
            return super().suggest(trial_id)
        if self.time_left is not None and not self.time_left.may_start():
            return Searcher.FINISHED  # Tune ends the session once the running trials end
        if self.target is None:
            params = super().suggest(trial_id)
        else:
            with self.target.asking() as may_ask:  # count and ask under one lock across drivers
                if not may_ask:
                    return Searcher.FINISHED
                params = super().suggest(trial_id)
                self.target.claim(self._ot_trials[trial_id])
        if self.time_left is not None:
            self.time_left.started(trial_id)
        return params

    def held_trial_ids(self) -> list[int]:
        """Storage ids of the Optuna trials this searcher asked and has not finished (their heartbeats)."""
        return [t._trial_id for key, t in list(self._ot_trials.items()) if key not in self._completed_trials]

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        self._record(trial_id, result)
        self._write_running_verdict(trial_id)

    def _write_running_verdict(self, trial_id: str) -> None:
        """A running trial's verdict on its Optuna record once it is judged, and again when a later judgement
        changes it: the dashboard (its note) and a report of the running study say what a kept trial is expected
        to end at. Tune calls the searcher after the scheduler, and only for a trial that goes on; a stopped
        trial's verdict is written when it ends."""
        verdict = self._recorded_verdict(trial_id)
        if not verdict or verdict == self._verdicts_written.get(trial_id):
            return
        ot_trial = self._ot_trials[trial_id]
        self._set_verdict_attrs(ot_trial, trial_id, verdict)
        reached = self._reached.get(trial_id, 0.0)
        write_verdict_note(ot_trial, verdict_note(verdict, self._metrics[0], reached=reached, final=None, running=True))

    def _set_verdict_attrs(self, ot_trial: optuna.Trial, trial_id: str, verdict: dict[str, Any]) -> None:
        """The verdict's user attributes that the trial's record does not hold yet (as written while it ran)."""
        written = self._verdicts_written.get(trial_id, {})
        for key, value in verdict.items():
            if key not in written or written[key] != value:
                ot_trial.set_user_attr(key, value)
        self._verdicts_written[trial_id] = verdict

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        if self.time_left is not None and not error:
            self.time_left.ended(trial_id)
        if result:
            self._record(trial_id, result)  # the result that stopped a trial never reached on_trial_result
            for key, value in result.items():
                if key.startswith(TEST_PREFIX) and isinstance(value, (int, float)):
                    ot_trial.set_user_attr(TEST_ATTR_PREFIX + key.removeprefix(TEST_PREFIX), float(value))
                elif key.startswith(COST_PREFIX) and isinstance(value, (int, float)):
                    ot_trial.set_user_attr(key, float(value))  # the costs up to the last evaluation
            if NODE_KEY in result:
                ot_trial.set_user_attr(NODE_ATTR, str(result[NODE_KEY]))
            if isinstance(result.get(FINAL_DRAWS_KEY), list) and isinstance(result.get(FINAL_ITEMS_KEY), str):
                ot_trial.set_user_attr(FINAL_DRAWS_KEY, [float(v) for v in result[FINAL_DRAWS_KEY]])
                ot_trial.set_user_attr(FINAL_ITEMS_KEY, result[FINAL_ITEMS_KEY])
        if trial_id in self._curves:
            ot_trial.set_user_attr(CURVE_ATTR, self._curves[trial_id])
        if self._extras.get(trial_id):
            ot_trial.set_user_attr(EXTRAS_ATTR, self._extras[trial_id])
        verdict = self._recorded_verdict(trial_id)
        self._set_verdict_attrs(ot_trial, trial_id, verdict)
        reached = self._reached.get(trial_id, 0.0)
        ot_trial.set_user_attr(FRACTION_REACHED_ATTR, reached)
        values = [(result or {}).get(metric) for metric in self._metrics]
        finite = [isinstance(v, (int, float)) and math.isfinite(v) for v in values]
        bad = [(m, v) for m, v, ok in zip(self._metrics, values, finite, strict=True) if not ok]
        final = None  # the objective's final, for the dashboard note
        if error:
            ot_trial.set_user_attr(ERROR_ATTR, self.notes.errors.get(trial_id, "the trial raised an error"))
            self._tell(ot_trial, None, TrialState.FAIL)
        elif trial_id in self.notes.diverged:  # stopped where a loss went NaN
            ot_trial.set_user_attr(ERROR_ATTR, self.notes.diverged[trial_id])
            self._tell(ot_trial, None, TrialState.FAIL)
        elif reached < 1.0 - _EPS and (known := self._known_final(trial_id)) is not None:
            self._tell(ot_trial, known, TrialState.COMPLETE)  # a stopped repeat: the final of the run it re-ran
        elif reached < 1.0 - _EPS:
            self._tell(ot_trial, None, TrialState.PRUNED)  # Optuna keeps the last intermediate value
        elif bad:
            ot_trial.set_user_attr(ERROR_ATTR, f"the final {bad[0][0]} is {bad[0][1]}")
            self._tell(ot_trial, None, TrialState.FAIL)
        else:
            told = [float(v) for v in values]
            final = told[0]
            self._tell(ot_trial, told[0] if isinstance(self.metric, str) else told, TrialState.COMPLETE)
        write_verdict_note(ot_trial, verdict_note(verdict, self._metrics[0], reached=reached, final=final))
        self._completed_trials.add(trial_id)

    def _recorded_verdict(self, trial_id: str) -> dict[str, Any]:
        """The verdict's attributes as the study records them: a repeated trial of this session named by its
        number, as an earlier session's is (the evaluator knows it by Tune's trial id)."""
        verdict = dict(self.notes.verdicts.get(trial_id, {}))
        if verdict.get(REPEAT_OF_ATTR) in self._ot_trials:
            verdict[REPEAT_OF_ATTR] = str(self._ot_trials[verdict[REPEAT_OF_ATTR]].number)
        return verdict

    @property
    def _metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    def _known_final(self, trial_id: str) -> float | list[float] | None:
        """For a trial stopped as a repeat, the values told for the finished trial it re-ran (`repeat_of`: a trial
        of this session, or the number of an earlier session's); None otherwise."""
        original = self.notes.verdicts.get(trial_id, {}).get(REPEAT_OF_ATTR)
        if original is None:
            return None
        if original in self._ot_trials:
            number = self._ot_trials[original].number
        elif str(original).isdigit():
            number = int(original)
        else:
            return None
        done = self._ot_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        values = next((t.values for t in done if t.number == number and t.values), None)
        if values is None:
            return None
        return float(values[0]) if isinstance(self.metric, str) else [float(v) for v in values]

    def _record(self, trial_id: str, result: dict) -> None:
        primary = self._metrics[0]
        if FRACTION_KEY not in result or primary not in result:
            return
        fraction = float(result[FRACTION_KEY])
        self._reached[trial_id] = max(self._reached.get(trial_id, 0.0), fraction)
        step = int(round(fraction * 100))
        extras = self._extras.setdefault(trial_id, {})
        for name, extra in reported_extras(result, primary).items():
            extras.setdefault(name, {})[str(step)] = extra
        steps = self._steps.setdefault(trial_id, set())
        value = float(result[primary])
        if step in steps or not math.isfinite(value):
            return
        steps.add(step)
        ot_trial = self._ot_trials[trial_id]
        if isinstance(self.metric, str):
            ot_trial.report(value, step)
        else:  # Optuna has no intermediate values in multi-objective studies
            self._curves.setdefault(trial_id, {})[str(step)] = value
            ot_trial.set_user_attr(CURVE_ATTR, self._curves[trial_id])
            for name in self._metrics[1:]:  # the costs it is judged on, as they come (other drivers judge with it)
                cost = result.get(name)
                if name.startswith(COST_PREFIX) and isinstance(cost, (int, float)) and math.isfinite(cost):
                    ot_trial.set_user_attr(name, float(cost))
        if extras:  # as they come: the study's other drivers rank their trials against this running one
            ot_trial.set_user_attr(EXTRAS_ATTR, extras)
        if len(steps) == 1 and result.get(STEP_KEY) and fraction > 0:
            ot_trial.set_user_attr(BUDGET_STEPS_ATTR, int(round(float(result[STEP_KEY]) / fraction)))

    def _tell(self, ot_trial: optuna.Trial, value: float | None, state: TrialState) -> None:
        try:
            self._ot_study.tell(ot_trial, value, state=state)
        except Exception as error:  # e.g. the storage went away; the search goes on
            logger.warning("could not record trial %s in Optuna: %s", ot_trial.number, error)

    # Ray pickles the searcher (tuner.pkl, experiment checkpoints); the study, its storage (locks, and
    # maybe a database password) and the sampler stay out. Resume goes through the Optuna study itself.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("_ot_study", "_storage", "_sampler", "_ot_trials", "target"):
            state[key] = None
        return state

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"completed": sorted(self._completed_trials)}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self._completed_trials = set(pickle.load(f).get("completed", []))
