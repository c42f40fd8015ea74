"""The early-stage evaluator on plain curves (no Ray): `EarlyStageEvaluator`, and what it shares.

When a trial first reports at (or past) the early fraction, the evaluator fits the predictor on the
trials that finished, predicts the final score of this trial *and of every trial judged before it*
from their curves up to the same fraction, and asks the rule whether this trial still ranks among
the kept ones. Re-predicting the others with the same fit keeps every value the rule compares on one
scale, whatever the predictor (`snapshot` ranks scores at 20%, `auto` predicted finals) and however
many trials had finished when each was first judged. What is shown and recorded of this trial's prediction is held
between the predictions shown before (`predictors.judged_order`: earlier fits put them on other lines). Stopped is
stopped: there is no pause and resume.
With later rungs (`EarlyStageRule.later_rungs`), a trial kept at the first verdict is judged again at each
rung's fraction the same way, ranked among every trial that reached that fraction (successive halving on
predicted finals); grace trials run to the end unjudged.

With a `ProbabilityRule` the trial is judged again at every later evaluation (except the last): its
final is predicted from its curve so far by a fit on the finished runs (cached until more runs have
finished, `fits.refit_due`), and it stops when the calibrated probability of beating the k-th best final so far is
below the threshold. Below 3 finished runs (no final predicted) or k finished runs there is no
probability and the trial continues; its attributes say so by what they leave out. The rule's safety
nets (`ProbabilityRule`: conformal floor, best_so_far, spare_rising, rank_cut) are applied here. Every
prediction, the early verdict's included, comes from one fit per number of finished runs.

With `stop_repeats` on the rule, a trial whose evaluations so far (at least two) all equal a finished trial's is
stopped at any evaluation, recorded with `repeat_of`: it re-runs a run whose final is known (the searcher records
it COMPLETE with that final). A finished run refits the predictor when a refit is due (`_warm`, `fits.CachedFit`),
so the slow first prediction of a fit is not paid inside a judgement. With an `audit.AuditDraw`, a sample of the
verdicts that would stop a trial is overridden (decision `audit`): the trial runs to its end, never judged again.
Trials of the study this evaluator did not run (earlier sessions', other drivers' as they run:
`earlier_trials.EarlierTrials`) are ranked against and learned from like its own.

`scheduler.EarlyStageScheduler` wraps it for Ray Tune; benchmarks drive it directly.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from foretune.keys import (
    BEAT_PROBABILITY_ATTR,
    BEAT_TARGET_ATTR,
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FINISHED_USED_ATTR,
    EARLY_FRACTION_ATTR,
    EARLY_JUDGED_WITH_ATTR,
    EARLY_ORDER_ATTR,
    EARLY_RANK_ATTR,
    EARLY_RUNG_ATTR,
    EARLY_SCORE_ATTR,
    JUDGED_FRACTION_ATTR,
    JUDGED_PREDICTION_ATTR,
    JUDGED_RANK_ATTR,
    JUDGED_WITH_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
    REPEAT_OF_ATTR,
    check_mode,
)
from foretune.predictors import plain_params
from foretune.predictors._base import Curve, Prediction, Predictor
from foretune.predictors.calibration import early_ranking, probability_better
from foretune.predictors.judged_order import recorded_judgement, shown_prediction
from foretune.search.audit import AUDIT, AuditDraw
from foretune.search.earlier_trials import EarlierTrialCurve, EarlierTrials
from foretune.search.fits import CachedFit, MetricRange
from foretune.search.repeats import repeated_run
from foretune.search.rule import EarlyStageRule, ProbabilityRule

logger = logging.getLogger(__name__)

_EPS = 1e-9


@dataclass
class VerdictsAndErrors:
    """Per trial, what the scheduler learned and the searcher writes onto the trial's Optuna record."""

    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial_id -> early-stage user attributes
    errors: dict[str, str] = field(default_factory=dict)  # trial_id -> last line of the error
    diverged: dict[str, str] = field(default_factory=dict)  # trial_id -> which loss went NaN/inf, and where


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
        rule: EarlyStageRule | ProbabilityRule | None,
        past: Iterable[EarlierTrialCurve] = (),
        bounds: MetricRange = None,
        history: Iterable[Curve] = (),
        audit: AuditDraw | None = None,
        peers: Callable[[], Iterable[EarlierTrialCurve]] | None = None,
        repeats_need_same_config: bool = False,
    ) -> None:
        if not 0 < fraction < 1:
            raise ValueError(f"the early fraction must be in (0, 1), got {fraction}")
        self.mode = check_mode(mode)
        self.fraction = fraction
        self.make_predictor = make_predictor
        self.rule = rule
        self.verdicts: dict[str, dict[str, Any]] = {}  # trial_id -> what the verdict was based on
        self._curves: dict[str, dict[float, float]] = {}
        self._extras: dict[str, dict[float, dict[str, float]]] = {}  # trial -> fraction -> metric -> value
        self._params: dict[str, Mapping[str, Any]] = {}
        self._finished: set[str] = set()
        self._judged: list[str] = []  # trials with an early verdict, in order
        self._seen: list[str] = []  # trials judged at all (a probability rule may judge before the verdict)
        self._grace: set[str] = set()  # the probability rule's grace trials: they always run to the end
        self._stopped: set[str] = set()
        self._rung_passed: dict[str, int] = {}  # later rungs: trial -> the last rung it passed (0 = the first only)
        # One fit per number of finished runs, kept until a refit is due; predictions clipped into the metric's range.
        self.fit = CachedFit(make_predictor, bounds)
        self.objectives = None  # several objectives: a `pareto.ParetoJudge` the glue sets; it replaces the rank rule
        # Earlier sessions' and other drivers' trials count like this session's: finished ones fit the predictor,
        # every one that reached the early fraction is ranked against.
        self.earlier = EarlierTrials(past, fraction, peers=peers)
        # Finished runs of earlier, matching studies (`search.history`): they fit the predictor only.
        self.history = list(history)
        self.audit = audit  # `early_stage.audit_every`: which verdicts to stop a trial are overridden
        # `stop_repeats` in a search (the scheduler asks for it): a repeat is the same config re-run, not another config
        # whose first evaluations happen to agree (it may differ later); the benchmarks' replays, which map several
        # sampled configs to one recorded run, match on the curves alone.
        self.repeats_need_same_config = repeats_need_same_config
        self._audited: set[str] = set()  # run to the end, never judged again

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
        """Whether `trial_id` awaits a verdict at `reached`: the first evaluation at or past the early
        fraction; with a `ProbabilityRule` also every evaluation before the end from its `stop_from` on
        (grace trials excepted)."""
        if trial_id in self._stopped or trial_id in self._audited:
            return False
        first = trial_id not in self._judged and reached >= self.fraction - _EPS
        # What other drivers' trials reported meanwhile: read at most every 10 s, and always before a first verdict
        # (it ranks against every trial judged so far); `judge` follows with what this read.
        self.earlier.refresh(force=first)
        if self._repeat_of(trial_id, reached) is not None:
            return True
        if first:
            return True
        if self._next_rung(trial_id, reached) is not None:
            return True
        if not isinstance(self.rule, ProbabilityRule) or trial_id in self._grace:
            return False
        last = self.verdicts.get(trial_id, {}).get(JUDGED_FRACTION_ATTR, 0.0)
        return self.rule.stop_from - _EPS <= reached < 1.0 - _EPS and last < reached

    def finish(self, trial_id: str) -> None:
        """The trial ended; it fits the predictor if it reached the full budget."""
        curve = self._curves.get(trial_id, {})
        if curve and max(curve) >= 1.0 - _EPS:
            self._finished.add(trial_id)
            self._warm()

    def _warm(self) -> None:
        """Refit now if a refit is due and make the fit's first predictions at the rank rules' fractions, so that
        the slow part (the learned predictor's leave-one-out errors per fraction) is paid when a run finishes, not
        inside the next judgement (`CachedFit.warm`)."""
        if self.rule is not None:
            rungs = [f for f, _ in getattr(self.rule, "later_rungs", ())]
            self.fit.warm(self._finished_curves(), [self.fraction, *rungs])

    def judge(self, trial_id: str, reached: float) -> bool:
        """The verdict at `reached`; returns whether the trial continues."""
        keep, prediction = True, None
        if (original := self._repeat_of(trial_id, reached)) is not None:
            self.verdicts.setdefault(trial_id, {}).update(
                {JUDGED_FRACTION_ATTR: reached, REPEAT_OF_ATTR: original, EARLY_DECISION_ATTR: "pruned"}
            )
            self._stopped.add(trial_id)
            return False
        if trial_id not in self._seen:  # the probability rule's grace trials: the first ones judged at all
            seen = len(self._seen) + len(self.earlier.trials)
            if isinstance(self.rule, ProbabilityRule) and seen < self.rule.grace_trials:
                self._grace.add(trial_id)
            self._seen.append(trial_id)
        if trial_id not in self._judged and reached >= self.fraction - _EPS:
            keep, prediction = self._first_verdict(trial_id, reached)
        elif (rung := self._next_rung(trial_id, reached)) is not None:
            keep = self._rung_verdict(trial_id, reached, rung)
        if keep and isinstance(self.rule, ProbabilityRule) and reached >= self.rule.stop_from - _EPS:
            keep = self._terminate(trial_id, reached, prediction)
        if not keep and self.audit is not None and self.audit.overrides():
            self._audited.add(trial_id)
            self.verdicts[trial_id][EARLY_DECISION_ATTR] = AUDIT
            return True
        if not keep:
            self._stopped.add(trial_id)
        return keep

    def _finished_curves(self) -> list[Curve]:  # what the predictor learns from: all sessions' finished, then history
        return self._finished_runs() + self.history

    def _first_verdict(self, trial_id: str, reached: float) -> tuple[bool, Prediction]:
        """Predict, rank and (for the rank rules) decide once; returns (continue, this trial's prediction)."""
        ranked = [self.curve(trial_id)] + [self.curve(t) for t in self._judged if t != trial_id]
        ranked += [p.curve for p in self.earlier.trials]
        early_score = float(ranked[0].upto(reached).values[-1])
        prediction = self._predict_ranked(trial_id, ranked, reached)
        mean, lower, upper = prediction.mean, prediction.lower, prediction.upper
        others = [float(v) for v in mean[1:] if np.isfinite(v)]
        early_rank = EarlyStageRule(mode=self.mode, grace_trials=0).rank(float(mean[0]), others)
        if self.rule is None:
            keep, reason = True, "observed"
        elif isinstance(self.rule, ProbabilityRule):  # the probability decides, in `_terminate`
            keep, reason = True, "grace" if trial_id in self._grace else "kept"
            if self.rule.rank_cut is not None and trial_id not in self._grace:  # first one rank cut, as `quantile`
                optimistic = self.rule.rank_cut_upper_bound
                cut = EarlyStageRule(
                    mode=self.mode, keep=self.rule.rank_cut, use_upper_bound=optimistic, grace_trials=0
                )
                verdict = cut.decide(mean=float(mean[0]), lower=float(lower[0]), upper=float(upper[0]), others=others)
                keep, reason = verdict.keep, verdict.reason
        else:
            verdict = self.rule.decide(mean=float(mean[0]), lower=float(lower[0]), upper=float(upper[0]), others=others)
            keep, reason = verdict.keep, verdict.reason
        # Held between the predictions shown before: this session's recorded verdicts, and earlier ones'.
        held_to = [recorded_judgement(v) for v in self.verdicts.values()] + [p.judged for p in self.earlier.trials]
        held_to = [j for j in held_to if j is not None]
        shown, held = shown_prediction(ranked[0], prediction, held_to, mode=self.mode, at=reached)
        judged_on: dict[str, Any] = {}
        if held is not None:
            judged_on[EARLY_ORDER_ATTR] = {"metric": held.metric, "value": held.value}
        if self.objectives is not None and isinstance(self.rule, EarlyStageRule):  # dominance on predicted objectives
            ids = [trial_id] + [t for t in self._judged if t != trial_id]
            ids += [self.objectives.observe_earlier(p.curve, p.costs) for p in self.earlier.trials]
            keep, reason, on = self.objectives.decide(trial_id, dict(zip(ids, mean, strict=True)))
            judged_on.update(on)
        self._judged.append(trial_id)
        attributes = {
            EARLY_FRACTION_ATTR: reached,
            EARLY_SCORE_ATTR: early_score,
            EARLY_BASIS_ATTR: shown.basis,
            EARLY_FINISHED_USED_ATTR: prediction.finished_used,
            EARLY_RANK_ATTR: early_rank,
            EARLY_JUDGED_WITH_ATTR: len(others) + 1,
            EARLY_DECISION_ATTR: reason,
            **judged_on,
        }
        if isinstance(self.rule, EarlyStageRule) and self.rule.later_rungs:
            attributes[EARLY_RUNG_ATTR] = 1
            self._rung_passed[trial_id] = 0 if keep and reason != "grace" else len(self.rule.later_rungs)
        if shown.predicted:  # never a number that was not predicted
            attributes[PREDICTED_FINAL_ATTR] = float(shown.mean[0])
            attributes[PREDICTED_LOWER_ATTR] = float(shown.lower[0])
            attributes[PREDICTED_UPPER_ATTR] = float(shown.upper[0])
        self.verdicts.setdefault(trial_id, {}).update(attributes)
        return keep, replace(prediction, plausible=None if prediction.plausible is None else prediction.plausible[:1])

    def _next_rung(self, trial_id: str, reached: float) -> int | None:
        """The highest later rung (1 = the second rung) that `trial_id` reached and was not judged at yet; None
        when none is due (grace trials, several objectives and stopped trials are never judged again)."""
        passed = self._rung_passed.get(trial_id)
        if passed is None or self.objectives is not None or trial_id in self._stopped:
            return None
        assert isinstance(self.rule, EarlyStageRule)
        due = [i for i, (f, _) in enumerate(self.rule.later_rungs, start=1) if i > passed and reached >= f - _EPS]
        return due[-1] if due else None

    def _rung_verdict(self, trial_id: str, reached: float, rung: int) -> bool:
        """A later rung: rank this trial's predicted final (its curve up to `reached`) among those of every trial
        that reached `reached` (this session's and earlier ones'), all from one fit; keep the rung's share."""
        assert isinstance(self.rule, EarlyStageRule)
        self._rung_passed[trial_id] = rung
        reached_too = [t for t in self._judged if t != trial_id and max(self._curves[t]) >= reached - _EPS]
        ranked = [self.curve(trial_id)] + [self.curve(t) for t in reached_too]
        ranked += [p.curve for p in self.earlier.trials if p.curve.fractions[-1] >= reached - _EPS]
        prediction = self._predict_ranked(trial_id, ranked, reached)
        mean, lower, upper = (float(a[0]) for a in (prediction.mean, prediction.lower, prediction.upper))
        others = [float(v) for v in prediction.mean[1:] if np.isfinite(v)]
        verdict = self.rule.decide(mean=mean, lower=lower, upper=upper, others=others, rung=rung)
        attributes = {
            EARLY_RUNG_ATTR: rung + 1,
            JUDGED_FRACTION_ATTR: reached,
            JUDGED_RANK_ATTR: verdict.rank,
            JUDGED_WITH_ATTR: len(others) + 1,
            EARLY_DECISION_ATTR: verdict.reason,
        }
        if prediction.predicted:  # never a number that was not predicted
            attributes[JUDGED_PREDICTION_ATTR] = mean
        self.verdicts.setdefault(trial_id, {}).update(attributes)
        return verdict.keep

    def _predict_ranked(self, trial_id: str, ranked: list[Curve], reached: float) -> Prediction:
        """`_predict_finals`, or on a predictor failure the early scores (a failure must never prune a trial)."""
        try:
            return self._predict_finals(ranked, reached)
        except Exception:
            logger.exception("early-stage predictor failed on trial %s; ranking by early scores", trial_id)
            prediction = early_ranking(ranked, reached, mode=self.mode, finished=0)
            return replace(prediction, basis="ranked by early score; the predictor failed (see the log)")

    def _terminate(self, trial_id: str, reached: float, prediction: Prediction | None) -> bool:
        """The probability rule at `reached`: P(final beats the k-th best final so far) vs the threshold."""
        rule = self.rule
        assert isinstance(rule, ProbabilityRule)
        attributes = self.verdicts.setdefault(trial_id, {})
        attributes[JUDGED_FRACTION_ATTR] = reached
        for key in (JUDGED_PREDICTION_ATTR, BEAT_PROBABILITY_ATTR, BEAT_TARGET_ATTR):
            attributes.pop(key, None)  # never a number from an earlier judgement beside this one's fraction
        if trial_id in self._grace:
            return True
        target_run = rule.target_run(self._finished_runs())
        target = None if target_run is None else target_run.final
        at = rule.best_point(self.curve(trial_id).upto(reached), reached) if rule.best_so_far else reached
        if prediction is None or at < reached:
            prediction = self._predict_one(trial_id, at)
        attributes.setdefault(EARLY_BASIS_ATTR, prediction.basis)  # before the early verdict: what this rests on
        if not prediction.predicted or prediction.plausible is None or target is None:
            attributes[EARLY_DECISION_ATTR] = "kept"  # no probability: nothing to stop it on
            return True
        plausible = prediction.plausible[0]  # in the metric's range (`CachedFit.finals`)
        probability = probability_better(plausible, target, mode=self.mode, shape=rule.shape, conformal=rule.conformal)
        if not np.isfinite(probability):
            attributes[EARLY_DECISION_ATTR] = "kept"
            return True
        keep = rule.keep(probability)
        if not keep and rule.spare_rising:
            keep = rule.rising(self.curve(trial_id).upto(reached), target_run)
        attributes.update(
            {
                JUDGED_PREDICTION_ATTR: float(prediction.mean[0]),
                BEAT_PROBABILITY_ATTR: probability,
                BEAT_TARGET_ATTR: float(target),
                EARLY_DECISION_ATTR: "kept" if keep else "pruned",
            }
        )
        return keep

    def _repeat_of(self, trial_id: str, reached: float) -> str | None:
        """With `stop_repeats`, before the last evaluation: the finished trial (this session's or an earlier one's)
        this trial re-runs (`repeats.repeated_run`); else None."""
        if not getattr(self.rule, "stop_repeats", False) or reached >= 1.0 - _EPS:
            return None
        mine = self._params.get(trial_id) if self.repeats_need_same_config else None
        finished = [(t, self._points(t), self._params.get(t, {})) for t in sorted(self._finished) if t != trial_id]
        candidates = itertools.chain(finished, self.earlier.finished_points())
        same = ((t, points) for t, points, params in candidates if mine is None or plain_params(params) == mine)
        return repeated_run(self._points(trial_id), same)

    def _points(self, trial_id: str) -> dict[float, dict[str, float]]:
        """A trial's evaluations: fraction -> {"": the objective, other metric: value}."""
        extras = self._extras.get(trial_id, {})
        return {f: {"": v, **extras.get(f, {})} for f, v in self._curves.get(trial_id, {}).items()}

    def _finished_runs(self) -> list[Curve]:
        """This study's runs that reached the full budget: this session's, earlier sessions' and other drivers'."""
        return [self.curve(t) for t in sorted(self._finished)] + self.earlier.finished()

    def _predict_one(self, trial_id: str, reached: float) -> Prediction:
        """This trial's prediction from its curve up to `reached`, by the cached fit."""
        try:
            return self._predict_finals([self.curve(trial_id).upto(reached)], reached)
        except Exception:  # a predictor failure must never prune a trial
            logger.exception("early-stage predictor failed on trial %s at %.0f%%", trial_id, 100 * reached)
            return early_ranking([self.curve(trial_id)], reached, mode=self.mode, finished=0)

    def _predict_finals(self, ranked: list[Curve], reached: float) -> Prediction:
        """The prediction for each `ranked` curve seen up to `reached`, all from one fit (`CachedFit.finals`)."""
        return self.fit.finals(self._finished_curves(), ranked, reached)

    def curve(self, trial_id: str) -> Curve:
        points = self._curves.get(trial_id, {})
        fractions = np.array(sorted(points))
        values = np.array([points[f] for f in fractions])
        reported = self._extras.get(trial_id, {})
        names = sorted({name for metrics in reported.values() for name in metrics})
        extras = {n: np.array([reported.get(f, {}).get(n, np.nan) for f in fractions]) for n in names}
        return Curve(fractions, values, params=self._params.get(trial_id, {}), trial=trial_id, extras=extras)
