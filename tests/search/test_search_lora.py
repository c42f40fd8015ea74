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
    # Its final re-scored on 200 paired resamples of its 4 validation items, for the report's noise lines.
    draws = first.user_attrs["final_draws"]
    assert len(draws) == 200 and min(draws) <= first.value <= max(draws)
    assert first.user_attrs["final_items"].startswith("4:")
    if second.state == TrialState.COMPLETE:  # scored on the same items: paired with the first's
        assert second.user_attrs["final_items"] == first.user_attrs["final_items"]
    assert 0.0 <= study.user_attrs["zero_shot_test"]["accuracy"] <= 1.0
    assert outcome.report.zero_shot == study.user_attrs["zero_shot_test"]
    assert "zero-shot" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_nothing_starts_after_the_time_budget(ray_session, tiny_model_dir, tmp_path, capsys):
    """search.time_budget_s ends the session: the zero-shot baseline (a model load and a generated answer per test
    item, many minutes for a large model) is not started past it, but left to the session that ends the study."""
    import optuna

    from foretune.config import validate_config
    from foretune.search.driver import run_search

    config = validate_config(
        {
            "name": "lora-budget",
            "data": {"synthetic_size": 60, "max_eval_samples": 4, "max_test_samples": 4},
            "train": {"max_steps": 4, "batch_size": 2, "eval_fractions": [0.5, 1.0]},
            "model": {"name": tiny_model_dir, "max_length": 96},
            "task": {"max_new_tokens": 8},
            "search": {"trials": 40, "max_concurrent_trials": 1, "time_budget_s": 3},
            "resources": {"cpus_per_trial": 1},
        }
    )
    outcome = run_search(config, out=tmp_path, num_cpus=2)
    study = optuna.load_study(study_name="lora-budget", storage=open_storage(str(tmp_path / "study.journal")))
    assert outcome.total < 40 and "zero_shot_test" not in study.user_attrs
    said = " ".join(capsys.readouterr().out.split())
    assert "not run after the time budget: the zero-shot baseline; the session that ends the study runs it" in said
