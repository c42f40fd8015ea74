"""The replay trainer serves real recorded curves through the trainer protocol (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from foretune.config import ExperimentConfig
from foretune.trainers.reporters import Decision, MemoryReporter
from foretune.trainers.replay import ReplayTrainer


def _config(bank, **train):
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(["learning_rate", "weight_decay"]).items()}
    return ExperimentConfig.model_validate(
        {"search": {"metric": "val_loss", "mode": "min", "space": space}, "train": train}
    )


def test_bank_holds_complete_ten_epoch_runs(vlm_bank):
    assert len(vlm_bank.runs) > 100
    for run in vlm_bank.runs[:20]:
        assert run.fractions[-1] == pytest.approx(1.0) and len(run.fractions) == 10


def test_nearest_run_is_an_exact_match_for_recorded_params(vlm_bank):
    run = vlm_bank.runs[17]
    params = {"learning_rate": run.params["learning_rate"], "weight_decay": run.params["weight_decay"]}
    assert vlm_bank.nearest(params).run_id == run.run_id


def test_replays_the_recorded_curve_at_the_configured_fractions(vlm_bank):
    run = vlm_bank.runs[5]
    config = _config(
        vlm_bank,
        learning_rate=run.params["learning_rate"],
        weight_decay=run.params["weight_decay"],
        eval_fractions=[0.1, 0.25, 0.5, 1.0],
    )
    reporter = MemoryReporter()
    result = ReplayTrainer(config, bank=vlm_bank).fit(reporter)
    curve = reporter.frame()
    assert list(curve["fraction"]) == [0.1, 0.25, 0.5, 1.0]
    assert curve["val_loss"].iloc[0] == pytest.approx(run.metrics["val_loss"][0])
    assert curve["val_loss"].iloc[1] == pytest.approx(np.mean(run.metrics["val_loss"][1:3]))  # between epochs 2 and 3
    assert result.metrics["val_loss"] == pytest.approx(run.final("val_loss"))
    assert result.test_metrics == {"loss": pytest.approx(run.final("test_loss"))}


def test_stops_when_the_reporter_says_stop(vlm_bank):
    class StopAtFifth(MemoryReporter):
        def report(self, fraction, step, metrics):
            super().report(fraction, step, metrics)
            return Decision.STOP if len(self.rows) == 2 else Decision.CONTINUE

    result = ReplayTrainer(_config(vlm_bank), bank=vlm_bank).fit(StopAtFifth())
    assert result.stopped_early and len(result.curve) == 2 and result.test_metrics is None


def test_injected_failure_raises_after_the_first_report(vlm_bank):
    reporter = MemoryReporter()
    trainer = ReplayTrainer(_config(vlm_bank, weight_decay=0.1), bank=vlm_bank, fail_above={"weight_decay": 0.05})
    with pytest.raises(RuntimeError, match="injected failure"):
        trainer.fit(reporter)
    assert len(reporter.rows) == 1


def test_unreplayed_metric_is_refused(vlm_bank):
    config = _config(vlm_bank).with_overrides({"search.metric": "accuracy"})
    with pytest.raises(ValueError, match="accuracy"):
        ReplayTrainer(config, bank=vlm_bank)
