"""`foretune search / report / dashboard` on bad input: one error line, exit 2, no study created. Most cases run
the CLI in this process (the `cli` fixture); the storage case runs it as a real process. The dashboard
serving a study: tests/search/test_postgres.py (a run folder's journal and a PostgreSQL URL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "foretune.cli", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)


def _assert_user_error(result: subprocess.CompletedProcess | tuple[int, str, str], *words: str) -> None:
    code, _, stderr = result if isinstance(result, tuple) else (result.returncode, result.stdout, result.stderr)
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), stderr
    assert "Traceback" not in stderr
    text = " ".join(stderr.split())
    for word in words:
        assert word in text, stderr


def _no_study(run_dir: Path) -> None:
    assert not (run_dir / "study.journal").exists()
    assert not (run_dir / "report.md").exists()


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"search": {"trials": 2}}))
    return path


@pytest.mark.parametrize(
    "override, words",
    [
        ("search.space.learning_rate={type: uniform, low: 0.1, high: 1}", ["search.space.learning_rate", "type"]),
        ("search.space.learning_rate={type: float, low: 1, high: 0.5}", ["empty range"]),
        ("early_stage.predictor=crystal_ball", ["early_stage.predictor", "crystal_ball"]),
    ],
)
def test_bad_space_or_predictor(config_file, tmp_path, cli, override, words):
    run_dir = tmp_path / "run"
    _assert_user_error(cli("search", str(config_file), "--out", str(run_dir), "--set", override), *words)
    _no_study(run_dir)


def test_storage_that_cannot_be_opened_hides_the_password(config_file, tmp_path):
    run_dir = tmp_path / "run"
    url = "postgresql://alice:s3cret@127.0.0.1:1/foretune"
    result = _cli("search", str(config_file), "--out", str(run_dir), "--storage", url)
    _assert_user_error(result, "cannot open the study storage", "alice:***@")
    assert "s3cret" not in result.stderr + result.stdout
    _no_study(run_dir)


def test_unopenable_sqlite_path(config_file, tmp_path, cli):
    run_dir = tmp_path / "run"
    url = f"sqlite:///{tmp_path / 'missing' / 'deeper' / 'study.db'}"
    _assert_user_error(cli("search", str(config_file), "--out", str(run_dir), "--storage", url), "cannot open")
    _no_study(run_dir)


@pytest.mark.slow
def test_gpu_requested_where_none_exists(config_file, ray_session, tmp_path, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run_dir = tmp_path / "run"
    overrides = ("--set", "resources.gpus_per_trial=1")  # Ray: the session's cluster, joined by this process; no GPU
    _assert_user_error(cli("search", str(config_file), "--out", str(run_dir), *overrides), "gpus_per_trial=1", "GPUs")
    _no_study(run_dir)
    assert not run_dir.exists()


def test_report_and_dashboard_without_a_study(tmp_path, cli):
    _assert_user_error(cli("report", str(tmp_path)), "no study found")
    _assert_user_error(cli("dashboard", str(tmp_path)), "no study")
    assert not (tmp_path / "study.journal").exists()


def test_an_output_path_that_cannot_be_a_folder_fails_before_any_work(config_file, tmp_path, cli):
    """A file where the output folder should go: one error before training (the sweep wrote its results only
    after hours of runs, then crashed), nothing created."""
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    for command in ("train", "search", "sweep", "estimate"):
        _assert_user_error(cli(command, str(config_file), "--out", str(blocker)), "--out", "a file of that name")
        _assert_user_error(cli(command, str(config_file), "--out", str(blocker / "run")), "is a file, so no folder")
    curves = REPO / "tests" / "data" / "replay_curves.csv"
    rank = ("rank", str(curves), "--value-col", "val_loss", "--mode", "min", "--out")
    _assert_user_error(cli(*rank, str(tmp_path)), "that is a folder", "give a CSV file")
    _assert_user_error(cli(*rank, str(blocker / "ranking.csv")), "a file of that name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.yaml", "taken"]


def test_dashboard_on_a_port_in_use_is_one_clear_error(tmp_path, cli):
    """It printed a bare `OSError: [Errno 98] Address already in use` traceback."""
    import socket

    import optuna

    from foretune.search.storage import journal_path, open_storage

    study = optuna.create_study(study_name="seen", storage=open_storage(str(journal_path(tmp_path))))
    study.enqueue_trial({})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _assert_user_error(
            cli("dashboard", str(tmp_path), "--port", str(port)), f"127.0.0.1:{port}", "in use", "--port"
        )


def test_report_of_a_study_with_no_trial_yet(tmp_path, cli):
    """A search stopped before its first trial: the report says so (the plots raised KeyError 'state'), and
    `--storage URL FOLDER` with a file at FOLDER is one error."""
    import optuna

    from foretune.search.storage import journal_path, open_storage

    journal = journal_path(tmp_path)
    optuna.create_study(study_name="waiting", storage=open_storage(str(journal))).enqueue_trial({})
    code, stdout, stderr = cli("report", str(tmp_path))
    assert code == 0, stderr
    assert "No trials yet" in stdout and "No trials yet" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "curves.png").stat().st_size and (tmp_path / "predicted_vs_final.png").stat().st_size
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    _assert_user_error(cli("report", str(blocker), "--storage", str(journal)), "report folder", "in the way")


def test_ctrl_c_inside_a_library_cleanup_still_reads_as_ctrl_c(tmp_path):
    """Ctrl-C as optuna's journal lock released itself: its handler raised FileNotFoundError from the
    KeyboardInterrupt (a traceback, once in five interrupted searches); it is the same interruption."""
    import optuna

    from foretune.errors import Interrupted
    from foretune.search.ctrl_c import resumable_on_ctrl_c

    study = optuna.create_study(study_name="cut")
    study.add_trial(optuna.trial.create_trial(value=1.0))

    def interrupted_cleanup():
        try:
            raise KeyboardInterrupt
        except BaseException:
            raise FileNotFoundError("study.journal.lock") from None

    with pytest.raises(Interrupted) as stopped:
        with resumable_on_ctrl_c(study, 5, str(tmp_path / "study.journal"), tmp_path):
            interrupted_cleanup()
    assert stopped.value.exit_code == 130 and "1 of 5 trials of study 'cut' finished" in str(stopped.value)
    with pytest.raises(FileNotFoundError):  # not after Ctrl-C: a bug, its traceback kept
        with resumable_on_ctrl_c(study, 5, str(tmp_path / "study.journal"), tmp_path):
            raise FileNotFoundError("elsewhere")
    # A wrapper raised `from` the interrupt outside its handler carries it as its cause only.
    with pytest.raises(Interrupted):
        with resumable_on_ctrl_c(study, 5, str(tmp_path / "study.journal"), tmp_path):
            raise RuntimeError("the trial's actor died") from KeyboardInterrupt()
    looped, other = FileNotFoundError("looped"), OSError("other")
    looped.__context__, other.__context__ = other, looped  # a chain that comes back to itself ends the search
    with pytest.raises(FileNotFoundError):
        with resumable_on_ctrl_c(study, 5, str(tmp_path / "study.journal"), tmp_path):
            raise looped


def test_an_address_where_no_cluster_listens_is_one_error_at_once(config_file, tmp_path):
    """ray.init retried such an address for minutes, printing Ray's own logs (killed at 2 minutes here)."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_dir = tmp_path / "run"
    result = _cli("search", str(config_file), "--out", str(run_dir), "--address", f"127.0.0.1:{port}")
    _assert_user_error(result, f"no Ray cluster answers at 127.0.0.1:{port}", "ray start --head")
    assert not run_dir.exists()


def test_an_error_with_brackets_is_printed_whole(cli):
    """rich read '[smollm2-135m, /models/small]' in an error as markup and dropped it: 'e.g. , got'."""
    code, _, stderr = cli("config", str(REPO / "configs" / "default.yaml"), "--set", "sweep.models=[a, a]")
    assert code == 2 and "e.g. [smollm2-135m, /models/small], got" in " ".join(stderr.split())
