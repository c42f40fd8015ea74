"""Multi-rung rank cuts on predicted finals (`early_stage.rungs`): the config, the evaluator on plain curves
in both directions, after resume, and a replayed search through the replay trainer (no Ray)."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna_dashboard._note import get_note_from_system_attrs

from foretune.config import validate_config
from foretune.config.search import EarlyStageConfig
from foretune.errors import ForetuneError
from foretune.keys import (
    EARLY_DECISION_ATTR,
    EARLY_RUNG_ATTR,
    FRACTION_KEY,
    FRACTION_REACHED_ATTR,
    JUDGED_FRACTION_ATTR,
    JUDGED_PREDICTION_ATTR,
    JUDGED_RANK_ATTR,
    JUDGED_WITH_ATTR,
    REPEAT_OF_ATTR,
)
from foretune.predictors import get_predictor
from foretune.predictors._base import Curve
from foretune.search.earlier_trials import EarlierTrialCurve
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.rule import EarlyStageRule, make_rule
from foretune.search.searcher import PrunedAwareOptunaSearch
from foretune.search.storage import past_trials
from foretune.trainers.replay import ReplayTrainer
from foretune.trainers.reporters import Decision
from tests.search.conftest import FRACTIONS, feed_curve, oriented, replay_config_dict


def _evaluator(mode: str, grace: int = 1, past=()) -> EarlyStageEvaluator:
    """Judged at 10% (top half continue), then at 30% (top third of those that reached it)."""
    rule = EarlyStageRule(
        mode=mode, rule="quantile", keep=0.5, use_upper_bound=False, grace_trials=grace, later_rungs=[(0.3, 1 / 3)]
    )
    return EarlyStageEvaluator(
        mode=mode, fraction=0.1, make_predictor=lambda: get_predictor("snapshot", mode=mode), rule=rule, past=past
    )


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_trial_kept_at_the_first_rung_is_cut_at_the_second(mode):
    evaluator = _evaluator(mode)
    assert feed_curve(evaluator, "grace", oriented(mode, 1.0 - 0.1 * np.arange(10))) == 1.0
    # ahead of the grace trial at 10% (top half of 2), behind it at 30% (top third of 2)
    assert feed_curve(evaluator, "fades", oriented(mode, [0.95, 0.9, 0.85, 0.8])) == pytest.approx(0.3)
    assert feed_curve(evaluator, "strong", oriented(mode, 0.9 - 0.1 * np.arange(10))) == 1.0
    grace, fades, strong = (evaluator.verdicts[t] for t in ("grace", "fades", "strong"))
    assert grace[EARLY_DECISION_ATTR] == "grace" and grace[EARLY_RUNG_ATTR] == 1  # never judged again
    assert JUDGED_RANK_ATTR not in grace
    assert fades[EARLY_RUNG_ATTR] == 2 and fades[EARLY_DECISION_ATTR] == "pruned"
    assert fades[JUDGED_FRACTION_ATTR] == pytest.approx(0.3)
    assert (fades[JUDGED_RANK_ATTR], fades[JUDGED_WITH_ATTR]) == (2, 2)
    assert JUDGED_PREDICTION_ATTR not in fades  # 1 finished run: ranked by the score at 30%, no final predicted
    assert strong[EARLY_RUNG_ATTR] == 2 and strong[EARLY_DECISION_ATTR] == "kept"
    assert (strong[JUDGED_RANK_ATTR], strong[JUDGED_WITH_ATTR]) == (1, 3)  # "fades" reached 30% too
    assert not evaluator.due("strong", 0.4)  # the last rung passed: no more judgements


def test_an_earlier_sessions_trial_counts_at_every_rung_it_reached():
    past = Curve(FRACTIONS, 1.0 - 0.1 * np.arange(10), trial="past-0")
    evaluator = _evaluator("min", grace=0, past=[EarlierTrialCurve(past, True)])
    assert feed_curve(evaluator, "new", [0.95, 0.9, 0.85]) == pytest.approx(0.3)
    assert evaluator.verdicts["new"][JUDGED_WITH_ATTR] == 2


def test_rungs_in_the_config_are_evaluated_and_checked():
    rungs = [{"fraction": 0.35, "keep": 0.3}, {"fraction": 0.5, "keep": 2}]  # a share, then the top 2
    config = validate_config({"early_stage": {"fraction": 0.1, "keep": 0.5, "rungs": rungs}})
    assert {0.1, 0.35, 0.5} <= set(config.train.eval_fractions)
    rule = make_rule(config.early_stage, "max")
    assert rule.later_rungs == ((0.35, 0.3), (0.5, 2.0))
    assert (rule.allowed(10, rung=1), rule.allowed(10, rung=2)) == (3, 2)
    bad = [
        ({"rule": "probability", "rungs": [{"fraction": 0.3, "keep": 0.3}]}, "rank rules"),
        ({"fraction": 0.3, "rungs": [{"fraction": 0.2, "keep": 0.3}]}, "past the one before"),
        ({"rungs": [{"fraction": 0.3, "keep": 0}]}, "keep"),
        ({"rungs": [{"fraction": 0.3, "keep": 2.5}]}, "whole number"),
        ({"rungs": [{"fraction": 1.0, "keep": 0.5}]}, "fraction"),
        # the first judgement's keep (a search with it failed as a ValueError traceback once its study was created)
        ({"keep": 1.5}, r"early_stage.keep=1.5: the quantile rule keeps a share in \(0, 1\]"),
        ({"rule": "top_k", "keep": 0.2}, "early_stage.keep=0.2: the top_k rule keeps a whole number"),
        ({"rank_cut": 0.5}, "early_stage.rank_cut is a cut of the probability rule; the quantile rule"),
        # the probability rule's own settings under a rank rule: once run without a word
        (
            {"min_probability": 0.1, "conformal": True},
            "early_stage.min_probability=0.1, conformal=true: settings of the probability rule, which the quantile "
            "rule ignores",
        ),
        ({"rule": "top_k", "keep": 2, "k": 3}, "early_stage.k=3: a setting of the probability rule, which the top_k"),
    ]
    for early, message in bad:
        with pytest.raises(ForetuneError, match=message):
            validate_config({"early_stage": early})
    # A full dump (best.yaml writes every default) and the probability rule's own settings pass.
    assert validate_config({"early_stage": EarlyStageConfig().model_dump()}).early_stage == EarlyStageConfig()
    chosen = {"rule": "probability", "min_probability": 0.1, "conformal": True, "k": 3}
    assert make_rule(validate_config({"early_stage": chosen}).early_stage, "max").min_probability == 0.1


class _Judge:
    """The search's reporter for one trial: each evaluation goes to the evaluator, which may stop it."""

    def __init__(self, evaluator: EarlyStageEvaluator, trial: str, metric: str) -> None:
        self.evaluator, self.trial, self.metric = evaluator, trial, metric

    def report(self, fraction: float, step: int, metrics) -> Decision:
        self.evaluator.observe(self.trial, fraction, metrics[self.metric])
        if self.evaluator.due(self.trial, fraction) and not self.evaluator.judge(self.trial, fraction):
            return Decision.STOP
        return Decision.CONTINUE


