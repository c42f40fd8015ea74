"""The verdict as a trial's optuna-dashboard note (`foretune/search/trial_note.py`)."""

import optuna
from optuna_dashboard._note import get_note_from_system_attrs

from foretune.search.trial_note import verdict_note, write_verdict_note

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


def test_the_note_is_stored_where_the_dashboard_reads_it():
    study = optuna.create_study()
    trial = study.ask()
    write_verdict_note(trial, "**Judged at 20%**")
    write_verdict_note(trial, None)  # nothing to say: the note stays as it was
    study.tell(trial, 1.0)
    system_attrs = study._storage.get_study_system_attrs(study._study_id)  # what optuna-dashboard reads
    assert get_note_from_system_attrs(system_attrs, trial._trial_id)["body"] == "**Judged at 20%**"
