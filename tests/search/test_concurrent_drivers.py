"""Three `foretune search` processes on one study (Optuna's distributed optimisation), on a journal file
and on a real PostgreSQL server: every trial recorded once, the trial target met exactly, no lock errors,
and, with standard output to a file, one plain line per trial event. The drivers join the session's Ray cluster
(tests/ray_cluster.py), as drivers on a cluster do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from foretune.keys import DRIVER_ATTR, EARLY_JUDGED_WITH_ATTR, INTERRUPTED_ATTR, RETRY_OF_ATTR
from foretune.search.drivers import _driver_alive, ask_lock, driver_tag, recover_stale, stale_trials
from foretune.search.storage import open_storage
from tests.search.conftest import REPLAY_CURVES, replay_config_dict

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
DRIVERS, TOTAL = 3, 4  # more drivers than trials left at the end: the target is contended


def _search(tmp_path: Path, storage: str, study: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "foretune.cli", "search", str(tmp_path / "config.yaml")]
    command += ["--replay", str(REPLAY_CURVES), "--storage", storage, "--study", study, "--trials", str(TOTAL)]
    command += ["--out", str(log.with_suffix(""))]
    with log.open("w") as out:  # not a terminal: the plain per-trial lines
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def test_three_drivers_share_one_study_on_a_journal_and_on_postgresql(request, ray_cluster, replay_bank, tmp_path):
    config = replay_config_dict(replay_bank, trials=TOTAL, max_concurrent_trials=1)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    storages, no_postgres = {"journal": str(tmp_path / "study.journal")}, None
    try:
        storages["postgres"] = request.getfixturevalue("postgres_db").url
    except pytest.skip.Exception as skipped:  # the journal half still runs
        no_postgres = str(skipped)

    # both backends at once (6 drivers on one cluster)
    env = ray_cluster.joined_env()  # after postgres_db: it holds the password the drivers read
    runs = {
        backend: [(_search(tmp_path, storage, backend, log, env), log) for log in _logs(tmp_path, backend)]
        for backend, storage in storages.items()
    }
    for process, log in [run for backend_runs in runs.values() for run in backend_runs]:
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    for backend, storage in storages.items():
        _check_shared_study(backend, storage, "\n".join(log.read_text() for _, log in runs[backend]))
    if no_postgres:
        pytest.skip(f"journal checked; PostgreSQL not: {no_postgres}")


def _logs(tmp_path: Path, backend: str) -> list[Path]:
    return [tmp_path / f"{backend}-driver{i}.txt" for i in range(DRIVERS)]


def _check_shared_study(backend: str, storage: str, logs: str) -> None:
    study = optuna.load_study(study_name=backend, storage=open_storage(storage))
    seen = [(t.number, t.params, t.user_attrs.get(DRIVER_ATTR)) for t in study.trials]
    assert len(study.trials) == TOTAL, seen  # the target across all drivers, not per driver
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials), seen
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == TOTAL, seen  # no trial recorded twice
    assert len({t.user_attrs[DRIVER_ATTR] for t in study.trials}) >= 2, seen  # the drivers did share the work
    assert study.metric_names == ["val_loss"]  # the dashboard's objective name

    # Each driver ranks against the other drivers' trials too (earlier_trials): the trial judged last, at least,
    # was ranked against every other trial, of which another driver ran one or more.
    def own_so_far(trial):
        return sum(t.user_attrs[DRIVER_ATTR] == trial.user_attrs[DRIVER_ATTR] for t in study.trials[: trial.number + 1])

    judged_with = {t.number: (t.user_attrs[EARLY_JUDGED_WITH_ATTR], own_so_far(t)) for t in study.trials}
    assert any(ranked > own for ranked, own in judged_with.values()), judged_with

    assert "database is locked" not in logs and "Traceback" not in logs
    if backend == "postgres":
        assert os.environ["FORETUNE_DB_PASSWORD"] not in logs
    for trial in study.trials:  # each trial's events, as plain lines of the driver that ran it
        name = f"trial {trial.number}"
        assert re.search(rf"{name} started  learning_rate=\S+", logs), name
        judged = rf"{name} judged at 20%  early val_loss=\S+  (predicted final \S+ \[\S+, \S+\]|no final predicted)"
        assert re.search(judged, logs), name
        ended = "completed  val_loss=" if trial.state == TrialState.COMPLETE else "pruned at 20%"
        assert re.search(rf"{name} {ended}.* in \d+\.\ds", logs), name


def test_a_stepped_wall_clock_leaves_a_live_driver_alive(monkeypatch):
    """The wall clock jumps (NTP, a VM resumed after a snapshot): the kernel's boot time in wall-clock seconds moves
    with it, and so does every process's wall-clock start time; a driver's tag, counted from boot, does not."""
    import psutil

    tag, started = driver_tag(), psutil.Process().create_time()
    stepped = psutil._psplatform.boot_time() + 37.0
    monkeypatch.setattr(psutil._psplatform, "boot_time", lambda: stepped)  # what /proc/stat's btime reads after it
    assert psutil.Process().create_time() == pytest.approx(started + 37.0)  # the wall-clock start moved
    assert driver_tag() == tag
    assert _driver_alive(tag) is True


def test_only_trials_of_dead_drivers_are_stale_and_requeued_once(tmp_path):
    journal = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="stale", storage=open_storage(journal))
    gone = subprocess.Popen(["sleep", "30"])
    dead_tag = driver_tag(gone.pid)
    gone.kill()
    gone.wait()
    live, dead = study.ask({"x": FloatDistribution(0, 1)}), study.ask({"x": FloatDistribution(0, 1)})
    live.set_user_attr(DRIVER_ATTR, driver_tag())  # this process: a driver that is still running
    dead.set_user_attr(DRIVER_ATTR, dead_tag)
    unclaimed = study.ask({"x": FloatDistribution(0, 1)})  # untagged: its asker died before its claim

    # Under the ask lock no claim is coming for an untagged trial: its asker died between the two (a SIGKILL
    # mid-ask); a live driver's trial between its ask and its claim: the next test.
    with ask_lock(study._storage, study.study_name, journal):
        assert [t.number for t in stale_trials(study)] == [dead.number, unclaimed.number]
    assert recover_stale(study, journal=journal) == 2 and recover_stale(study, journal=journal) == 0
    by_number = {t.number: t for t in study.trials}
    for number in (dead.number, unclaimed.number):
        assert by_number[number].state == TrialState.FAIL and by_number[number].user_attrs[INTERRUPTED_ATTR]
    assert by_number[live.number].state == TrialState.RUNNING
    waiting = study.get_trials(states=(TrialState.WAITING,))  # queued, not yet asked
    assert [w.system_attrs["fixed_params"] for w in waiting] == [dead.params, unclaimed.params]
    assert [w.user_attrs[RETRY_OF_ATTR] for w in waiting] == [dead.number, unclaimed.number]


def test_a_trial_between_ask_and_claim_of_a_live_driver_is_left_alone(tmp_path):
    # A live driver asks and claims under the ask lock; a recovery started meanwhile waits for the lock and then
    # finds the trial claimed.
    journal = str(tmp_path / "study.journal")
    study = optuna.create_study(study_name="claiming", storage=open_storage(journal))
    recovered = []
    with ask_lock(study._storage, study.study_name, journal):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        recovery = threading.Thread(target=lambda: recovered.append(recover_stale(study, journal=journal)))
        recovery.start()
        recovery.join(0.5)
        assert recovery.is_alive() and not recovered  # blocked on the lock meanwhile
        trial.set_user_attr(DRIVER_ATTR, driver_tag())  # the claim
    recovery.join(10)
    assert recovered == [0] and study.trials[trial.number].state == TrialState.RUNNING