def _replayed_search(bank, rungs: list[dict]) -> tuple[EarlyStageEvaluator, dict[str, float], dict[str, float]]:
    """16 recorded runs, one trial each, one after the other, through the replay trainer and the evaluator of
    a config judged at 10% (top half) and then at `rungs`; returns it, each trial's reached fraction and final."""
    raw = replay_config_dict(bank)
    raw["early_stage"] = {"predictor": "auto", "fraction": 0.1, "keep": 0.5, "rungs": rungs}
    config = validate_config(raw)
    evaluator = EarlyStageEvaluator(
        mode="min",
        fraction=0.1,
        make_predictor=lambda: get_predictor("auto", mode="min"),
        rule=make_rule(config.early_stage, "min"),
    )
    reached, finals = {}, {}
    for run in sorted(bank.runs, key=lambda r: int(r.run_id))[:16]:
        params = {name: run.params[name] for name in config.search.space}
        trial_config = config.with_overrides({f"train.{name}": value for name, value in params.items()})
        evaluator.add(run.run_id, params)
        result = ReplayTrainer(trial_config, bank=bank).fit(_Judge(evaluator, run.run_id, "val_loss"))
        evaluator.finish(run.run_id)
        reached[run.run_id], finals[run.run_id] = float(result.curve["fraction"].iloc[-1]), run.final("val_loss")
    return evaluator, reached, finals


