"""examples/search_sft_trainer.py as a user runs it: TRL's SFTTrainer (LoRA) searched through Ray, a few steps on the
tiny test model, and the study it leaves behind."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "search_sft_trainer.py"


@pytest.mark.slow
def test_example_searches_an_sft_trainer_run(tiny_model_dir, ray_cluster, tmp_path):
    pytest.importorskip("trl")
    import optuna
    from optuna.trial import TrialState

    from foretune.search.storage import open_storage

    run_dir = tmp_path / "sft"
    args = ["--trials", "2", "--max-steps", "4", "--examples", "16", "--max-concurrent", "2"]
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *args, "--model", tiny_model_dir, "--out", str(run_dir)],
        cwd=tmp_path,  # a user's folder, not the repository
        env=ray_cluster.joined_env(),  # its Ray joins the session's cluster (RAY_ADDRESS)
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 trials in" in result.stdout and "best: trial" in result.stdout
    study = optuna.load_study(study_name="sft-example", storage=open_storage(str(run_dir / "study.journal")))
    assert len(study.trials) == 2
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("error")
        # 4 steps, evaluated at every 10% of them: steps 1..4; judged at the first one past 20% (a grace trial)
        assert sorted(trial.intermediate_values) == [25, 50, 75, 100]
        assert trial.value == trial.intermediate_values[100] and math.isfinite(trial.value)
        assert 0 < trial.value < 12  # the rows' completion loss, from a random 49152-token model: ~log(49152)
        draws = trial.user_attrs["final_draws"]  # the final's 16 rows (callback.item_metric), resampled 200 times
        assert len(draws) == 200 and min(draws) <= trial.value <= max(draws) and len(set(draws)) > 1
        assert trial.user_attrs["early_decision"] == "grace" and trial.user_attrs["early_fraction"] == 0.25
        assert trial.params["lora_r"] in (4, 8, 16) and 1e-4 <= trial.params["learning_rate"] <= 3e-3
    assert study.trials[0].params != study.trials[1].params
    best = min(study.trials, key=lambda t: t.value)
    assert yaml.safe_load((run_dir / "best.yaml").read_text()) == best.params
    assert (run_dir / "report.md").is_file()
