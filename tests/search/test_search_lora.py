"""One real LoRA search end to end through Ray (the session's test cluster): transformers + peft on the tiny test
model (tests/conftest.py), an Optuna journal, two trials of a few steps (the `tiny_lora_search` fixture of
tests/search/conftest.py, which the estimate tests read too)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from foretune.search.storage import open_storage


@pytest.mark.slow
def test_two_tiny_lora_trials_through_ray(tiny_lora_search):
    import optuna

    run_dir, outcome = tiny_lora_search
    study = optuna.load_study(study_name="lora-tiny", storage=open_storage(str(run_dir / "study.journal")))
    assert len(study.trials) == 2 and outcome.total == 2
    first, second = study.trials
    assert first.state == TrialState.COMPLETE, first.user_attrs.get("error")
    assert sorted(first.intermediate_values) == [50, 100]
    assert 0.0 <= first.value <= 1.0  # per-attribute accuracy
    assert first.user_attrs["early_decision"] == "grace"
    assert second.state in (TrialState.COMPLETE, TrialState.PRUNED) and second.user_attrs["early_decision"] != "grace"
    assert (run_dir / "best.yaml").exists()
    # A trial that used its whole budget was scored on the test split; the zero-shot baseline once.
    assert 0.0 <= first.user_attrs["test_accuracy"] <= 1.0
    # ... with its bootstrap 95% interval over the test items, shown in the report.
    low, high = first.user_attrs["test_accuracy_ci_low"], first.user_attrs["test_accuracy_ci_high"]
    assert low <= first.user_attrs["test_accuracy"] <= high and first.user_attrs["test_n_items"] == 4
    assert "95% interval" in (run_dir / "report.md").read_text()
    assert 0.0 <= study.user_attrs["zero_shot_test"]["accuracy"] <= 1.0
    assert outcome.report.zero_shot == study.user_attrs["zero_shot_test"]
    assert "zero-shot" in (run_dir / "report.md").read_text()