def test_a_replayed_search_cuts_at_each_rung_and_keeps_the_best_run(replay_bank):
    evaluator, reached, finals = _replayed_search(replay_bank, [{"fraction": 0.3, "keep": 0.34}])
    cut_late = [t for t in reached if reached[t] == pytest.approx(0.3)]
    assert cut_late and all(evaluator.verdicts[t][EARLY_DECISION_ATTR] == "pruned" for t in cut_late)
    assert all(evaluator.verdicts[t][EARLY_RUNG_ATTR] == 2 for t in cut_late)
    assert any(JUDGED_PREDICTION_ATTR in evaluator.verdicts[t] for t in cut_late)  # auto predicted their finals
    assert any(r == pytest.approx(0.1) for r in reached.values())  # the first rung cut too
    assert reached[min(finals, key=finals.get)] == 1.0  # the best of these runs ran to the end
    _, one_rung, _ = _replayed_search(replay_bank, [])
    assert sum(reached.values()) < sum(one_rung.values())  # the second rung saves compute


def test_the_predictor_is_refitted_on_every_run_while_few_then_on_a_tenth_more():
    from foretune.search.fits import refit_due as _refit_due

    assert not _refit_due(5, 5) and _refit_due(5, 6) and _refit_due(19, 20)
    assert not _refit_due(30, 32) and _refit_due(30, 33)  # 60 runs cost ~1 s to refit: not after every one


def _repeats_evaluator(mode: str, past=()) -> EarlyStageEvaluator:
    """Keeps every trial by rank (keep=1.0): only `stop_repeats` stops one."""
    rule = EarlyStageRule(
        mode=mode, rule="quantile", keep=1.0, use_upper_bound=False, grace_trials=0, stop_repeats=True
    )
    return EarlyStageEvaluator(
        mode=mode, fraction=0.1, make_predictor=lambda: get_predictor("snapshot", mode=mode), rule=rule, past=past
    )


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_trial_that_repeats_a_finished_run_is_stopped_at_its_second_evaluation(mode):
    evaluator = _repeats_evaluator(mode)
    run = oriented(mode, 1.0 - 0.1 * np.arange(10))
    assert feed_curve(evaluator, "first", run) == 1.0
    assert feed_curve(evaluator, "again", run) == pytest.approx(0.2)
    assert evaluator.verdicts["again"][EARLY_DECISION_ATTR] == "pruned"
    assert evaluator.verdicts["again"][REPEAT_OF_ATTR] == "first"
    one_equal = run[:1] + oriented(mode, [0.5]) + run[2:]  # equal at 10% only: one equal score can be chance
    assert feed_curve(evaluator, "parts_at_20", one_equal) == 1.0
    assert REPEAT_OF_ATTR not in evaluator.verdicts["parts_at_20"]
    assert feed_curve(evaluator, "near", [v + 1e-6 for v in run]) == 1.0  # not the same run


def test_a_flat_start_or_other_metrics_that_differ_are_no_repeat():
    evaluator = _repeats_evaluator("max")
    flat = [0.0, 0.0, 0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7]
    assert feed_curve(evaluator, "slow", flat) == 1.0
    assert feed_curve(evaluator, "also_at_chance_first", flat[:3] + [0.1] * 7) == 1.0  # differs at 40%, not before
    evaluator.add("b", {})
    for trial, loss in (("a", 1.0), ("b", 2.0)):  # same accuracy, another eval loss: another run
        evaluator.add(trial, {})
        for fraction, value in zip(FRACTIONS, [0.1, 0.2, 0.3] if trial == "b" else [0.1, 0.2, 0.3] * 4, strict=False):
            evaluator.observe(trial, fraction, value, {"eval_loss": loss})
            assert not evaluator.due(trial, fraction) or evaluator.judge(trial, fraction)
        if trial == "a":
            evaluator.observe(trial, 1.0, 0.9, {"eval_loss": loss})
            evaluator.finish(trial)
    assert REPEAT_OF_ATTR not in evaluator.verdicts.get("b", {})


def test_an_earlier_sessions_finished_run_is_repeated_too():
    past = Curve(FRACTIONS, 1.0 - 0.1 * np.arange(10), trial="past-0")
    evaluator = _repeats_evaluator("min", past=[EarlierTrialCurve(past, True)])
    assert feed_curve(evaluator, "new", list(past.values)) == pytest.approx(0.2)
    assert evaluator.verdicts["new"][REPEAT_OF_ATTR] == "past-0"


