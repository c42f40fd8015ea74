"""foretune on a real PostgreSQL server (tests/postgres_server.py): a replayed search whose driver (joined to the
session's Ray cluster) is killed with SIGKILL mid-search and resumed, the password kept out of every message and
file, and the dashboard.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from foretune.errors import ForetuneError
from foretune.search.storage import open_storage
from tests.postgres_server import PASSWORD_ENV
from tests.search.conftest import (
    REPLAY_CURVES,
    assert_resumed,
    end_process_group,
    replay_config_dict,
    start_in_own_session,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

DRIVER = textwrap.dedent(
    """
    import sys, yaml
    from foretune.config import validate_config
    from foretune.search.driver import run_search
    from foretune.trainers.replay import ReplayBank

    config = validate_config(yaml.safe_load(open(sys.argv[1])))
    bank = ReplayBank.from_long_table(sys.argv[2])
    run_search(config, out=sys.argv[3], storage=sys.argv[4], study_name=sys.argv[5],
               trainer_factory=bank.trainer_factory(seconds_per_report=0.15), num_cpus=2)
    """
)


def _drive(tmp_path: Path, storage: str, study: str, env: dict[str, str]) -> subprocess.Popen:
    # A new session: after the SIGKILL of the driver, whatever it started is ended by group id.
    command = [sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "config.yaml"), str(REPLAY_CURVES)]
    command += [str(tmp_path / "run"), storage, study]
    return start_in_own_session(command, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _trials(storage: str, study: str) -> list:
    try:
        return optuna.load_study(study_name=study, storage=open_storage(storage)).trials
    except KeyError:  # not created yet
        return []


def test_sigkill_mid_search_then_resume_loses_and_duplicates_nothing(postgres_db, ray_cluster, replay_bank, tmp_path):
    total, study, storage = 5, "resume", postgres_db.url
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(replay_config_dict(replay_bank, trials=total)))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = ray_cluster.joined_env()

    driver = _drive(tmp_path, storage, study, env)
    try:
        deadline = time.time() + 120
        while True:
            trials = _trials(storage, study)
            finished = [t for t in trials if t.state.is_finished()]
            if len(finished) >= 2 and any(t.state == TrialState.RUNNING and t.intermediate_values for t in trials):
                break
            assert driver.poll() is None, driver.stdout.read()
            assert time.time() < deadline, "the driver never had finished and running trials at once"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)  # the driver process itself, mid-search
        first_output, _ = driver.communicate(timeout=30)
    finally:
        end_process_group(driver)

    trials = _trials(storage, study)
    before = {t.number: (t.state, t.value, t.params) for t in trials if t.state.is_finished()}
    stale = [t.number for t in trials if t.state == TrialState.RUNNING]
    assert before and stale

    again = _drive(tmp_path, storage, study, env)  # the same command again: its dead driver's trials are stale at once
    try:
        second_output, _ = again.communicate(timeout=240)
        assert again.returncode == 0, second_output
    finally:
        end_process_group(again)

    loaded = optuna.load_study(study_name=study, storage=open_storage(storage))
    assert_resumed(loaded, before, stale, total)
    assert "trial 0 started" in first_output  # no terminal: plain lines per trial event

    # the password: only in the environment, never in output, Ray's files, the run folder or the study
    password = os.environ[PASSWORD_ENV]
    assert password not in first_output + second_output
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert password not in json.dumps(loaded.user_attrs)


def test_a_wrong_password_is_one_clear_error_without_the_password(postgres_db, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password-7f3a")
    with pytest.raises(ForetuneError) as error:
        open_storage(postgres_db.url)
    message = str(error.value)
    assert "not-the-password-7f3a" not in message and "foretune:***@127.0.0.1" in message
    assert "password authentication failed" in message


@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_dashboard_prints_its_address_and_answers(backend, request, tmp_path):
    """`foretune dashboard RUN_DIR` (the run folder's journal) and `foretune dashboard --storage URL`."""
    storage = str(tmp_path / "study.journal")
    where = [str(tmp_path)]
    if backend == "postgres":
        storage = request.getfixturevalue("postgres_db").url
        where = ["--storage", storage]
    study = optuna.create_study(study_name=f"seen-{backend}", storage=open_storage(storage))
    study.set_metric_names(["val_loss"])
    trial = study.ask()
    trial.report(0.5, 10)
    study.tell(trial, 0.7)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "foretune.cli", "dashboard", *where, "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first_line = server.stdout.readline()
        assert f"at http://127.0.0.1:{port}/" in first_line, first_line
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    names = [s["study_name"] for s in json.loads(response.read())["study_summaries"]]
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.time() < deadline, "the dashboard did not come up"
                time.sleep(0.5)
        assert f"seen-{backend}" in names
    finally:
        server.terminate()
        rest, _ = server.communicate(timeout=10)
    if backend == "postgres":
        assert os.environ[PASSWORD_ENV] not in first_line + rest and "foretune:***@" in first_line
