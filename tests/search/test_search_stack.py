"""The search on the real stack: the test session's Ray (tests/ray_cluster.py: two nodes, one CPU each), real
Optuna storages, recorded curves (tests/data). The resume test kills a real driver process with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState
from optuna_dashboard._note import get_note_from_system_attrs

from foretune.config import load_config, validate_config
from foretune.keys import EXTRAS_ATTR, INTERRUPTED_ATTR
from foretune.search.driver import run_search
from foretune.search.storage import counted_trials, open_storage, trial_curve
from tests.search.conftest import (
    REPLAY_CURVES,
    assert_resumed,
    end_process_group,
    replay_config_dict,
    start_in_own_session,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _study(storage: str, name: str = "replay") -> optuna.Study:
    opened = open_storage(storage, must_exist=not storage.startswith("sqlite"))
    return optuna.load_study(study_name=name, storage=opened)


def test_pruned_trials_are_pruned_with_attrs_and_curves(ray_session, replay_bank, tmp_path):
    config = validate_config(replay_config_dict(replay_bank))
    outcome = run_search(config, out=tmp_path, trainer_factory=replay_bank.trainer_factory(), progress=False)
    study = _study(str(tmp_path / "study.journal"))
    states = [t.state for t in study.trials]
    assert len(study.trials) == 8 and outcome.total == 8
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for trial in study.trials:
        attrs = trial.user_attrs
        assert {"early_score", "early_basis", "early_finished_used", "early_rank"} <= set(attrs)
        if attrs["early_finished_used"] >= 3 or "prior" in attrs["early_basis"]:  # a final was predicted
            assert attrs["predicted_lower"] <= attrs["predicted_final"] <= attrs["predicted_upper"]
        else:  # too few: ranked by the early score, and no number that was not predicted
            assert "predicted_final" not in attrs and "no final predicted" in attrs["early_basis"]
        if trial.state == TrialState.PRUNED:
            assert attrs["early_decision"] == "pruned"
            assert attrs["fraction_reached"] == pytest.approx(0.2)
            assert sorted(trial.intermediate_values) == [10, 20]  # the stopping result is recorded too
            assert trial.value == pytest.approx(trial.intermediate_values[20])
            assert "test_loss" not in attrs
        else:
            assert trial.state == TrialState.COMPLETE
            assert attrs["fraction_reached"] == pytest.approx(1.0)
            assert sorted(trial.intermediate_values) == list(range(10, 101, 10))
            assert trial.value == pytest.approx(trial.intermediate_values[100])
    # Held-out test scores only for trials that led when they completed (foretune/search/best_so_far.py): the
    # best has them; a trial already beaten by one that completed before it even started has none.
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert "test_loss" in study.best_trial.user_attrs
    beaten = [
        t for t in complete if any(o.value < t.value and o.datetime_complete < t.datetime_start for o in complete)
    ]
    assert beaten, "the replayed search should complete a trial after a better one (the gate is not exercised)"
    assert all("test_loss" not in t.user_attrs for t in beaten)
    # the first grace_trials judged run to completion
    assert sum(t.user_attrs["early_decision"] == "grace" for t in study.trials) == 2
    notes = study._storage.get_study_system_attrs(study._study_id)  # the verdict in words, on the dashboard
    for trial in study.trials:
        note = get_note_from_system_attrs(notes, trial._trial_id)
        # written when the verdict stops a trial at its end; one that goes on is told its verdict as it runs, too
        assert note["version"] == (1 if trial.state == TrialState.PRUNED else 2)
        note = note["body"]
        assert note.startswith("**Judged at 20% of its budget** among")
        if trial.state == TrialState.PRUNED:
            assert "Decision: **pruned**, stopped at 20% of its budget." in note
        elif "predicted_final" in trial.user_attrs:
            assert "its 80% interval." in note and f"Final: {trial.value:.4g}, " in note
    for trial in study.trials:  # the other metrics the evaluator saw are stored and read back with the curve
        assert set(trial.user_attrs[EXTRAS_ATTR]) == {"train_loss"}  # not Tune's flattened config (config/...)
        assert set(trial.user_attrs[EXTRAS_ATTR]["train_loss"]) == {str(step) for step in trial.intermediate_values}
        assert np.isfinite(trial_curve(trial).extras["train_loss"]).all()
    for trial in study.trials:  # a replayed trial records its own wall-clock costs: one CPU core held
        attrs = trial.user_attrs
        assert attrs["cost.device_hours"] == pytest.approx(attrs["cost.train_seconds"] / 3600)

    # the report: table, files, and a best.yaml that is a ready-to-train config with the best params
    table = outcome.report.table
    assert set(table["state"]) == {"COMPLETE", "PRUNED"} and len(table) == 8
    for name in ("trials.csv", "report.md", "best.yaml"):  # the plots are drawn by the CLI (tests/cli)
        assert (tmp_path / name).stat().st_size > 0
    best = load_config(tmp_path / "best.yaml")
    assert best.train.learning_rate == pytest.approx(study.best_trial.params["learning_rate"])
    assert best.search.metric == "val_loss"


def test_with_two_objectives_every_trial_on_the_front_has_test_scores(ray_session, replay_bank, tmp_path):
    """A completed trial is test-scored when no earlier final dominates it (foretune/search/best_so_far.py): each
    trial of the final Pareto front was undominated when it completed, so each has its test scores."""
    wanted = [{"metric": "val_loss", "mode": "min"}, {"metric": "cost.device_hours", "mode": "min"}]
    config = validate_config(replay_config_dict(replay_bank, objectives=wanted))
    run_search(config, out=tmp_path, trainer_factory=replay_bank.trainer_factory(), progress=False)
    study = _study(str(tmp_path / "study.journal"))
    front = study.best_trials
    assert front and all(len(t.values) == 2 for t in front)
    assert all("test_loss" in t.user_attrs for t in front)
    notes = study._storage.get_study_system_attrs(study._study_id)  # the note names the objectives it compared
    judged = [t for t in study.trials if "early_predicted_objectives" in t.user_attrs]
    assert judged and all(
        "Judged on every objective (Pareto dominance), predicted val_loss "
        in get_note_from_system_attrs(notes, t._trial_id)["body"]
        for t in judged
    )


def test_failing_trial_is_fail_and_search_goes_on_with_sqlite(ray_session, replay_bank, tmp_path):
    config = validate_config(replay_config_dict(replay_bank, trials=4))  # seed 0: trials 0 and 2 fail, 1 does not
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    factory = replay_bank.trainer_factory(fail_above={"weight_decay": 1e-3})
    outcome = run_search(config, out=tmp_path, storage=storage, trainer_factory=factory, progress=False)
    study = _study(storage)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed, "with half the weight-decay range failing, some trial must fail"
    for trial in failed:
        assert "injected failure" in trial.user_attrs["error"]
        assert trial.params["weight_decay"] > 1e-3
    assert len(study.trials) == 4 and outcome.total == 4
    assert any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert outcome.report.table["error"].notna().sum() == len(failed)


DRIVER = textwrap.dedent(
    """
    import sys, yaml
    from foretune.config import validate_config
    from foretune.search.driver import run_search
    from foretune.trainers.replay import ReplayBank

    config = validate_config(yaml.safe_load(open(sys.argv[1])))
    bank = ReplayBank.from_long_table(sys.argv[2])
    run_search(config, out=sys.argv[3], trainer_factory=bank.trainer_factory(seconds_per_report=0.15),
               num_cpus=2, progress=False)
    """
)


def _drive(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen:
    # A new session: after the SIGKILL of the driver, whatever it started is ended by group id.
    driver = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "config.yaml"), str(REPLAY_CURVES)]
    return start_in_own_session([*driver, str(tmp_path / "run")], env)


def test_resume_after_sigkill_keeps_finished_trials_and_reaches_the_total(ray_cluster, replay_bank, tmp_path):
    total = 5  # killed with >= 2 finished and some running: the resumed driver reruns those and ends at 5
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(replay_config_dict(replay_bank, trials=total)))
    (tmp_path / "driver.py").write_text(DRIVER)
    journal = tmp_path / "run" / "study.journal"

    driver = _drive(tmp_path, ray_cluster.joined_env())  # a driver on a cluster: its trials end with it
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if journal.exists():
                try:
                    trials = _study(str(journal)).trials
                except (KeyError, ValueError):  # the study is not created yet
                    trials = []
                finished = [t for t in trials if t.state.is_finished()]
                running = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
                if len(finished) >= 2 and running:
                    break
            assert driver.poll() is None, driver.stderr.read()
            time.sleep(0.2)
        else:
            pytest.fail("the driver never had finished and running trials at once")
        os.kill(driver.pid, signal.SIGKILL)  # the driver process itself, mid-search
        driver.wait(timeout=30)
    finally:
        end_process_group(driver)

    before = {t.number: (t.state, t.value, t.params) for t in _study(str(journal)).trials if t.state.is_finished()}
    stale = [t.number for t in _study(str(journal)).trials if t.state == TrialState.RUNNING]
    assert before and stale

    again = _drive(tmp_path, ray_cluster.joined_env())  # the same command again
    try:
        _, err = again.communicate(timeout=240)
        assert again.returncode == 0, err
    finally:
        end_process_group(again)

    study = _study(str(journal))
    assert_resumed(study, before, stale, total)


def test_no_trial_starts_that_the_time_budget_would_cut(ray_session, replay_bank, tmp_path, capsys):
    """A trial started with less of the budget left than a trial takes was cut by Tune and thrown away (four on an
    H200, benchmarks/results/gpu_h200.md); now the searcher stops asking, and says so. Trials of ~2 s here."""
    settings = replay_config_dict(replay_bank, trials=200, time_budget_s=25, max_concurrent_trials=2)
    settings["early_stage"]["enabled"] = False  # every trial ~2 s: the last 2 s of the budget start none
    config = validate_config(settings)
    factory = replay_bank.trainer_factory(seconds_per_report=0.2)
    outcome = run_search(config, out=tmp_path, trainer_factory=factory, num_cpus=2)
    said = " ".join(capsys.readouterr().out.split())
    assert outcome.total < 200 and "search.time_budget_s: no trial started in its last" in said, said


@pytest.mark.parametrize(
    ("stop", "code", "label"), [(signal.SIGINT, 130, "interrupted:"), (signal.SIGTERM, 143, "terminated:")]
)
def test_ctrl_c_or_sigterm_keeps_what_finished_and_says_how_to_resume(ray_cluster, tmp_path, stop, code, label):
    """Ctrl-C (SIGINT to the command's process group, as a terminal sends it) ended `foretune search` with exit
    code 130 and no word; SIGTERM (a batch scheduler's stop, `timeout`, `kill`) with a C++ stack from Ray. Now one
    line says what finished and how to resume, and the same command resumes."""
    run = tmp_path / "run"
    replayed = ["--replay", str(REPLAY_CURVES), "--set", "search.metric=val_loss", "--set", "search.mode=min"]
    command = [sys.executable, "-m", "foretune.cli", "search", str(REPO / "configs" / "default.yaml"), *replayed]
    env = {**os.environ, **ray_cluster.joined_env()}
    search = start_in_own_session([*command, "--trials", "1000", "--out", str(run)], env)
    try:
        deadline = time.time() + 120
        while len(_finished(run / "study.journal")) < 3:
            assert search.poll() is None and time.time() < deadline, search.stderr.read()
            time.sleep(0.2)
        os.killpg(search.pid, stop)
        _, stderr = search.communicate(timeout=180)  # a loaded 2-core machine: the stop waits for the next step
    finally:
        end_process_group(search)
    assert search.returncode == code, stderr
    assert "Traceback" not in stderr and "SIGTERM received" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(label), stderr
    text = " ".join(stderr.split())
    assert "of 1000 trials of study 'demo' finished and are kept" in text and "the same command resumes" in text
    held = len(counted_trials(_study(str(run / "study.journal"), "demo")))
    again = subprocess.run(
        [*command, "--trials", str(held + 2), "--out", str(run)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert f"resuming study 'demo': {held} of {held + 2} trials finished" in again.stdout
    assert len(counted_trials(_study(str(run / "study.journal"), "demo"))) == held + 2


def _finished(journal: Path) -> list:
    if not journal.exists():
        return []
    try:
        return [t for t in _study(str(journal), "demo").trials if t.state.is_finished()]
    except (KeyError, ValueError):  # the study is not created yet
        return []


def test_a_time_budget_ends_the_session_with_no_trial_left_running(ray_session, replay_bank, tmp_path, capsys):
    """search.time_budget_s: Tune ends the session; a trial asked but not yet started stayed RUNNING in the study
    (nobody ran it), and nothing said why the search stopped short of its total."""
    config = validate_config(replay_config_dict(replay_bank, trials=200, time_budget_s=6))
    factory = replay_bank.trainer_factory(seconds_per_report=0.05)
    outcome = run_search(config, out=tmp_path, trainer_factory=factory, num_cpus=2)
    study = _study(str(tmp_path / "study.journal"))
    assert outcome.total < 200  # (none may finish on a loaded machine: the budget counts worker start-up too)
    assert not [t.number for t in study.trials if t.state == TrialState.RUNNING]
    for trial in study.trials:  # one asked but never started: not counted, its parameters queued for the next session
        if trial.state == TrialState.FAIL:
            assert trial.user_attrs[INTERRUPTED_ATTR]
            (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == trial.number]
            assert retry.state == TrialState.WAITING and retry.system_attrs["fixed_params"] == trial.params
    said = " ".join(capsys.readouterr().out.split())
    assert f"search.time_budget_s = 6 s ran out: {outcome.total} of 200 trials finished" in said
