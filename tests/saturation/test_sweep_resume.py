"""A sweep stopped by Ctrl-C, SIGTERM or a crash resumes: the same command takes its recorded runs from the study
and trains only the rest, and ends as a sweep never stopped would. The logic runs on cheap curves; the command on
a tiny real model."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import optuna
import pytest

from foretune.cli.stop_signals import sigterm_as_ctrl_c
from foretune.config import load_config
from foretune.errors import ForetuneError
from foretune.keys import JOURNAL_NAME, N_SAMPLES_ATTR
from foretune.search.sweep import EarlyCut, SaturationSweep, geometric_sizes
from foretune.search.sweep.study import SweepStudy
from tests.saturation.test_early_cut import in_run_task
from tests.saturation.test_sweep_models import TINY_SWEEP

SIZES = geometric_sizes(6_400, start=50)  # 0, 50, ..., 6,400


def counted(task, calls: list, stop_at: int | None = None):
    """`task`, counting its runs; SIGTERM arrives during run number `stop_at` (it does not end)."""

    def train_and_score(n, seed, reporter=None):
        if len(calls) == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        calls.append((n, seed))
        return task(n, seed, reporter)

    return train_and_score


def adaptive_sweep(task, **kwargs) -> SaturationSweep:
    cut = EarlyCut(metric="accuracy", tolerance=0.005)  # its predictor learns from the recorded curves too
    return SaturationSweep(task, sizes=SIZES, repeats=2, n_bootstrap=20, early_cut=cut, slots=4, **kwargs)


def summary(result) -> list:
    return [(p.n, p.seed, p.score, p.predicted, p.fraction) for p in result.points]


def test_a_resumed_sweep_trains_only_what_is_left_and_ends_as_one_never_stopped(tmp_path: Path) -> None:
    """Before, a stopped sweep wrote its finished runs and a rerun trained every one of them again."""
    whole_calls: list = []
    whole = adaptive_sweep(counted(in_run_task(0.0005), whole_calls)).run()
    assert whole.cut_short >= 1 and len(whole_calls) == len(whole.points) > 9  # cuts and adaptive rounds to redo

    study = SweepStudy(tmp_path / JOURNAL_NAME, study_name="s", mode="max", max_n=max(SIZES))
    first_calls: list = []
    with sigterm_as_ctrl_c():  # stopped mid-round: the round's first runs ended, the rest did not
        stopped = adaptive_sweep(counted(in_run_task(0.0005), first_calls, stop_at=6), on_run=study.record).run()
    assert stopped.stop_signal == "SIGTERM" and len(stopped.points) == 6

    recorded = SweepStudy(tmp_path / JOURNAL_NAME, study_name="s", mode="max", max_n=max(SIZES)).recorded()
    assert summary(stopped) == [(p.n, p.seed, p.score, p.predicted, p.fraction) for p in recorded]
    resume_calls: list = []
    resumed = adaptive_sweep(counted(in_run_task(0.0005), resume_calls), recorded=recorded, on_run=study.record).run()
    assert resume_calls == whole_calls[6:]  # only what was left, the stopped run again
    assert summary(resumed) == summary(whole) and resumed.stopped_because == whole.stopped_because
    assert resumed.saturation.min_useful_n == whole.saturation.min_useful_n
    held = [(p.n, p.seed) for p in SweepStudy(tmp_path / JOURNAL_NAME, study_name="s", mode="max", max_n=1).recorded()]
    assert len(held) == len(set(held)) == len(whole.points)  # each run once in the study


def test_recorded_runs_the_new_settings_do_not_choose_still_count() -> None:
    """Resumed with fewer sizes, the runs measured at the others are kept in the fit, not thrown away."""
    whole = SaturationSweep(in_run_task(0.0005), sizes=SIZES, adaptive=False, n_bootstrap=20).run()
    calls: list = []
    fewer = SaturationSweep(
        counted(in_run_task(0.0005), calls), sizes=SIZES[:5], adaptive=False, n_bootstrap=20, recorded=whole.points
    ).run()
    assert calls == [] and sorted(p.n for p in fewer.points) == SIZES


def tiny_config(tiny_model_dir: str, **more):
    return load_config(None, {**TINY_SWEEP, "model.name": tiny_model_dir, **more})


def test_a_study_run_with_another_config_is_refused_by_name(tmp_path: Path, tiny_model_dir) -> None:
    path = tmp_path / JOURNAL_NAME
    config = tiny_config(tiny_model_dir)
    whole = SaturationSweep(in_run_task(0.0005), sizes=SIZES[:5], adaptive=False, n_bootstrap=5).run()
    first = SweepStudy(path, study_name="s", mode="min", max_n=8, config=config)
    first.record(whole.points[0])
    # What the sweep trains with is checked even where a search would set it per trial (search.space).
    for changed in ({"train.learning_rate": 1e-3}, {"sweep.epochs": 3}, {"data.max_test_samples": 9}):
        study = SweepStudy(path, study_name="s", mode="min", max_n=8, config=tiny_config(tiny_model_dir, **changed))
        with pytest.raises(ForetuneError, match=f"another config \\({next(iter(changed))}: .*Put those keys back"):
            study.recorded()
    older = SweepStudy(tmp_path / "older.journal", study_name="s", mode="min", max_n=8)  # as foretune wrote them
    older.record(whole.points[0])
    with pytest.raises(ForetuneError, match="a sweep that kept no config .* move that file away or give another --out"):
        SweepStudy(tmp_path / "older.journal", study_name="s", mode="min", max_n=8, config=config).recorded()
    where = {"train.num_threads": 1, "sweep.repeats": 3, "sweep.early_cut": False}  # where or how many: no change
    assert (
        len(
            SweepStudy(
                path, study_name="s", mode="min", max_n=8, config=tiny_config(tiny_model_dir, **where)
            ).recorded()
        )
        == 1
    )


@pytest.mark.slow
def test_sweep_command_run_again_resumes_and_refuses_a_changed_config(tiny_model_dir, ray_session, cli, tmp_path):
    """Run again on the same folder, `foretune sweep` added every run to the study a second time, retrained; now it
    trains only sizes not measured yet, and a config that changes the runs is one error before anything runs."""
    out = tmp_path / "sweep"
    args = ["sweep", "configs/default.yaml", "--out", str(out), "--grid", "--no-early-cut", "--bootstrap", "10"]
    args += ["--set", f"model.name={tiny_model_dir}"]
    for key, value in TINY_SWEEP.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    code, stdout, stderr = cli(*args, "--sizes", "2,4,8")
    assert code == 0, stderr[-3000:]
    points = (out / "points.csv").read_text()

    code, stdout, stderr = cli(*args, "--sizes", "2,4,8,16")
    assert code == 0, stderr[-3000:]
    assert f"resuming: 3 run(s) recorded in {out / JOURNAL_NAME}" in stdout.replace("\n", " ")
    assert stdout.count("(recorded earlier)") == 3
    assert "training 1 run(s) side by side: n = 16" in stdout  # a log's line per round (a terminal's spinner)
    new_points = (out / "points.csv").read_text().splitlines()
    assert new_points[:4] == points.splitlines() and new_points[4].startswith("16,")  # the same runs, and n = 16
    study = optuna.load_study(
        study_name=None,  # the folder's one study
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / JOURNAL_NAME))),
    )
    assert sorted(t.user_attrs[N_SAMPLES_ATTR] for t in study.trials) == [2, 4, 8, 16]

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, stderr = cli(*args, "--sizes", "2,4,8,16", "--set", "train.learning_rate=0.001")
    assert code == 2 and "another config (train.learning_rate: 0.005 -> 0.001)" in stderr, stderr[-3000:]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written
