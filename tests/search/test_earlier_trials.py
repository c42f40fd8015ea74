"""Several drivers on one study: a driver's evaluator ranks against, and learns from, the trials the other drivers
end while it runs (read from the study's storage, a journal file here), never its own twice."""

from __future__ import annotations

import logging
from functools import partial

import optuna
from optuna.distributions import FloatDistribution

from foretune.keys import (
    DRIVER_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FINISHED_USED_ATTR,
    EARLY_JUDGED_WITH_ATTR,
    FRACTION_KEY,
    STEP_KEY,
)
from foretune.predictors import get_predictor
from foretune.search.drivers import driver_tag
from foretune.search.evaluator import EarlyStageEvaluator, VerdictsAndErrors
from foretune.search.rule import EarlyStageRule
from foretune.search.storage import open_storage, past_trials
from tests.search.conftest import FRACTIONS, replay_config_dict

OTHER_DRIVER = "other-host:4242:0-1"


def _evaluator(peers) -> EarlyStageEvaluator:
    rule = EarlyStageRule(mode="min", rule="top_k", keep=1, use_upper_bound=False, grace_trials=0)
    evaluator = EarlyStageEvaluator(
        mode="min", fraction=0.2, make_predictor=lambda: get_predictor("snapshot", mode="min"), rule=rule, peers=peers
    )
    return evaluator  # it reads the storage at every first verdict, and at most every 10 s besides


def _judge_at_20(evaluator: EarlyStageEvaluator, trial: str, values) -> dict:
    evaluator.add(trial, {"x": 0.5})
    for fraction, value in zip(FRACTIONS[:2], values, strict=True):
        evaluator.observe(trial, fraction, value)
        if evaluator.due(trial, fraction):
            evaluator.judge(trial, fraction)
    return evaluator.verdicts[trial]


def _record(study: optuna.Study, tag: str, values, *, ended: str | None) -> None:
    """A trial as a driver's searcher records it: tagged with the driver, its curve at budget percents, then
    `ended` "complete", "pruned" or None (still running)."""
    trial = study.ask({"x": FloatDistribution(0, 1)})
    trial.set_user_attr(DRIVER_ATTR, tag)
    for fraction, value in zip(FRACTIONS, values, strict=False):
        trial.report(value, int(round(fraction * 100)))
    if ended == "complete":
        study.tell(trial, values[-1])
    elif ended == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def test_a_driver_judges_with_the_runs_other_drivers_end_meanwhile(tmp_path):
    journal = str(tmp_path / "study.journal")
    ours = optuna.create_study(study_name="shared", storage=open_storage(journal), direction="minimize")
    tag = driver_tag()
    evaluator = _evaluator(partial(past_trials, ours, other_than=tag))

    first = _judge_at_20(evaluator, "a", [1.0, 0.9])
    assert first[EARLY_DECISION_ATTR] == "kept" and first[EARLY_JUDGED_WITH_ATTR] == 1
    assert first[EARLY_FINISHED_USED_ATTR] == 0

    # Meanwhile another driver, with its own handle on the journal (as another process has), ends four trials and
    # runs a fifth, all better at 20% than the next one this driver judges; and this driver's searcher records its
    # trial "a" (finished) and "c" (running).
    theirs = optuna.load_study(study_name="shared", storage=open_storage(journal))
    for start in (0.5, 0.55, 0.6):
        _record(theirs, OTHER_DRIVER, [start, start - 0.1, *[start - 0.2] * 8], ended="complete")
    _record(theirs, OTHER_DRIVER, [0.7, 0.65], ended="pruned")
    _record(theirs, OTHER_DRIVER, [0.6, 0.5, 0.45], ended=None)
    _record(ours, tag, [1.0, 0.9, *[0.8] * 8], ended="complete")
    _record(ours, tag, [0.4, 0.3], ended=None)

    second = _judge_at_20(evaluator, "b", [0.9, 0.8])  # better than "a": alone with it, it would be kept
    assert second[EARLY_FINISHED_USED_ATTR] == 3  # the other driver's three finished runs, not "a" again
    assert second[EARLY_JUDGED_WITH_ATTR] == 7  # itself, "a" and the other driver's five trials (not "c" twice)
    assert second[EARLY_DECISION_ATTR] == "pruned"  # ranked 6th of 7, keep 1

    alone = _evaluator(None)  # what a driver knew before: its own trials only
    _judge_at_20(alone, "a", [1.0, 0.9])
    assert _judge_at_20(alone, "b", [0.9, 0.8])[EARLY_DECISION_ATTR] == "kept"


def test_a_storage_that_cannot_be_read_leaves_the_judgement_to_the_drivers_own_trials(caplog):
    def unreachable():
        raise OSError("connection refused")

    evaluator = _evaluator(unreachable)
    with caplog.at_level(logging.WARNING, logger="foretune.search.earlier_trials"):
        verdict = _judge_at_20(evaluator, "a", [1.0, 0.9])
    assert verdict[EARLY_DECISION_ATTR] == "kept" and verdict[EARLY_JUDGED_WITH_ATTR] == 1
    assert "could not read the other drivers' trials" in caplog.text and "connection refused" in caplog.text


