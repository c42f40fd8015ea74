"""Small or large model, end to end: a real two-objective search over two local model folders of different sizes
(the tiny test models: real Ray, real Optuna journal, real LoRA steps), every trial carrying its costs."""

from __future__ import annotations

import pandas as pd
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from foretune.config import validate_config
from foretune.search.driver import run_search
from foretune.search.pareto import dominates
from foretune.search.storage import open_storage

COSTS = (
    "cost.train_seconds",
    "cost.device_hours",
    "cost.tokens",
    "cost.peak_memory_mb",
    "cost.params_total",
    "cost.params_trainable",
    "cost.latency_ms",
    "cost.usd",
)


@pytest.mark.slow
def test_two_models_two_objectives_costs_and_front(ray_session, tiny_model_dir, smaller_model_dir, tmp_path):
    import optuna

    large, small = tiny_model_dir, smaller_model_dir
    config = validate_config(
        {
            "name": "small-or-large",
            "data": {"synthetic_size": 40, "max_eval_samples": 2},
            "train": {"max_steps": 2, "batch_size": 2, "eval_fractions": [0.5, 1.0]},
            "model": {"max_length": 96},
            "task": {"eval_method": "teacher_forced", "test_on_completion": False},
            "search": {
                # Two trials side by side, one wave on the test cluster's two CPUs (a third trial was a second
                # wave): seed 1 samples the smaller model, then the larger; the second is judged (not graced).
                "trials": 2,
                "max_concurrent_trials": 2,
                "n_startup_trials": 2,
                "seed": 1,
                "space": {
                    "model.name": {"type": "categorical", "choices": [large, small]},
                    "learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-3},
                },
                "objectives": [{"metric": "accuracy", "mode": "max"}, {"metric": "cost.device_hours", "mode": "min"}],
            },
            "early_stage": {"fraction": 0.5, "predictor": "snapshot", "grace_trials": 1, "keep": 0.5},
            "cost": {"price_per_device_hour": 2.5},
            "resources": {"cpus_per_trial": 1},
        }
    )
    outcome = run_search(config, out=tmp_path / "run", num_cpus=2, progress=False)
    study = optuna.load_study(study_name="small-or-large", storage=open_storage(str(tmp_path / "run/study.journal")))
    assert study.directions == [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
    assert study.metric_names == ["accuracy", "cost.device_hours"]
    assert len(study.trials) == 2 and outcome.total == 2
    assert {t.params["model.name"] for t in study.trials} == {large, small}
    for trial in study.trials:
        assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED), trial.user_attrs.get("error")
        assert set(COSTS) <= set(trial.user_attrs), trial.user_attrs
        assert trial.user_attrs["cost.usd"] == pytest.approx(2.5 * trial.user_attrs["cost.device_hours"])
        assert sorted(trial.user_attrs["curve"]) == (["100", "50"] if trial.state == TrialState.COMPLETE else ["50"])
        # Judged on its predicted accuracy and its device-hours extrapolated from half the budget.
        assert set(trial.user_attrs["early_predicted_objectives"]) == {"accuracy", "cost.device_hours"}
        assert trial.user_attrs["early_dominated_by"] >= 0
    # The first trial judged is graced; the other is judged on dominance (it may be kept or pruned).
    assert sorted(t.user_attrs["early_decision"] == "grace" for t in study.trials) == [False, True]
    # The small model has fewer parameters than the larger one.
    params = {t.params["model.name"]: t.user_attrs["cost.params_total"] for t in study.trials}
    assert params[small] < params[large]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert all(t.values[1] == t.user_attrs["cost.device_hours"] for t in complete)
    # pareto.csv lists the front: exactly the complete trials no other complete trial dominates.
    front = pd.read_csv(tmp_path / "run" / "pareto.csv")
    expected = {t.number for t in complete if not any(dominates(o.values, t.values, ["max", "min"]) for o in complete)}
    assert set(front["trial"]) == expected and front["knee"].sum() == 1
    assert {"accuracy", "cost.device_hours", "param.model.name"} <= set(front.columns)
    assert "cost.latency_ms" in pd.read_csv(tmp_path / "run" / "trials.csv").columns
    assert "Pareto front" in (tmp_path / "run" / "report.md").read_text()