def test_in_a_search_a_repeat_is_the_same_config_run_again():
    """The search's scheduler asks for `repeats_need_same_config`: another config whose first evaluations agree may
    differ later (Tune's flattened config once rode along in every result's metrics and did this unsaid)."""
    run = list(1.0 - 0.1 * np.arange(10))
    past = Curve(np.array(FRACTIONS), np.array(run), params={"lr": 0.01}, trial="past-0")
    evaluator = _repeats_evaluator("min", past=[EarlierTrialCurve(past, True)])
    evaluator.repeats_need_same_config = True

    def fed(trial: str, params: dict) -> float:
        evaluator.add(trial, params)
        for fraction, value in zip(FRACTIONS, run, strict=False):
            evaluator.observe(trial, fraction, value)
            if evaluator.due(trial, fraction) and not evaluator.judge(trial, fraction):
                return float(fraction)
        evaluator.finish(trial)
        return 1.0

    assert fed("other", {"lr": 0.02}) == 1.0  # the same curve from another config runs on
    assert fed("same", {"lr": 0.01}) == pytest.approx(0.2)
    assert evaluator.verdicts["same"][REPEAT_OF_ATTR] == "past-0"
    assert fed("other-again", {"lr": 0.02}) == pytest.approx(0.2)
    assert evaluator.verdicts["other-again"][REPEAT_OF_ATTR] == "other"
    evaluator.repeats_need_same_config = False  # replays of recorded curves: the curve alone
    assert fed("any", {"lr": 0.05}) == pytest.approx(0.2)


def test_a_finished_run_refits_the_predictor_off_the_judgement():
    evaluator = _repeats_evaluator("min")
    for i in range(3):
        feed_curve(evaluator, f"t{i}", list(1.0 - 0.1 * np.arange(10) + 0.01 * i))
    assert evaluator.fit.fitted_on == 3  # refitted when t2 finished


def test_stop_repeats_in_a_replayed_search_stops_the_rerun_of_a_recorded_run(replay_bank):
    raw = replay_config_dict(replay_bank)
    raw["early_stage"] = {"predictor": "auto", "fraction": 0.1, "keep": 1.0, "stop_repeats": True}
    config = validate_config(raw)
    evaluator = EarlyStageEvaluator(
        mode="min", fraction=0.1, make_predictor=lambda: get_predictor("auto", mode="min"),
        rule=make_rule(config.early_stage, "min"),
    )  # fmt: skip
    runs = sorted(replay_bank.runs, key=lambda r: int(r.run_id))[:4]
    reached = []
    for i, run in enumerate(runs + runs[:1]):  # the first recorded run, replayed again at the end
        params = {name: run.params[name] for name in config.search.space}
        trial_config = config.with_overrides({f"train.{name}": value for name, value in params.items()})
        evaluator.add(str(i), params)
        result = ReplayTrainer(trial_config, bank=replay_bank).fit(_Judge(evaluator, str(i), "val_loss"))
        evaluator.finish(str(i))
        reached.append(float(result.curve["fraction"].iloc[-1]))
    assert reached == [1.0, 1.0, 1.0, 1.0, pytest.approx(0.2)]
    assert evaluator.verdicts["4"][REPEAT_OF_ATTR] == "0"


def _searched(searcher, evaluator, trial: str, values, mode: str) -> None:
    """One trial through the searcher and the evaluator as `EarlyStageScheduler` drives them (no Ray)."""
    searcher.suggest(trial)
    reached = feed_curve(evaluator, trial, values)
    for fraction, value in zip(FRACTIONS, values, strict=False):
        if fraction <= reached:
            searcher.on_trial_result(trial, {FRACTION_KEY: float(fraction), "loss": value})
    searcher.notes.verdicts[trial] = evaluator.verdicts.get(trial, {})
    searcher.on_trial_complete(trial, {FRACTION_KEY: reached, "loss": values[int(round(reached * 10)) - 1]})


