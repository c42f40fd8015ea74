"""The verdict as a trial's optuna-dashboard note (`foretune/search/trial_note.py`)."""

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna_dashboard._note import get_note_from_system_attrs

from foretune.keys import FRACTION_KEY
from foretune.predictors import get_predictor
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.rule import EarlyStageRule
from foretune.search.searcher import PrunedAwareOptunaSearch
from foretune.search.trial_note import verdict_note, write_verdict_note
from tests.search.conftest import FRACTIONS

JUDGED = {"early_fraction": 0.2, "early_score": 0.05, "early_rank": 7, "early_judged_with": 8}
PREDICTED = {"predicted_final": 0.52, "predicted_lower": 0.42, "predicted_upper": 0.58}


def test_a_note_says_what_was_judged_predicted_decided_and_how_it_ended():
    audited = {
        **JUDGED,
        **PREDICTED,
        "early_basis": "predicted by auto from eval_loss at 20%",
        "early_decision": "audit",
    }
    note = verdict_note(audited, "accuracy", reached=1.0, final=0.668)
    assert note.startswith("**Judged at 20% of its budget** among 8 trials: accuracy 0.05, early rank 7.")
    assert "Predicted final: **0.52**, 80% interval [0.42, 0.58] (predicted by auto from eval_loss at 20%)." in note
    assert (
        "**audited**: the verdict would have stopped it" in note and "Final: 0.668, **above** its 80% interval." in note
    )
    assert "**inside**" in verdict_note(audited, "accuracy", reached=1.0, final=0.5)

    cold = {
        **JUDGED,
        "early_basis": "ranked by early score; 1 finished run, no final predicted",
        "early_decision": "grace",
    }
    note = verdict_note(cold, "accuracy", reached=1.0, final=0.55)
    assert "No final predicted (ranked by early score; 1 finished run, no final predicted)." in note
    assert "Predicted final" not in note and "Final: 0.55." in note and "Decision: ran to its end" in note

    pruned = {**JUDGED, **PREDICTED, "early_basis": "b", "early_decision": "pruned", "judged_fraction": 0.3}
    note = verdict_note(pruned, "accuracy", reached=0.3, final=None)
    assert "Decision: **pruned**, stopped at 30% of its budget." in note and "Final" not in note
    repeat = {**pruned, "repeat_of": 3}
    assert "Stopped as a repeat of trial 3" in verdict_note(repeat, "accuracy", reached=0.3, final=None)
    assert verdict_note({}, "accuracy", reached=1.0, final=0.5) is None  # never judged: no note

    pareto = {
        **pruned,
        "early_predicted_objectives": {"accuracy": 0.52, "cost.device_hours": 0.0031},
        "early_dominated_by": 2,
    }
    assert (
        "Judged on every objective (Pareto dominance), predicted accuracy 0.52, cost.device_hours 0.0031: dominated "
        "by 2 judged trial(s)." in verdict_note(pareto, "accuracy", reached=0.3, final=None)
    )


def test_the_note_is_stored_where_the_dashboard_reads_it():
    study = optuna.create_study()
    trial = study.ask()
    write_verdict_note(trial, "**Judged at 20%**")
    write_verdict_note(trial, None)  # nothing to say: the note stays as it was
    study.tell(trial, 1.0)
    system_attrs = study._storage.get_study_system_attrs(study._study_id)  # what optuna-dashboard reads
    assert get_note_from_system_attrs(system_attrs, trial._trial_id)["body"] == "**Judged at 20%**"


def test_a_running_note_says_it_runs_and_that_its_final_comes_later():
    kept = {**JUDGED, **PREDICTED, "early_basis": "b", "early_decision": "kept"}
    note = verdict_note(kept, "accuracy", reached=0.2, final=None, running=True)
    assert "Decision: kept: the rule lets it continue." in note
    assert note.endswith("Running (at 20% of its budget when this was written); its final is added when it ends.")
    audited = verdict_note({**kept, "early_decision": "audit"}, "accuracy", reached=0.2, final=None, running=True)
    assert "the verdict would stop it; it runs to its end anyway" in audited
    assert "Running" not in verdict_note(kept, "accuracy", reached=1.0, final=0.5)


def _decision_line(note: str) -> str:
    return next(line for line in note.split("\n\n") if line.startswith("Decision: "))


def test_every_decision_reads_in_the_present_while_running_and_in_the_past_once_ended():
    for decision in ("grace", "kept", "observed", "audit"):
        verdict = {**JUDGED, **PREDICTED, "early_basis": "b", "early_decision": decision}
        running = _decision_line(verdict_note(verdict, "accuracy", reached=0.2, final=None, running=True))
        ended = _decision_line(verdict_note(verdict, "accuracy", reached=1.0, final=0.5))
        assert "{" not in running + ended
        assert " runs " in running or " lets " in running
        assert not any(word in running for word in (" ran ", " let ", " was "))
        assert " ran " in ended or " let " in ended
        assert not any(word in ended for word in (" runs ", " lets ", " is only", "would stop"))


def _note(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict:
    return get_note_from_system_attrs(study._storage.get_study_system_attrs(study._study_id), trial._trial_id)


def test_a_kept_trial_carries_its_verdict_while_it_runs():
    """The searcher writes the verdict onto the running trial's record as Tune drives it: the scheduler judges a
    result first, then the searcher sees it (only when the trial goes on)."""
    storage = optuna.storages.InMemoryStorage()
    searcher = PrunedAwareOptunaSearch(
        {"x": FloatDistribution(0.0, 1.0)}, metric="loss", mode="min", study_name="running", storage=storage
    )
    rule = EarlyStageRule(mode="min", rule="quantile", keep=0.5, use_upper_bound=False, grace_trials=1)
    evaluator = EarlyStageEvaluator(
        mode="min", fraction=0.2, make_predictor=lambda: get_predictor("snapshot", mode="min"), rule=rule
    )
    study = optuna.load_study(study_name="running", storage=storage)
    for trial_id, values in (("first", 1.0 - 0.05 * np.arange(10)), ("second", 0.9 - 0.05 * np.arange(10))):
        searcher.suggest(trial_id)
        evaluator.add(trial_id, {})
        for fraction, value in zip(FRACTIONS, values, strict=True):
            evaluator.observe(trial_id, fraction, float(value))
            if evaluator.due(trial_id, fraction):
                assert evaluator.judge(trial_id, fraction)
                searcher.notes.verdicts[trial_id] = evaluator.verdicts[trial_id]
            searcher.on_trial_result(trial_id, {FRACTION_KEY: float(fraction), "loss": float(value)})
            running = study.trials[-1]
            assert running.state == TrialState.RUNNING
            if fraction < 0.2:  # not judged yet: nothing said
                assert "early_decision" not in running.user_attrs and _note(study, running)["version"] == 0
            else:  # judged at 20%, and said once
                assert running.user_attrs["early_decision"] in ("grace", "kept")
                assert _note(study, running)["version"] == 1
                assert "Running (at 20% of its budget" in _note(study, running)["body"]
        evaluator.finish(trial_id)
        searcher.on_trial_complete(trial_id, {FRACTION_KEY: 1.0, "loss": float(values[-1])})
        ended = study.trials[-1]
        assert ended.state == TrialState.COMPLETE and _note(study, ended)["version"] == 2
        assert (
            "Running" not in _note(study, ended)["body"] and f"Final: {values[-1]:.4g}" in _note(study, ended)["body"]
        )
    second = study.trials[1]
    assert second.user_attrs["early_decision"] == "kept" and "no final predicted" in second.user_attrs["early_basis"]
