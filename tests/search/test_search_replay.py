"""The replay trainer serves recorded curves through the trainer protocol (no Ray)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.trainers.replay import ReplayBank, ReplayTrainer
from foretune.trainers.reporters import Decision, MemoryReporter


def _config(bank, **train):
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(["learning_rate", "weight_decay"]).items()}
    return ExperimentConfig.model_validate(
        {"search": {"metric": "val_loss", "mode": "min", "space": space}, "train": train}
    )


def test_long_table_bank_holds_every_complete_run(replay_bank):
    assert len(replay_bank.runs) == 36
    for run in replay_bank.runs:
        assert run.fractions.tolist() == pytest.approx(np.arange(1, 11) / 10)
    assert replay_bank.scales == {"learning_rate": "log", "weight_decay": "log", "warmup_ratio": "linear"}
    assert replay_bank.reported_metrics == ("val_loss", "train_loss") and replay_bank.test_metrics == ("test_loss",)


def test_long_table_leaves_out_incomplete_runs(tmp_path):
    rows = [
        {
            "trial": trial,
            "fraction": f,
            "val_loss": 2 - f + trial / 10,
            "test_loss": value if f == 1 else None,
            "lr": lr,
            "note": "x",
        }
        for trial, lr, fractions, value in [
            (0, 1e-4, [0.5, 1.0], 1.0),
            (1, 1e-2, [0.5, 1.0], 1.1),
            (2, 1e-3, [0.5], 1.2),  # stopped at half its budget
            (3, 1e-3, [0.5, 1.0], None),  # no test score at the end
        ]
        for f in fractions
    ]
    path = tmp_path / "curves.parquet"
    pd.DataFrame(rows).to_parquet(path)
    bank = ReplayBank.from_long_table(path)
    assert [r.run_id for r in bank.runs] == ["0", "1"]
    assert bank.scales == {"lr": "log"}  # text columns are not hyperparameters
    assert bank.runs[1].params == {"lr": 1e-2} and bank.runs[1].final("val_loss") == pytest.approx(1.1)
    assert ReplayBank.from_long_table(path, scales={"lr": "linear"}).scales == {"lr": "linear"}
    with pytest.raises(ForetuneError, match="scales name wd"):
        ReplayBank.from_long_table(path, scales={"wd": "log"})
    with pytest.raises(ForetuneError, match="no column 'run'"):
        ReplayBank.from_long_table(path, trial_col="run")


def test_a_bank_s_space_samples_integers_for_an_integer_hyperparameter(tmp_path):
    """A LoRA rank recorded as 4 / 8 / 16 is searched as an integer: a trial's config refuses 7.3."""
    rows = [
        {"trial": t, "fraction": f, "accuracy": f * a, "lora.r": r, "learning_rate": lr}
        for t, (r, lr, a) in enumerate([(4, 1e-4, 0.5), (16, 1e-3, 0.6), (8, 1e-2, 0.7)])
        for f in (0.5, 1.0)
    ]
    path = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    space = ReplayBank.from_long_table(path, scales={"lora.r": "linear"}).space()
    assert (space["lora.r"].type, space["lora.r"].low, space["lora.r"].high) == ("int", 4, 16)
    assert space["learning_rate"].type == "log_float"
    assert ReplayBank.from_long_table(path, scales={"lora.r": "log"}).space()["lora.r"].type == "log_int"


def test_scan_bench_bank_holds_complete_ten_epoch_runs(scan_bench_bank):
    assert len(scan_bench_bank.runs) > 100
    for run in scan_bench_bank.runs[:20]:
        assert run.fractions[-1] == pytest.approx(1.0) and len(run.fractions) == 10
    assert scan_bench_bank.reported_metrics == ("val_loss", "train_loss")


def test_nearest_run_is_an_exact_match_for_recorded_params(replay_bank):
    run = replay_bank.runs[17]
    params = {"learning_rate": run.params["learning_rate"], "weight_decay": run.params["weight_decay"]}
    assert replay_bank.nearest(params).run_id == run.run_id


def test_replays_the_recorded_curve_at_the_configured_fractions(replay_bank):
    run = replay_bank.runs[5]
    config = _config(
        replay_bank,
        learning_rate=run.params["learning_rate"],
        weight_decay=run.params["weight_decay"],
        eval_fractions=[0.1, 0.2, 0.25, 0.5, 1.0],
    )
    reporter = MemoryReporter()
    result = ReplayTrainer(config, bank=replay_bank).fit(reporter)
    curve = reporter.frame()
    assert list(curve["fraction"]) == [0.1, 0.2, 0.25, 0.5, 1.0]
    assert curve["val_loss"].iloc[0] == pytest.approx(run.metrics["val_loss"][0])
    assert curve["val_loss"].iloc[2] == pytest.approx(np.mean(run.metrics["val_loss"][1:3]))  # between 0.2 and 0.3
    assert result.metrics["val_loss"] == pytest.approx(run.final("val_loss"))
    assert result.test_metrics == {"loss": pytest.approx(run.final("test_loss"))}


def test_stops_when_the_reporter_says_stop(replay_bank):
    class StopAtSecondReport(MemoryReporter):
        def report(self, fraction, step, metrics):
            super().report(fraction, step, metrics)
            return Decision.STOP if len(self.rows) == 2 else Decision.CONTINUE

    result = ReplayTrainer(_config(replay_bank), bank=replay_bank).fit(StopAtSecondReport())
    assert result.stopped_early and len(result.curve) == 2 and result.test_metrics is None


def test_injected_failure_raises_after_the_first_report(replay_bank):
    reporter = MemoryReporter()
    trainer = ReplayTrainer(_config(replay_bank, weight_decay=0.1), bank=replay_bank, fail_above={"weight_decay": 0.05})
    with pytest.raises(RuntimeError, match="injected failure"):
        trainer.fit(reporter)
    assert len(reporter.rows) == 1


def test_unreplayed_metric_is_refused(replay_bank):
    config = _config(replay_bank).with_overrides({"search.metric": "accuracy"})
    with pytest.raises(ValueError, match="accuracy"):
        ReplayTrainer(config, bank=replay_bank)


def test_a_built_in_trainers_metric_outside_a_range_given_by_hand_stops_the_search(ray_session, replay_bank, tmp_path):
    """The replayed val_loss (a built-in trainer's report, not train_fn's) against `search.metric_range: [0, 1]`:
    clipped into it the predictions would be cut at 1, so the search stops at the first trial with one line (before
    round 43 only a function of your own was checked)."""
    import optuna

    from foretune.config import validate_config
    from foretune.search.driver import run_search
    from foretune.search.function_trial import ReportMisuse
    from foretune.search.storage import open_storage
    from tests.search.conftest import replay_config_dict

    raw = replay_config_dict(replay_bank, metric_range=[0, 1])
    first = min(run.metrics["val_loss"][0] for run in replay_bank.runs)
    assert first > 1  # every trial's first report leaves [0, 1] (later ones reach 0.51: a check of each report)
    words = r"the trainer reported val_loss=\S+ at fraction \S+, outside search.metric_range \[0, 1\]; set search"
    with pytest.raises(ReportMisuse, match=f"{words}.*The search stopped there"):
        run_search(validate_config(raw), out=tmp_path, trainer_factory=replay_bank.trainer_factory(), progress=False)
    trials = optuna.load_study(study_name="replay", storage=open_storage(str(tmp_path / "study.journal"))).trials
    assert len(trials) < 8 and not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