def other_values(mode: str) -> list[float]:
    return oriented(mode, 2.0 - 0.1 * np.arange(10))


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_stopped_repeat_is_complete_in_the_study_with_the_final_of_the_run_it_reran(mode):
    storage = optuna.storages.InMemoryStorage()
    searcher = PrunedAwareOptunaSearch(
        {"x": FloatDistribution(0.0, 1.0)}, metric="loss", mode=mode, study_name="repeats", storage=storage
    )
    run = oriented(mode, 1.0 - 0.05 * np.arange(10))
    _searched(searcher, _repeats_evaluator(mode), "first", run, mode)  # a fresh evaluator: only the study is shared
    evaluator = _repeats_evaluator(mode)
    _searched(searcher, evaluator, "other", other_values(mode), mode)
    _searched(searcher, evaluator, "again", other_values(mode), mode)
    study = optuna.load_study(study_name="repeats", storage=storage)
    first, other, again = study.trials
    assert (first.state, other.state) == (TrialState.COMPLETE, TrialState.COMPLETE)
    assert again.state == TrialState.COMPLETE and again.value == other.value  # the known final, not its 20% score
    assert again.user_attrs[FRACTION_REACHED_ATTR] == pytest.approx(0.2)
    assert again.user_attrs[REPEAT_OF_ATTR] == str(other.number)  # its number, not Tune's id ("other")
    notes = storage.get_study_system_attrs(study._study_id)
    assert f"Stopped as a repeat of trial {other.number} " in get_note_from_system_attrs(notes, again._trial_id)["body"]
    assert list(again.intermediate_values) == [10, 20]  # its own curve only
    assert [p.finished for p in past_trials(study)] == [True, True, False]  # a resumed search fits no 20% "final"
    resumed = PrunedAwareOptunaSearch(
        {"x": FloatDistribution(0.0, 1.0)}, metric="loss", mode=mode, study_name="repeats", storage=storage
    )  # an earlier session's trial is repeated: `repeat_of` is its number
    _searched(resumed, _repeats_evaluator(mode, past=past_trials(study)), "later", list(other_values(mode)), mode)
    later = optuna.load_study(study_name="repeats", storage=storage).trials[-1]
    assert later.state == TrialState.COMPLETE and later.value == other.value and later.user_attrs[REPEAT_OF_ATTR] == "1"


@pytest.mark.parametrize("mode", ["max", "min"])
def test_an_optimistic_first_rung_and_a_strict_later_one(mode):
    """`rungs[].use_upper_bound: false` under `use_upper_bound: true`: the first rung ranks the optimistic end of the
    interval, the later one the predicted final; a rung that says nothing follows `use_upper_bound`."""
    raw = {"fraction": 0.1, "keep": 0.5, "use_upper_bound": True}
    raw["rungs"] = [{"fraction": 0.3, "keep": 0.5, "use_upper_bound": False}, {"fraction": 0.5, "keep": 0.5}]  # 1 of 2
    rule = make_rule(validate_config({"early_stage": raw}).early_stage, mode)
    assert rule.later_upper_bound == (False, None)
    assert [rule.optimistic(rung) for rung in (0, 1, 2)] == [True, False, True]
    # predicted worse than the other trial, its optimistic end better: on at the first rung, cut at the strict one
    mean, lower, upper = oriented(mode, [1.0, 0.4, 1.6]) if mode == "min" else oriented(mode, [1.0, 1.6, 0.4])
    others = oriented(mode, [0.8])
    assert rule.decide(mean=mean, lower=lower, upper=upper, others=others, rung=0).keep
    assert not rule.decide(mean=mean, lower=lower, upper=upper, others=others, rung=1).keep
    assert rule.decide(mean=mean, lower=lower, upper=upper, others=others, rung=2).keep
    with pytest.raises(ValueError, match="later_upper_bound"):
        EarlyStageRule(mode=mode, later_rungs=[(0.3, 2)], later_upper_bound=[True, False])


def test_the_probability_rules_rank_cut_ranks_the_optimistic_end_with_use_upper_bound():
    early = {"rule": "probability", "rank_cut": 0.2, "k": 3, "stop_from": 0.3}
    assert not make_rule(validate_config({"early_stage": early}).early_stage, "min").rank_cut_upper_bound
    hopeful = make_rule(validate_config({"early_stage": early | {"use_upper_bound": True}}).early_stage, "min")
    assert hopeful.rank_cut_upper_bound