def test_a_running_trial_reaches_the_other_drivers_with_its_other_metrics(replay_bank, tmp_path):
    """The searcher writes each evaluation as it comes, other metrics included, so that another driver can rank
    against the trial before it ends (and predict it from its eval loss, as it would its own trials)."""
    from foretune.config import validate_config
    from foretune.search.tuner import build_searcher

    journal = str(tmp_path / "study.journal")
    config = validate_config(replay_config_dict(replay_bank))
    optuna.create_study(study_name="shared", storage=open_storage(journal), direction="minimize")
    searcher = build_searcher(config, storage=open_storage(journal), study_name="shared", notes=VerdictsAndErrors())
    assert searcher.suggest("ray-trial-1")
    searcher.on_trial_result("ray-trial-1", {FRACTION_KEY: 0.1, "val_loss": 1.2, "train_loss": 1.5, STEP_KEY: 2})
    searcher.on_trial_result("ray-trial-1", {FRACTION_KEY: 0.2, "val_loss": 1.0, "train_loss": 1.3, STEP_KEY: 4})

    other_driver = optuna.load_study(study_name="shared", storage=open_storage(journal))
    [running] = past_trials(other_driver, other_than=OTHER_DRIVER)
    assert not running.finished and list(running.curve.fractions) == [0.1, 0.2]
    assert list(running.curve.values) == [1.2, 1.0] and list(running.curve.extras["train_loss"]) == [1.5, 1.3]


def test_the_storage_reader_stays_out_of_a_pickled_scheduler(tmp_path):
    """Ray pickles the scheduler into tuner.pkl: the reader's study and storage (a database URL with its password)
    must not go with it (test_postgres.py checks the files of a real search)."""
    import pickle

    study = optuna.create_study(study_name="shared", storage=open_storage(str(tmp_path / "study.journal")))
    evaluator = _evaluator(partial(past_trials, study, other_than=driver_tag()))
    restored = pickle.loads(pickle.dumps(evaluator.earlier))
    assert restored._read_peers is None and b"study.journal" not in pickle.dumps(evaluator.earlier)


def _their_evaluations(searcher, ray_id: str, accuracy: float, hours_per_tenth: float) -> dict:
    """Another driver's trial (a real multi-objective searcher, own handle on the journal) at 10% and 20%."""
    assert searcher.suggest(ray_id)
    for fraction in (0.1, 0.2):
        result = {FRACTION_KEY: fraction, "accuracy": accuracy * fraction / 0.2, "eval_loss": 2.0 - accuracy}
        searcher.on_trial_result(ray_id, result | {"cost.device_hours": hours_per_tenth * fraction / 0.1})
    return result | {"cost.device_hours": hours_per_tenth * 2}


def test_with_several_objectives_a_driver_judges_dominance_with_the_study_s_other_trials(tmp_path):
    """Several objectives: a trial is stopped when enough judged trials dominate its predicted objectives; those of
    another driver (running or ended) and of an earlier session count, judged on the costs they recorded."""
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from foretune.config import validate_config
    from foretune.keys import PARETO_DOMINATED_BY_ATTR, PARETO_PREDICTED_ATTR
    from foretune.search.tuner import build_scheduler, build_searcher

    objectives = [{"metric": "accuracy", "mode": "max"}, {"metric": "cost.device_hours", "mode": "min"}]
    early = {"fraction": 0.2, "predictor": "snapshot", "rule": "quantile", "keep": 0.5, "grace_trials": 1}
    space = {"learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-2}}
    config = validate_config({"early_stage": early, "search": {"objectives": objectives, "space": space}})
    journal = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="shared", storage=open_storage(journal), directions=["maximize", "minimize"])
    theirs = build_searcher(config, storage=open_storage(journal), study_name="shared", notes=VerdictsAndErrors())
    stopped = _their_evaluations(theirs, "their-1", accuracy=0.6, hours_per_tenth=0.01)
    theirs.on_trial_complete("their-1", stopped)  # stopped at 20%: PRUNED, with its costs
    _their_evaluations(theirs, "their-2", accuracy=0.55, hours_per_tenth=0.02)  # still running

    def judge_mine(scheduler) -> tuple[str, dict]:
        # what the scheduler reads of Ray's trial: its id and config
        mine = SimpleNamespace(trial_id="mine", config={"learning_rate": 1e-3})
        scheduler.on_trial_add(None, mine)
        for fraction in (0.1, 0.2):  # worse and dearer than both of theirs at 20%
            result = {FRACTION_KEY: fraction, "accuracy": 0.3, "eval_loss": 1.9, "cost.device_hours": fraction / 4}
            decision = scheduler.on_trial_result(None, mine, result)
        return decision, scheduler.evaluator.verdicts["mine"]

    decision, verdict = judge_mine(
        build_scheduler(config, notes=VerdictsAndErrors(), peers=partial(past_trials, study, other_than=driver_tag()))
    )
    assert decision == TrialScheduler.STOP and verdict[EARLY_DECISION_ATTR] == "pruned"
    assert verdict[EARLY_JUDGED_WITH_ATTR] == 3 and verdict[PARETO_DOMINATED_BY_ATTR] == 2  # both of theirs
    assert verdict[PARETO_PREDICTED_ATTR] == {"accuracy": 0.3, "cost.device_hours": 0.25}  # extrapolated from 20%

    # A resumed session: the ended trial of the earlier one dominates (of 2 judged, 1 may dominate a trial).
    decision, verdict = judge_mine(build_scheduler(config, notes=VerdictsAndErrors(), past=past_trials(study)))
    assert decision == TrialScheduler.STOP and verdict[PARETO_DOMINATED_BY_ATTR] == 1

    decision, verdict = judge_mine(build_scheduler(config, notes=VerdictsAndErrors()))  # alone: its first trial
    assert decision == TrialScheduler.CONTINUE and verdict[EARLY_DECISION_ATTR] == "grace"
