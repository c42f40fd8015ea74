"""Pareto front, knee and the several-objective verdict: pure functions on plain numbers."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from foretune.search.pareto import (
    ParetoJudge,
    dominated_count,
    dominates,
    front_ranks,
    knee_index,
    pareto_verdict,
    predicted_point,
)

MODES = ["max", "min"]  # accuracy up, cost down


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.9, 1.0), (0.8, 2.0), True),  # better in both
        ((0.9, 1.0), (0.9, 2.0), True),  # tie in one, better in the other
        ((0.9, 1.0), (0.9, 1.0), False),  # equal: no domination
        ((0.9, 3.0), (0.8, 2.0), False),  # a trade-off
    ],
)
def test_dominates_respects_each_direction(a, b, expected):
    assert dominates(a, b, MODES) is expected
    flipped = [(-x, -y) for x, y in (a, b)]  # the same points with both directions turned round
    assert dominates(*flipped, ["min", "max"]) is expected


def test_front_ranks_peel_fronts_in_order():
    points = [(0.9, 3.0), (0.8, 1.0), (0.7, 2.0), (0.6, 4.0), (0.85, 2.0)]
    # front: (0.9,3) (0.8,1) (0.85,2); then (0.7,2); then (0.6,4)
    assert front_ranks(points, MODES).tolist() == [1, 1, 2, 3, 1]
    assert dominated_count((0.6, 4.0), points[:3], MODES) == 3


def test_knee_is_the_balanced_point_of_the_front():
    front = [(0.95, 10.0), (0.90, 1.1), (0.50, 1.0)]  # almost the best score at almost the least cost
    assert knee_index(front, MODES) == 1
    assert knee_index([(0.5, 1.0)], MODES) == 0
    assert knee_index([(0.0, 0.04), (0.67, 0.09)], MODES) == 1  # two points tie: the better first objective
    assert knee_index([], MODES) is None


def test_cumulative_costs_are_extrapolated_from_the_fraction_trained():
    observed = {"cost.device_hours": 0.2, "cost.latency_ms": 30.0}
    assert predicted_point(["accuracy", "cost.device_hours"], 0.7, observed, 0.25) == pytest.approx((0.7, 0.8))
    assert predicted_point(["accuracy", "cost.latency_ms"], 0.7, observed, 0.25) == (0.7, 30.0)
    assert predicted_point(["accuracy", "cost.usd"], 0.7, observed, 0.25) is None  # never reported


def test_verdict_prunes_a_trial_dominated_by_enough_judged_trials():
    others = [(0.9, 1.0), (0.85, 1.5)]
    dominated = pareto_verdict((0.8, 2.0), others, MODES, allowed=2, grace_trials=1)
    assert (dominated.keep, dominated.dominated_by, dominated.reason) == (False, 2, "pruned")
    assert pareto_verdict((0.8, 2.0), others, MODES, allowed=3, grace_trials=1).keep  # more are allowed
    assert pareto_verdict((0.8, 2.0), others, MODES, allowed=1, grace_trials=3).reason == "grace"
    assert pareto_verdict((0.95, 2.0), others, MODES, allowed=1, grace_trials=1).reason == "kept"  # a trade-off


def test_judge_uses_predicted_first_objective_and_extrapolated_cost():
    judge = ParetoJudge(["accuracy", "cost.device_hours"], MODES, allowed=lambda n: 1, grace_trials=1)
    judge.observe("cheap", 1.0, {"accuracy": 0.8, "cost.device_hours": 1.0, "other": 3})
    judge.observe("dear", 0.2, {"accuracy": 0.9, "cost.device_hours": 0.4})  # 2.0 at the full budget
    # Predicted 0.7 final and twice the cost: dominated by the cheap trial.
    keep, reason, attributes = judge.decide("dear", {"dear": 0.7, "cheap": 0.8})
    assert (keep, reason) == (False, "pruned")
    assert attributes["early_dominated_by"] == 1
    assert attributes["early_predicted_objectives"] == pytest.approx({"accuracy": 0.7, "cost.device_hours": 2.0})
    keep, _, _ = judge.decide("dear", {"dear": 0.85, "cheap": 0.8})  # a better predicted score: a trade-off
    assert keep


def test_report_of_a_two_objective_study_writes_the_front(tmp_path):
    """A real multi-objective Optuna study (trials added, not trained): pareto.csv, pareto.png, best.yaml = knee."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState, create_trial

    from foretune.cli.search import write_report
    from foretune.config import validate_config

    config = validate_config(
        {
            "early_stage": {"fraction": 0.2},  # the curves below are scored at 20% and 100%
            "search": {
                "objectives": [{"metric": "accuracy", "mode": "max"}, {"metric": "cost.device_hours", "mode": "min"}],
                "space": {"model.name": {"type": "categorical", "choices": ["big", "small"]}},
            },
        }
    )
    study = optuna.create_study(directions=["maximize", "minimize"])
    with warnings.catch_warnings():  # "experimental" in Optuna 5.0, and what the dashboard shows
        warnings.simplefilter("ignore")
        study.set_metric_names(["accuracy", "cost.device_hours"])
    study.set_user_attr("foretune_config", config.model_dump(mode="json"))
    models = CategoricalDistribution(["big", "small"])
    for model, accuracy, hours in [("big", 0.9, 4.0), ("small", 0.85, 1.0), ("small", 0.6, 1.2), ("big", 0.5, 0.5)]:
        attrs = {"cost.device_hours": hours, "curve": {"20": accuracy - 0.1, "100": accuracy}, "fraction_reached": 1.0}
        study.add_trial(
            create_trial(
                values=[accuracy, hours],
                params={"model.name": model},
                distributions={"model.name": models},
                user_attrs=attrs,
            )
        )
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            params={"model.name": "big"},
            distributions={"model.name": models},
            user_attrs={"cost.device_hours": 0.3, "curve": {"20": 0.2}, "fraction_reached": 0.2},
        )
    )
    report = write_report(study, tmp_path)
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert sorted(front["trial"]) == [0, 1, 3]  # trial 2 is dominated by trial 1; the pruned trial has no values
    assert front.loc[front["knee"], "trial"].tolist() == [1]  # nearly the best accuracy at a quarter of the cost
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert report.best["number"] == 1 and "model:\n  name: small" in (tmp_path / "best.yaml").read_text()
    assert "## Pareto front" in (tmp_path / "report.md").read_text()
    table = report.table.set_index("trial")
    assert table.loc[4, "early_score"] == 0.2 and table.loc[1, "final"] == 0.85  # curves from the `curve` attribute
    assert table.loc[4, "cost.device_hours"] == 0.3
