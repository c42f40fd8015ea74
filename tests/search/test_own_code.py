"""`foretune.optimize` on your own training function: real Ray Tune + Optuna, plain-Python curves (cheap), a
trial the early-stage rule stops, a resumed study, a function that reports badly; `--trainable` bad paths."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "shape": {"type": "categorical", "choices": ["a", "b"]}}
EARLY = {
    "early_stage.predictor": "snapshot",
    "early_stage.rule": "top_k",
    "early_stage.keep": 1,
    "early_stage.fraction": 0.2,  # pinned: the tests count evaluations up to it (the default moved to 0.1)
}


def final_score(params: dict) -> float:
    return 1.0 - (params["x"] - 0.3) ** 2 - (0.1 if params["shape"] == "b" else 0.0)


def train_curve(params, reporter):
    """A run whose score rises to `final_score(params)` over ten evaluations."""
    for step in range(1, 11):
        reporter.report(step / 10, step, {"score": final_score(params) * (step / 10) ** 0.5, "loss": 1.0 / step})


def train_without_the_metric(params, reporter):
    reporter.report(0.5, 5, {"loss": 0.3})


def train_going_backwards(params, reporter):
    """Counts the fraction left rather than done."""
    reporter.report(1.0, 1, {"score": 0.1})
    reporter.report(0.5, 2, {"score": 0.2})


def train_in_percent(params, reporter):
    reporter.report(50, 5, {"score": 0.1})


def train_reporting_none(params, reporter):
    reporter.report(0.1, 1, {"score": None})


def train_in_percent_points(params, reporter):
    """An accuracy in percent, against `search.metric_range: [0, 1]`."""
    reporter.report(0.1, 1, {"score": 100 * final_score(params)})


def train_stopping_itself(params, reporter):
    """Its own early stopping: returns at half of its budget."""
    for step in range(1, 6):
        reporter.report(step / 10, step, {"score": params["x"] * step})


def train_diverging(params, reporter):
    """Its loss turns NaN at 40% of the budget and stays so (what a diverged run does); the score goes on."""
    for step in range(1, 11):
        reporter.report(step / 10, step, {"score": params["x"] * step, "loss": 1.0 / step if step < 4 else math.nan})


def train_with_items(params, reporter):
    """Scores 40 validation items right or wrong (more of them right nearer x = 0.3): its final is their mean, and
    the items go to `final_items`."""
    right = [float((i * 0.618) % 1 < final_score(params) - 0.3) for i in range(40)]
    final = sum(right) / len(right)
    for step in range(1, 11):
        reporter.report(step / 10, step, {"score": final * (step / 10) ** 0.5})
    reporter.final_items("score", right)


def train_items_not_the_final(params, reporter):
    reporter.report(1.0, 1, {"score": 0.9})
    reporter.final_items("score", [1.0, 0.0])


@pytest.fixture(scope="module")
def ray_session(ray_session):
    """The session's Ray (tests/ray_cluster.py), this module's functions shipped to its workers by value."""
    from ray import cloudpickle

    # pytest imports this file as a top-level module Ray's workers cannot import: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray_session
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
def test_optimize_prunes_records_curves_and_resumes(ray_session, tmp_path, capsys):
    import optuna
    from optuna.trial import TrialState

    import foretune
    from foretune.search.function_trial import ReportMisuse
    from foretune.search.storage import open_storage

    def search(trials: int):
        overrides = {**EARLY, "early_stage.grace_trials": 1, "search.max_concurrent_trials": 1}
        return foretune.optimize(
            train_curve, space=SPACE, metric="score", trials=trials, out=tmp_path, overrides=overrides, progress=False
        )

    first = search(3)
    assert (first.ran, first.total, first.study_name) == (3, 3, "train_curve")
    storage = open_storage(str(tmp_path / "study.journal"))
    before = optuna.load_study(study_name="train_curve", storage=storage).trials
    states = [t.state for t in before]
    assert TrialState.PRUNED in states and before[0].state == TrialState.COMPLETE, states
    for trial in before:
        if trial.state == TrialState.COMPLETE:  # the whole curve, the final value as the function reported it
            assert sorted(trial.intermediate_values) == list(range(10, 101, 10))
            assert trial.value == pytest.approx(final_score(trial.params))
        else:  # stopped at the early fraction (20%), its curve up to there kept
            assert trial.state == TrialState.PRUNED
            assert sorted(trial.intermediate_values) == [10, 20] and trial.user_attrs["fraction_reached"] == 0.2
            assert trial.user_attrs["early_decision"] == "pruned"
        # the wall-clock costs of the function, pruned or not: seconds x the one CPU core the trial holds
        assert trial.user_attrs["cost.train_seconds"] > 0
        assert trial.user_attrs["cost.device_hours"] == pytest.approx(trial.user_attrs["cost.train_seconds"] / 3600)
    best = max((t for t in before if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert yaml.safe_load((tmp_path / "best.yaml").read_text()) == best.params
    assert (tmp_path / "report.md").is_file() and (tmp_path / "curves.png").is_file()

    resumed = search(4)  # the same call with a larger target resumes the study
    assert (resumed.ran, resumed.total) == (1, 4)
    after = optuna.load_study(study_name="train_curve", storage=storage).trials
    assert [(t.params, t.state, t.value) for t in after[:3]] == [(t.params, t.state, t.value) for t in before]
    assert len({tuple(sorted(t.params.items())) for t in after}) == 4  # no proposal was repeated
    capsys.readouterr()
    again = foretune.optimize(train_curve, space=SPACE, metric="score", trials=4, out=tmp_path, overrides=EARLY)
    assert again.ran == 0 and "already holds 4 trial(s), 4 asked" in capsys.readouterr().out  # says why, not silent

    # A reporter misused by the function fails every trial alike: the search stops at the first (it ran all 8)
    outside = r"reported score=\S+ at fraction 0.1, outside search.metric_range \[0, 1\]; set search.metric_range"
    for train_fn, words, overrides in (
        (train_without_the_metric, "reported loss at fraction 0.5 but not 'score', the search metric", {}),
        (train_going_backwards, "reported fraction=0.5 after 1; report the fraction of the budget done so far", {}),
        (train_in_percent, r"reported fraction=50; a budget fraction is in \(0, 1\] \(a percentage\?", {}),
        (train_reporting_none, "reported score=None at fraction 0.1: not a number", {}),
        (train_in_percent_points, outside, {"search.metric_range": [0, 1]}),
        (train_items_not_the_final, "final_items of score: their mean 0.5 is not the final it reported, 0.9", {}),
    ):
        bad = tmp_path / train_fn.__name__
        with pytest.raises(ReportMisuse, match=f"{words}.*The search stopped there"):
            foretune.optimize(
                train_fn, space=SPACE, metric="score", trials=8, out=bad, progress=False, overrides=overrides
            )
        assert "RAY_IGNORE_UNHANDLED_ERRORS" not in os.environ  # set only while it stopped, then as before
        bad_storage = open_storage(str(bad / "study.journal"))
        trials = optuna.load_study(study_name=train_fn.__name__, storage=bad_storage).trials
        failed = [t for t in trials if re.search(words, t.user_attrs.get("error", ""))]
        assert failed and all(t.state == TrialState.FAIL for t in failed)
        assert len(trials) < 8 and not any(t.state in (TrialState.RUNNING, TrialState.COMPLETE) for t in trials)

    stopped = foretune.optimize(
        train_stopping_itself, space=SPACE, metric="score", trials=1, out=tmp_path / "own", progress=False
    )
    (trial,) = optuna.load_study(study_name=stopped.study_name, storage=open_storage(stopped.storage)).trials
    assert trial.state == TrialState.PRUNED and trial.user_attrs["fraction_reached"] == 0.5
    assert trial.intermediate_values == {10 * k: pytest.approx(trial.params["x"] * k) for k in range(1, 6)}

    # a diverged run is stopped where its loss went NaN (it ran its whole budget to a FAIL), and says why
    diverged = foretune.optimize(train_diverging, space=SPACE, metric="score", trials=1, out=tmp_path / "nan")
    (trial,) = optuna.load_study(study_name=diverged.study_name, storage=open_storage(diverged.storage)).trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["fraction_reached"] == 0.4
    assert trial.user_attrs["error"] == "diverged: loss is nan at 40% of the budget; stopped there"
    assert sorted(trial.intermediate_values) == [10, 20, 30, 40]
    assert "failed  in" in capsys.readouterr().out  # the log line says failed, not pruned


def test_a_function_that_gives_its_items_runs_with_a_memory_reporter_too():
    """Written for a search, run by hand (a notebook, a unit test of your own): MemoryReporter keeps its items."""
    from foretune.trainers.reporters import MemoryReporter

    reporter = MemoryReporter()
    train_with_items({"x": 0.3, "shape": "a"}, reporter)
    values = reporter.final_values["score"]
    assert len(values) == 40 and sum(values) / 40 == pytest.approx(reporter.frame()["score"].iloc[-1])


@pytest.mark.slow
def test_a_functions_final_items_give_the_reports_validation_noise(ray_session, tmp_path):
    """`reporter.final_items`: each validation item's score at the final; the search resamples them as it does the
    built-in trainer's items, and the report weighs the finals' differences against them."""
    import optuna
    from optuna.trial import TrialState

    import foretune
    from foretune.search.storage import open_storage

    overrides = {"early_stage.enabled": False, "search.max_concurrent_trials": 2}
    outcome = foretune.optimize(
        train_with_items, space=SPACE, metric="score", trials=4, out=tmp_path, overrides=overrides, progress=False
    )
    trials = optuna.load_study(study_name=outcome.study_name, storage=open_storage(outcome.storage)).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for trial in trials:
        draws = trial.user_attrs["final_draws"]  # the mean of 40 resampled items, 200 times
        assert len(draws) == 200 and min(draws) <= trial.value <= max(draws) and min(draws) < max(draws)
        assert trial.user_attrs["final_items"].startswith("40:")
    report = (tmp_path / "report.md").read_text()
    assert "Validation noise: each final is scored on 40 validation items" in report
    assert "reporter.final_items" not in report

    without = foretune.optimize(  # the same search of a function that gives no items: the report says how to
        train_curve,
        space=SPACE,
        metric="score",
        trials=3,
        out=tmp_path / "no-items",
        overrides=overrides,
        progress=False,
    )
    report = (without.run_dir / "report.md").read_text()
    assert "Validation noise: not measured, no final came with its validation items" in report
    assert "`reporter.final_items(metric, values)`" in report and "moves by" not in report


@pytest.mark.slow
@pytest.mark.parametrize(("reuse", "processes"), [(True, 1), (False, 3)])
def test_trials_run_in_a_reused_worker_process_when_asked(ray_session, tmp_path, reuse, processes):
    """search.reuse_workers: three trials one after another share one worker process (Tune's reuse_actors), or
    each starts its own. (The built-in trainer reuses by default: the searches of test_search_stack.py run so.)"""
    import os

    import foretune

    seen = tmp_path / "pids"
    seen.mkdir()

    def train_recording_its_process(params, reporter):
        (seen / f"{params['x']:.6f}").write_text(str(os.getpid()))
        reporter.report(1.0, 1, {"score": final_score(params)})

    overrides = {"search.max_concurrent_trials": 1, "early_stage.enabled": False, "search.reuse_workers": reuse}
    outcome = foretune.optimize(
        train_recording_its_process, space=SPACE, metric="score", trials=3, out=tmp_path, overrides=overrides
    )
    assert outcome.ran == 3 and len(list(seen.iterdir())) == 3
    assert len({path.read_text() for path in seen.iterdir()}) == processes


def test_reused_workers_default_to_the_built_in_trainer():
    from foretune.config import load_config

    assert load_config(None).search.reuses_workers is True
    assert load_config(None, {"search.trainable": "pkg.mod:fn", "search.space": SPACE}).search.reuses_workers is False
    assert load_config(None, {"search.reuse_workers": False}).search.reuses_workers is False


def test_optimize_refuses_bad_arguments_before_anything_starts(tmp_path):
    import foretune
    from foretune.errors import ForetuneError

    with pytest.raises(ForetuneError, match="search.mode"):
        foretune.optimize(train_curve, space=SPACE, metric="score", mode="maximize", out=tmp_path)
    with pytest.raises(ForetuneError, match="empty range"):
        foretune.optimize(train_curve, space={"x": {"type": "float", "low": 1, "high": 0}}, metric="s", out=tmp_path)
    with pytest.raises(ForetuneError, match="train_fn must be a function"):
        foretune.optimize("train_curve", space=SPACE, metric="score", out=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "path, words",
    [
        ("no_colon", "give 'package.module:function'"),
        ("no_such_module_here:train", "no module named 'no_such_module_here'"),
        ("json:no_such_function", "json has no function 'no_such_function'"),
    ],
)
def test_bad_trainable_paths_say_what_to_fix(path, words):
    from foretune.errors import ForetuneError
    from foretune.search.function_trial import load_train_fn

    with pytest.raises(ForetuneError, match=f"search.trainable '{path}'.*{words}"):
        load_train_fn(path)


def test_search_trainable_bad_import_path_is_one_line(tmp_path, cli):
    """In this process, as the console script runs (a real `foretune search --trainable` process:
    tests/trainers/test_hf_callback.py)."""
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"search": {"metric": "score", "space": SPACE}}))  # the function's names
    run_dir = tmp_path / "run"
    code, _, stderr = cli("search", str(config), "--out", str(run_dir), "--trainable", "no_such_module_here:train")
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: search.trainable"), stderr
    assert "no module named 'no_such_module_here'" in lines[0]
    assert not run_dir.exists()


def test_search_trainable_misused_reporter_ends_on_its_one_line(tmp_path, ray_cluster):
    """A real `foretune search --trainable` process on the test cluster, two trials at a time: the first report in
    percent stops the search with exit code 2, and the trial in flight, failing alike as Tune stops it, is not
    logged again by Ray ("Unhandled error", a traceback per trial) above the one error line."""
    import subprocess

    config = tmp_path / "mine.yaml"
    search = {"metric": "score", "space": SPACE, "trials": 6, "max_concurrent_trials": 2}
    config.write_text(yaml.safe_dump({"search": search}))
    result = subprocess.run(
        [sys.executable, "-m", "foretune.cli", "search", str(config), "--out", str(tmp_path / "run"), "--quiet"]
        + ["--trainable", "tests.search.test_own_code:train_in_percent"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, **ray_cluster.joined_env()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: train_fn reported fraction=50" in result.stderr and "The search stopped there" in result.stderr
    assert "Unhandled error" not in result.stdout + result.stderr, result.stderr[-3000:]


def test_import_foretune_stays_light(run_without):
    result = run_without("import foretune; print(foretune.optimize.__name__)", blocked=("torch", "ray", "transformers"))
    assert result.returncode == 0 and result.stdout.strip() == "optimize", result.stderr
