"""Predictive termination (early_stage.rule="probability"): the rule on plain numbers, the evaluator at
every evaluation, and the PRUNED record of a real Optuna + Ray replay search."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from foretune.config import EarlyStageConfig, validate_config
from foretune.keys import (
    BEAT_PROBABILITY_ATTR,
    BEAT_TARGET_ATTR,
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    FRACTION_REACHED_ATTR,
    JUDGED_FRACTION_ATTR,
    JUDGED_PREDICTION_ATTR,
)
from foretune.predictors import get_predictor
from foretune.predictors._base import Curve
from foretune.predictors.calibration import probability_better
from foretune.search.earlier_trials import EarlierTrialCurve
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.rule import EarlyStageRule, ProbabilityRule, make_rule
from tests.search.conftest import FRACTIONS, feed_curve, oriented, replay_config_dict


def _evaluator(mode, *, k=1, grace=0, p=0.05, past=(), stop_from=0.1):
    rule = ProbabilityRule(mode=mode, k=k, min_probability=p, grace_trials=grace, stop_from=stop_from)
    return EarlyStageEvaluator(
        mode=mode, fraction=0.2, make_predictor=lambda: get_predictor("snapshot", mode=mode), rule=rule, past=past
    )


def _finish_three(evaluator, mode):
    """Three finished runs that each fall by ~0.9 after 20%; finals 0.1, 0.2, 0.3 (min mode)."""
    for trial, start in (("a", 1.0), ("b", 1.1), ("c", 1.2)):
        change = [0.2, 0.0, -0.2, -0.4, -0.5, -0.6, -0.7, -0.8, -0.85, -0.9]
        assert feed_curve(evaluator, trial, oriented(mode, start + np.array(change))) == 1.0


# --- the rule on plain numbers ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["max", "min"])
def test_target_is_the_kth_best_final(mode):
    finals = [0.3, 0.1, 0.2, float("nan")]
    best, second = (0.3, 0.2) if mode == "max" else (0.1, 0.2)
    assert ProbabilityRule(mode=mode, k=1).target(finals) == best
    assert ProbabilityRule(mode=mode, k=2).target(finals) == second
    assert ProbabilityRule(mode=mode, k=4).target(finals) is None  # only three finite finals


def test_keep_below_the_threshold_only():
    rule = ProbabilityRule(min_probability=0.05)
    assert rule.keep(None) and rule.keep(0.05) and rule.keep(0.5)
    assert not rule.keep(0.049)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k="),
        ({"min_probability": 1.0}, "min_probability"),
        ({"shape": "gauss"}, "shape"),
        ({"mode": "up"}, "mode"),
    ],
)
def test_probability_rule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProbabilityRule(**kwargs)


@pytest.mark.parametrize("shape", ["student", "kde"])
def test_probability_better_is_mirrored_between_modes(shape):
    plausible = np.array([0.9, 1.0, 1.1, 1.3])
    up = probability_better(plausible, 1.05, mode="max", shape=shape)
    down = probability_better(plausible, 1.05, mode="min", shape=shape)
    assert up + down == pytest.approx(1.0)
    assert probability_better(plausible, 3.0, mode="max", shape=shape) < 0.05 < up
    assert np.isnan(probability_better(np.array([np.nan]), 1.0, mode="max", shape=shape))


def test_make_rule_follows_the_config():
    assert isinstance(make_rule(EarlyStageConfig(rule="probability", k=2), "min"), ProbabilityRule)
    assert make_rule(EarlyStageConfig(rule="probability", k=2), "min").k == 2
    assert isinstance(make_rule(EarlyStageConfig(rule="quantile", keep=0.25), "max"), EarlyStageRule)
    assert ProbabilityRule().min_probability == EarlyStageConfig().min_probability  # one default, not two


# --- the evaluator at every evaluation ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("stop_from", [0.1, 0.2])
def test_a_hopeless_trial_stops_and_says_why(mode, stop_from):
    evaluator = _evaluator(mode, stop_from=stop_from)
    _finish_three(evaluator, mode)
    # Min mode: 2.6 at 10% -> predicted final 1.5 (the finished runs fell by 1.1 after 10%), far behind
    # the best final 0.1. Judged from `stop_from` on, before the early verdict at 20% if need be.
    reached = feed_curve(evaluator, "bad", oriented(mode, [2.6, 2.5, 2.4, 2.3]))
    assert reached == pytest.approx(stop_from)
    notes = evaluator.verdicts["bad"]
    assert notes[EARLY_DECISION_ATTR] == "pruned" and notes[JUDGED_FRACTION_ATTR] == pytest.approx(stop_from)
    assert notes[BEAT_PROBABILITY_ATTR] < 0.05
    assert notes[BEAT_TARGET_ATTR] == pytest.approx(oriented(mode, [0.1])[0])
    assert notes[JUDGED_PREDICTION_ATTR] == pytest.approx(oriented(mode, [1.5 if stop_from == 0.1 else 1.6])[0])
    assert notes[EARLY_BASIS_ATTR].startswith("predicted by snapshot from 3 finished runs")
    assert ("early_score" in notes) == (stop_from == 0.2)  # no early verdict before the early fraction
    assert not evaluator.due("bad", 0.3)  # stopped is stopped


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_promising_trial_is_judged_again_at_every_evaluation(mode):
    evaluator = _evaluator(mode)
    _finish_three(evaluator, mode)
    seen = []
    evaluator.add("good", {})
    curve = oriented(mode, 0.9 + np.array([0.2, 0.0, -0.2, -0.4, -0.5, -0.6, -0.7, -0.8, -0.85, -0.9]))
    for fraction, value in zip(FRACTIONS, curve, strict=True):
        evaluator.observe("good", fraction, value)
        if evaluator.due("good", fraction):
            assert evaluator.judge("good", fraction)
            seen.append(evaluator.verdicts["good"][JUDGED_FRACTION_ATTR])
    assert seen == pytest.approx(FRACTIONS[:-1])  # 10% ... 90%; the last evaluation is the final
    assert evaluator.verdicts["good"][BEAT_PROBABILITY_ATTR] > 0.5


@pytest.mark.parametrize("mode", ["max", "min"])
def test_k_compares_with_the_kth_best_final(mode):
    # Early 1.05 -> predicted final ~0.15: less likely to beat the best final (0.1) than the second best (0.2).
    strict, lenient = _evaluator(mode, k=1, p=0.3), _evaluator(mode, k=2, p=0.3)
    for evaluator in (strict, lenient):
        _finish_three(evaluator, mode)
        feed_curve(evaluator, "t", oriented(mode, [1.2, 1.05]))
    assert strict.verdicts["t"][BEAT_PROBABILITY_ATTR] < lenient.verdicts["t"][BEAT_PROBABILITY_ATTR]
    assert lenient.verdicts["t"][BEAT_TARGET_ATTR] == pytest.approx(oriented(mode, [0.2])[0])


def test_grace_trials_run_to_the_end_and_cold_start_invents_nothing():
    evaluator = _evaluator("min", grace=2)
    assert feed_curve(evaluator, "a", [1.0, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.12, 0.11, 0.1]) == 1.0
    assert feed_curve(evaluator, "b", [3.0, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9, 2.9]) == 1.0  # grace
    assert evaluator.verdicts["b"][EARLY_DECISION_ATTR] == "grace"
    assert BEAT_PROBABILITY_ATTR not in evaluator.verdicts["b"]
    # Two finished runs: no final predicted, so no probability; the trial continues and the verdict says why.
    assert feed_curve(evaluator, "c", [3.0, 2.9, 2.9]) == pytest.approx(0.3)
    notes = evaluator.verdicts["c"]
    assert notes[EARLY_DECISION_ATTR] == "kept" and BEAT_PROBABILITY_ATTR not in notes
    assert "no final predicted" in notes[EARLY_BASIS_ATTR]


def test_after_resume_the_earlier_sessions_finals_set_the_target():
    past = [
        EarlierTrialCurve(Curve(FRACTIONS, 1.0 + start - np.linspace(0, 0.9, 10), trial=f"p{i}"), True)
        for i, start in enumerate((0.0, 0.1, 0.2))
    ]
    evaluator = _evaluator("min", grace=3, past=past)  # the earlier session's trials used the grace
    assert feed_curve(evaluator, "new", [2.6, 2.5]) == pytest.approx(0.1)
    assert evaluator.verdicts["new"][BEAT_TARGET_ATTR] == pytest.approx(0.1)


# --- the PRUNED record of a real search (Optuna journal, Ray Tune, replayed curves) -------------------


@pytest.mark.slow
def test_a_search_records_pruned_trials_with_the_probability(ray_session, replay_bank, tmp_path):
    from foretune.search.driver import run_search
    from foretune.search.storage import open_storage

    raw = replay_config_dict(replay_bank, trials=8)
    raw["early_stage"] = {"predictor": "snapshot", "rule": "probability", "grace_trials": 3, "min_probability": 0.2}
    config = validate_config(raw)
    run_search(config, out=tmp_path, trainer_factory=replay_bank.trainer_factory(), progress=False)
    study = optuna.load_study(study_name="replay", storage=open_storage(str(tmp_path / "study.journal")))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [t.user_attrs for t in study.trials]
    for trial in pruned:
        attrs = trial.user_attrs
        assert attrs[EARLY_DECISION_ATTR] == "pruned"
        assert attrs[BEAT_PROBABILITY_ATTR] < 0.2
        assert attrs[JUDGED_FRACTION_ATTR] == pytest.approx(attrs[FRACTION_REACHED_ATTR])
        assert {JUDGED_PREDICTION_ATTR, BEAT_TARGET_ATTR} <= set(attrs)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert sum(t.user_attrs[EARLY_DECISION_ATTR] == "grace" for t in complete) == 3
