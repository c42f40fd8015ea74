"""`foretune report` on a recorded study: tables, plots and best.yaml, with neither torch nor Ray importable."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.trial import TrialState

from foretune.config import ExperimentConfig, load_config
from foretune.keys import (
    CONFIG_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_SCORE_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
)
from foretune.search.storage import open_storage

REPORT_FILES = ("trials.csv", "report.md", "curves.png", "predicted_vs_final.png", "best.yaml")


def _record_study(run_dir) -> optuna.Study:
    """Three judged trials at budget percents 20..100: two run to the end (the second an audited one: the verdict
    would have pruned it), one pruned at 20%."""
    study = optuna.create_study(
        study_name="recorded", storage=open_storage(str(run_dir / "study.journal")), direction="maximize"
    )
    config = ExperimentConfig().model_dump(mode="json")
    config["early_stage"]["audit_every"] = 2
    study.set_user_attr(CONFIG_ATTR, config)
    for learning_rate, finals, pruned in ((1e-4, 0.8, False), (3e-4, 0.6, False), (1e-3, 0.3, True)):
        study.enqueue_trial({"learning_rate": learning_rate})
        trial = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)})
        steps = (20,) if pruned else (20, 40, 60, 80, 100)
        for step in steps:
            trial.report(finals * step / 100, step)
        for key, value in (
            (EARLY_SCORE_ATTR, finals * 0.2),
            (PREDICTED_FINAL_ATTR, finals),
            (PREDICTED_LOWER_ATTR, finals - 0.05),
            (PREDICTED_UPPER_ATTR, finals + 0.05),
            (EARLY_DECISION_ATTR, "pruned" if pruned else "grace" if finals == 0.8 else "audit"),
        ):
            trial.set_user_attr(key, value)
        if pruned:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, finals)
    return study


def test_report_writes_tables_plots_and_best_yaml_without_torch_or_ray(tmp_path, run_without):
    run_dir = tmp_path
    study = _record_study(run_dir)
    code = f"sys.argv = ['foretune', 'report', {str(run_dir)!r}]\nfrom foretune.cli import main\nmain()\n"
    result = run_without(code, blocked=("torch", "ray"))
    assert result.returncode == 0, result.stderr
    for name in REPORT_FILES:
        assert (run_dir / name).stat().st_size > 0, name
    listed = re.findall(r"^  (\w+): ", result.stdout, flags=re.MULTILINE)
    assert listed == ["csv", "markdown", "curves_png", "predicted_png", "best_yaml"]
    assert "best: trial 0, accuracy = 0.8" in result.stdout
    assert "COMPLETE (audit)" in result.stdout  # the audited trial is told apart from the kept ones
    assert "Audit: 1 of 1 audited finals inside their 80% interval." in result.stdout
    best = load_config(run_dir / "best.yaml")
    assert best.train.learning_rate == pytest.approx(1e-4) == study.best_trial.params["learning_rate"]
