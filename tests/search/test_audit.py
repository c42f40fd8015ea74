"""`early_stage.audit_every`: a fair sample of the pruning verdicts is overridden and run to the end, so a study
checks its own verdict (foretune/search/audit.py): the draw, the evaluator on plain curves, the report's
sentences, the estimate's projection, and a replayed search through Ray."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from foretune.config import validate_config
from foretune.errors import ForetuneError
from foretune.keys import (
    CONFIG_ATTR,
    EARLY_DECISION_ATTR,
)
from foretune.predictors import get_predictor
from foretune.search.audit import AUDIT, AuditDraw, audited_best_line
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.report import trials_table, verdict_summary
from foretune.search.rule import make_rule
from foretune.search.run_costs import keep_probabilities, rung_probabilities
from tests.search.conftest import feed_curve, judged_trial, replay_config_dict


def test_one_in_every_k_verdicts_is_drawn_and_the_first_at_random():
    offsets = set()
    for seed in range(12):
        draw = AuditDraw(3, seed)
        chosen = [draw.overrides() for _ in range(30)]
        assert sum(chosen) == 10  # exactly one in every block of three
        first = chosen.index(True)
        assert all(chosen[i] == (i % 3 == first) for i in range(30))
        offsets.add(first)
        again = AuditDraw(3, seed)
        assert [again.overrides() for _ in range(30)] == chosen  # seeded: the same search draws the same
    assert offsets == {0, 1, 2}  # the first one is drawn, not always the first verdict
    with pytest.raises(ValueError, match="audit_every"):
        AuditDraw(0, 0)
    with pytest.raises(ForetuneError, match="audit_every"):
        validate_config({"early_stage": {"audit_every": -1}})


def _search_on_curves(curves: list[list[float]], every: int | None) -> tuple[EarlyStageEvaluator, list[float]]:
    """Each curve fed in turn to an evaluator judging at 20% (the top third continue, one grace trial)."""
    config = validate_config({"early_stage": {"fraction": 0.2, "keep": 0.34, "grace_trials": 1}})
    evaluator = EarlyStageEvaluator(
        mode="max",
        fraction=0.2,
        make_predictor=lambda: get_predictor("snapshot", mode="max"),
        rule=make_rule(config.early_stage, "max"),
        audit=None if every is None else AuditDraw(every, seed=0),
    )
    return evaluator, [feed_curve(evaluator, f"t{i}", values) for i, values in enumerate(curves)]


def test_an_audited_trial_runs_to_its_end_and_is_never_judged_again():
    rng = np.random.default_rng(0)
    curves = [list(np.cumsum(rng.uniform(0.0, 0.1, 10))) for _ in range(12)]
    plain, reached_plain = _search_on_curves(curves, None)
    pruned_plain = [r < 1.0 for r in reached_plain]
    assert sum(pruned_plain) >= 6  # the rule prunes most of them
    audited, reached = _search_on_curves(curves, 2)
    decisions = [audited.verdicts[f"t{i}"][EARLY_DECISION_ATTR] for i in range(len(curves))]
    overridden = [i for i, d in enumerate(decisions) if d == AUDIT]
    stopped = [i for i, d in enumerate(decisions) if d == "pruned"]
    assert overridden and all(reached[i] == 1.0 for i in overridden)
    assert all(reached[i] == pytest.approx(0.2) for i in stopped)
    assert abs(len(overridden) - len(stopped)) <= 1  # one in every two stop verdicts
    assert not any(audited.due(f"t{i}", 0.5) for i in overridden)
    # every trial run to its end: each predicted at 20% like the others, none stopped
    everyone, reached_all = _search_on_curves(curves, 1)
    assert reached_all == [1.0] * len(curves)
    assert {everyone.verdicts[f"t{i}"][EARLY_DECISION_ATTR] for i in range(1, len(curves))} <= {"kept", AUDIT}


def test_the_probability_rule_is_audited_at_any_evaluation_it_would_stop():
    rng = np.random.default_rng(0)
    curves = [list(np.cumsum(rng.uniform(0.0, 0.1, 10))) for _ in range(12)]
    config = validate_config({"early_stage": {"fraction": 0.2, "rule": "probability", "grace_trials": 3}})
    evaluator = EarlyStageEvaluator(
        mode="max",
        fraction=0.2,
        make_predictor=lambda: get_predictor("auto", mode="max"),
        rule=make_rule(config.early_stage, "max"),
        audit=AuditDraw(2, seed=0),
    )
    reached = [feed_curve(evaluator, f"t{i}", values) for i, values in enumerate(curves)]
    decisions = [evaluator.verdicts[f"t{i}"][EARLY_DECISION_ATTR] for i in range(len(curves))]
    overridden = [i for i, d in enumerate(decisions) if d == AUDIT]
    stopped = [i for i, d in enumerate(decisions) if d == "pruned"]
    assert len(overridden) >= 2 and abs(len(overridden) - len(stopped)) <= 1
    assert all(reached[i] == 1.0 for i in overridden) and all(reached[i] < 1.0 for i in stopped)


def test_the_report_says_what_the_audited_finals_showed():
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(CONFIG_ATTR, {"early_stage": {"audit_every": 3}})
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.80, 0.30, decision="grace"))
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.60, 0.20, predicted=(0.5, 0.6, 0.7), decision=AUDIT))  # inside
    study.add_trial(judged_trial(TrialState.COMPLETE, 0.30, 0.10, predicted=(0.4, 0.5, 0.6), decision=AUDIT))  # outside
    for _ in range(4):
        study.add_trial(
            judged_trial(TrialState.PRUNED, 0.1, 0.1, predicted=(0.2, 0.3, 0.4), reached=0.2, decision="pruned")
        )
    lines = verdict_summary(trials_table(study), "max", study)
    assert (
        "Audit: 2 of 6 pruning verdicts overridden (one in every 3, drawn at random), trial(s) 1, 2 run to the end to"
        " check the verdict." in lines
    )
    assert "Audit: 1 of 2 audited finals inside their 80% interval." in lines
    assert "Audit: no audited final beat the best final of the trials the verdict kept (0.8)." in lines
    assert any(line.startswith("Best configuration kept: likely") for line in lines)
    study.add_trial(
        judged_trial(TrialState.COMPLETE, 0.90, 0.12, predicted=(0.3, 0.4, 0.5), decision=AUDIT)
    )  # the verdict's miss
    lines = verdict_summary(trials_table(study), "max", study)
    assert (
        "Audit: the verdict would have stopped trial(s) 7, whose final(s) beat the best of the trials it kept (0.8)."
        in lines
    )
    assert (
        "Best configuration kept: no (the best final, trial 7's 0.9, is an audited trial's: the verdict would have"
        " stopped it; the best of the trials it kept ended at 0.8, 0.1 lower)." in lines
    )
    study.set_user_attr(CONFIG_ATTR, {"early_stage": {"audit_every": 0}})
    assert not any(line.startswith("Audit") for line in verdict_summary(trials_table(study), "max", study))
    early = optuna.create_study(direction="maximize")  # audited, none of its trials drawn yet
    early.set_user_attr(CONFIG_ATTR, {"early_stage": {"audit_every": 3}})
    early.add_trial(judged_trial(TrialState.COMPLETE, 0.80, 0.30, decision="grace"))
    early.add_trial(
        judged_trial(TrialState.PRUNED, 0.1, 0.1, predicted=(0.2, 0.3, 0.4), reached=0.2, decision="pruned")
    )
    lines = verdict_summary(trials_table(early), "max", early)
    assert "Audit (one in every 3 pruning verdicts): none drawn yet among 1 pruning verdict(s)." in lines


def test_a_lost_best_loss_says_how_much_higher_the_kept_one_ended():
    table = pd.DataFrame(
        {
            "trial": [0, 1, 2],
            "state": ["COMPLETE"] * 3,
            "final": [0.50, 0.42, 0.47],
            "early_decision": ["grace", AUDIT, "kept"],
            "final_in_interval": [None, True, None],
        }
    )
    assert audited_best_line(table, "min") == (
        "Best configuration kept: no (the best final, trial 1's 0.42, is an audited trial's: the verdict would have"
        " stopped it; the best of the trials it kept ended at 0.47, 0.05 higher)."
    )
    assert audited_best_line(table, "max") is None  # the best score (0.50) was kept


def test_the_estimate_projects_the_audited_trials_to_the_end():
    base = {"search": {"trials": 12}, "early_stage": {"keep": 0.25, "grace_trials": 2}}
    plain = keep_probabilities(validate_config(base), 12)
    halves = keep_probabilities(validate_config({**base, "early_stage": {**base["early_stage"], "audit_every": 2}}), 12)
    everyone = keep_probabilities(
        validate_config({**base, "early_stage": {**base["early_stage"], "audit_every": 1}}), 12
    )
    assert everyone == pytest.approx([1.0] * 12)
    assert halves == pytest.approx([p + (1 - p) / 2 for p in plain])
    rungs = {**base["early_stage"], "rungs": [{"fraction": 0.5, "keep": 0.5}], "audit_every": 1}
    assert [
        row[-1] for row in rung_probabilities(validate_config({**base, "early_stage": rungs}), 12)
    ] == pytest.approx([1.0] * 12)


@pytest.mark.slow
def test_a_search_with_an_audit_completes_a_sample_of_what_it_would_prune(ray_session, replay_bank, tmp_path):
    from foretune.search.driver import run_search

    raw = replay_config_dict(replay_bank)
    raw["early_stage"] |= {"predictor": "auto", "audit_every": 2}
    outcome = run_search(
        validate_config(raw), out=tmp_path, trainer_factory=replay_bank.trainer_factory(), progress=False
    )
    table = outcome.report.table
    audited = table[table["early_decision"] == AUDIT]
    pruned = table[table["early_decision"] == "pruned"]
    assert len(audited) >= 1 and abs(len(audited) - len(pruned)) <= 1
    assert set(audited["state"]) == {"COMPLETE"} and set(audited["fraction_reached"]) == {1.0}
    assert set(pruned["state"]) == {"PRUNED"}
    lines = (tmp_path / "report.md").read_text()
    assert f"{len(audited)} of {len(audited) + len(pruned)} pruning verdicts overridden (one in every 2" in lines
    assert "Audit: " in lines and "audited final" in lines


@pytest.mark.slow
def test_one_trial_at_a_time_the_same_seed_repeats_the_search_trial_for_trial(ray_session, replay_bank, tmp_path):
    """Side by side, which of two trials reports first decides what the sampler and the verdict see (default_job.md,
    round 46); one at a time nothing but the seed does: the same trials, verdicts, audits and predictions again."""
    from foretune.search.driver import run_search

    raw = replay_config_dict(replay_bank, max_concurrent_trials=1, trials=10)
    raw["early_stage"] |= {"predictor": "auto", "audit_every": 2}
    columns = ["trial", "state", "early_decision", "predicted_final", "predicted_lower", "final"]
    tables = []
    for run in ("first", "again"):
        outcome = run_search(
            validate_config(raw), out=tmp_path / run, trainer_factory=replay_bank.trainer_factory(), progress=False
        )
        table = outcome.report.table.sort_values("trial").reset_index(drop=True)
        tables.append(table[columns + [c for c in table.columns if c.startswith("param.")]])
    assert {AUDIT, "pruned"} <= set(tables[0]["early_decision"])  # the verdict and its audit were both exercised
    assert tables[0]["predicted_final"].notna().sum() >= 3
    # The predictor's fits agree to the last bits (1e-16 apart on the default job), not bit for bit.
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=False, rtol=1e-9)
