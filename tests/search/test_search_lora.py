"""One real LoRA search end to end through Ray (the session's test cluster): transformers + peft on the tiny test
model (tests/conftest.py), an Optuna journal, two trials of a few steps."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from foretune.config import validate_config
from foretune.search.driver import run_search
from foretune.search.storage import open_storage


@pytest.mark.slow
def test_two_tiny_lora_trials_through_ray(ray_session, tiny_model_dir, tmp_path):
    pytest.importorskip("peft")
    import optuna

    config = validate_config(
        {
            "name": "lora-tiny",
            "data": {"synthetic_size": 60, "max_eval_samples": 4, "max_test_samples": 4},
            "train": {"max_steps": 4, "batch_size": 2, "eval_fractions": [0.5, 1.0]},
            "model": {"name": tiny_model_dir, "max_length": 96},
            "task": {"max_new_tokens": 40},
            "search": {
                "trials": 2,
                "max_concurrent_trials": 1,
                "n_startup_trials": 2,
                "space": {"learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-3}},
            },
            "early_stage": {"fraction": 0.5, "predictor": "snapshot", "grace_trials": 1},
            "resources": {"cpus_per_trial": 1},  # one torch thread: no OpenMP spinning on a busy box
        }
    )
    outcome = run_search(config, out=tmp_path, num_cpus=2, progress=False)
    study = optuna.load_study(study_name="lora-tiny", storage=open_storage(str(tmp_path / "study.journal")))
    assert len(study.trials) == 2 and outcome.total == 2
    first = study.trials[0]
    assert first.state == TrialState.COMPLETE, first.user_attrs.get("error")
    assert sorted(first.intermediate_values) == [50, 100]
    assert 0.0 <= first.value <= 1.0  # per-attribute accuracy
    assert first.user_attrs["early_decision"] == "grace"
    assert study.trials[1].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert (tmp_path / "best.yaml").exists()
    # A trial that used its whole budget was scored on the test split; the zero-shot baseline once.
    assert 0.0 <= first.user_attrs["test_accuracy"] <= 1.0
    # ... with its bootstrap 95% interval over the test items, shown in the report.
    low, high = first.user_attrs["test_accuracy_ci_low"], first.user_attrs["test_accuracy_ci_high"]
    assert low <= first.user_attrs["test_accuracy"] <= high and first.user_attrs["test_n_items"] == 4
    assert "95% interval" in (tmp_path / "report.md").read_text()
    assert 0.0 <= study.user_attrs["zero_shot_test"]["accuracy"] <= 1.0
    assert outcome.report.zero_shot == study.user_attrs["zero_shot_test"]
    assert "zero-shot" in (tmp_path / "report.md").read_text()
