"""Which completed trials score the test split (foretune/search/best_so_far.py): those that lead at completion."""

from __future__ import annotations

import math

import pytest

from foretune.search.best_so_far import BestSoFar, claims_lead, leads, start_best_so_far


def test_one_objective_leads_when_nothing_recorded_is_better_ties_lead():
    assert leads([0.5], [], ["max"])
    assert leads([0.5], [[0.4], [0.5]], ["max"])  # a tie leads: the best of tied trials keeps its test score
    assert not leads([0.5], [[0.4], [0.6]], ["max"])
    assert leads([1.2], [[1.3]], ["min"]) and not leads([1.4], [[1.3]], ["min"])


def test_several_objectives_lead_unless_dominated():
    modes = ["max", "min"]  # accuracy up, cost down
    assert leads([0.7, 5.0], [[0.8, 9.0], [0.6, 4.0]], modes)  # on the front: neither dominates it
    assert not leads([0.7, 5.0], [[0.8, 5.0]], modes)  # as cheap and better
    assert leads([0.7, 5.0], [[0.7, 5.0]], modes)  # the same point


def test_the_board_records_each_final_and_starts_from_earlier_ones():
    board = BestSoFar(["max"], earlier=[[0.6]])  # a resumed search: the study's complete trials
    answers = [board.claim([v]) for v in (0.5, 0.65, 0.64, 0.7, 0.7)]
    assert answers == [False, True, False, True, True]
    assert not board.claim([math.nan]) and not board.claim([None]) and not board.claim([0.1, 0.2])
    assert board.finals == [[0.6], [0.5], [0.65], [0.64], [0.7], [0.7]]  # nothing unusable recorded
    board.withdraw([0.7]), board.withdraw([0.7])  # both trials at 0.7 failed in their test pass
    assert board.claim([0.66])  # so a later 0.66 leads the complete trials and is scored


@pytest.mark.slow
def test_trials_ask_one_ray_actor(ray_session):
    board = start_best_so_far(["min"], [])
    assert [claims_lead(board, [v]) for v in (2.0, 3.0, 1.5, 1.5)] == [True, False, True, True]
    assert claims_lead(None, [9.0])  # no board (a trial run outside a search): always scored


@pytest.mark.slow
def test_a_trial_leads_only_when_it_leads_the_other_drivers_trials_too(ray_session, tmp_path):
    """Several drivers on one study: each driver's board also records the finals the other drivers' trials reach
    (read from the study's storage), so a trial that only leads its own driver's trials is not test-scored."""
    import optuna
    from optuna.distributions import FloatDistribution

    from foretune.keys import DRIVER_ATTR
    from foretune.search.drivers import driver_tag
    from foretune.search.other_drivers_finals import OtherDriversFinals
    from foretune.search.storage import open_storage

    study = optuna.create_study(study_name="shared", storage=open_storage(str(tmp_path / "j")), direction="maximize")
    for tag, value in (("other-host:1:0-1", 0.9), (driver_tag(), 0.95)):  # the second: this driver's own trial
        trial = study.ask({"x": FloatDistribution(0, 1)})
        trial.set_user_attr(DRIVER_ATTR, tag)
        study.tell(trial, value)
    board = start_best_so_far(["max"], [])
    OtherDriversFinals(board, study, driver_tag(), known=set(), every_s=0).on_step_begin(0, [])
    assert not claims_lead(board, [0.8])  # beaten by the other driver's 0.9
    assert claims_lead(board, [0.92])  # this driver's own 0.95 is its trial's claim to make, not read back


def test_the_report_says_which_complete_trials_carry_test_scores():
    import pandas as pd

    from foretune.search.held_out_report import scored_trials_line

    table = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3],
            "state": ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"],
            "test_accuracy": [0.5, None, None, 0.7],
        }
    )
    line = scored_trials_line(table)
    assert line.startswith("Test split scored for 2 of 3 complete trials (0, 3): only a trial that led")
    assert scored_trials_line(table.assign(test_accuracy=[0.5, 0.4, None, 0.7])) is None  # every one: nothing to say
    assert scored_trials_line(table.drop(columns="test_accuracy")) is None  # no test split in this search


def test_a_best_trial_without_test_scores_is_said_so_with_no_number(tmp_path):
    """Where the leader before it failed in its test pass, the best complete trial has no test scores: the report
    says so instead of leaving the held-out section out silently."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from foretune.keys import ZERO_SHOT_ATTR
    from foretune.search.report import build_report

    study = optuna.create_study(direction="maximize")
    space = {"learning_rate": FloatDistribution(1e-4, 1e-2, log=True)}
    for value, test in ((0.5, {"test_accuracy": 0.45}), (0.7, {})):
        study.add_trial(create_trial(value=value, params={"learning_rate": 1e-3}, distributions=space, user_attrs=test))
    study.set_user_attr(ZERO_SHOT_ATTR, {"accuracy": 0.05})
    text = build_report(study, tmp_path).files["markdown"].read_text()
    assert "The best trial (1) has no test scores" in text and "held-out test (" not in text
