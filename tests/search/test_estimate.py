"""`foretune estimate`: a real pilot on the tiny test model; projections that follow the config; the report's
estimate vs actual after a tiny search through Ray."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from foretune.cli.app import app
from foretune.config import load_config
from foretune.search.estimate import pilot_models, project
from foretune.search.pilot import Plan, RunShape, plan_runs
from foretune.search.run_costs import concurrent_slots, keep_probabilities, makespan, rung_probabilities
from foretune.search.storage import open_storage

runner = CliRunner()


def tiny_yaml(folder: Path, model_dir: str) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(
        f"""name: est-tiny
model: {{name: {model_dir}, max_length: 96}}
data: {{synthetic_size: 60, max_eval_samples: 4, max_final_eval_samples: 8, max_test_samples: 4}}
task: {{max_new_tokens: 8, test_on_completion: false}}  # no test or zero-shot evaluations: a quicker search
train: {{max_steps: 4, batch_size: 2, eval_fractions: [0.5, 1.0]}}
search:
  trials: 2
  max_concurrent_trials: 2
  n_startup_trials: 2
  space: {{learning_rate: {{type: log_float, low: 1.0e-4, high: 1.0e-3}}}}
early_stage: {{fraction: 0.5, predictor: snapshot, grace_trials: 1}}
resources: {{cpus_per_trial: 1}}
"""
    )
    return path


# --- the projection's pieces, on plain numbers ---------------------------------------------------


def test_expected_pruning_follows_the_rule():
    rule = {"search.trials": 10, "early_stage.grace_trials": 2, "early_stage.keep": 0.25, "early_stage.audit_every": 0}
    config = load_config("configs/default.yaml", rule)  # 10 trials, 2 grace, the top quarter kept, no audit
    keep = keep_probabilities(config, 10)
    assert keep[:2] == [1.0, 1.0]
    assert keep[2] == pytest.approx(1 / 3) and keep[4] == pytest.approx(2 / 5)  # ceil(0.25 * j) of j kept
    assert sum(keep) == pytest.approx(4.485, abs=1e-3)
    assert keep_probabilities(config.with_overrides({"early_stage.enabled": False}), 10) == [1.0] * 10
    probability = config.with_overrides({"early_stage.rule": "probability", "early_stage.k": 2})
    assert keep_probabilities(probability, 4) == [1.0, 1.0, pytest.approx(2 / 3), pytest.approx(1 / 2)]


def test_runs_fill_the_slots_in_order():
    assert makespan([3, 3, 3], 2) == 6
    assert makespan([5, 1, 1, 1], 2) == 5
    assert makespan([2, 2], 8) == 2
    config = load_config("configs/default.yaml", {"search.max_concurrent_trials": 4})
    assert concurrent_slots(config, cpus=2, gpus=0) == 2  # one CPU per trial on a 2-core machine
    gpu = config.with_overrides({"resources.gpus_per_trial": 0.5, "resources.cpus_per_trial": 1})
    assert concurrent_slots(gpu, cpus=16, gpus=1) == 2


def test_each_rung_stops_trials_at_its_own_cost():
    rungs = [{"fraction": 0.5, "keep": 0.5}]  # the top half of those that reach 50% go on
    settings = {"search.trials": 10, "early_stage.grace_trials": 2, "early_stage.rule": "quantile"}
    settings["early_stage.audit_every"] = 0  # every stop verdict stops (tests/search/test_audit.py: with an audit)
    config = load_config("configs/default.yaml", {**settings, "early_stage.keep": 0.5, "early_stage.rungs": rungs})
    one_rung = config.with_overrides({"early_stage.rungs": []})
    stops = (RunShape(10, 1, 0, test=False), RunShape(50, 1, 1, test=False))  # stopped at 10% / at 50%
    plan = Plan(RunShape(100, 1, 3, test=False), stops[0], {0: RunShape(0, 0, 0, False, True)}, 10, rungs=stops[1:])
    timing = dict.fromkeys(("start_seconds", "step_seconds", "eval_seconds", "trained_eval_seconds"), 1.0)
    timing |= dict.fromkeys(("test_eval_seconds", "zero_shot_seconds", "prepare_seconds"), 0.0)
    pilot = {"import_seconds": 0.0, "machine": {"cpus": 2, "gpus": 0}}
    pilot["models"] = dict.fromkeys(pilot_models(config), timing)

    two = project(config, pilot, plan=plan)["search"]
    one = project(one_rung, pilot, plan=Plan(plan.full, plan.pruned, plan.sweep, 10))["search"]
    first, second = two["rungs"]
    assert (first["fraction"], second["fraction"]) == (config.early_stage.fraction, 0.5)
    assert first["expected_stopped"] == pytest.approx(one["expected_pruned"])  # the first rung cuts as before
    assert second["expected_stopped"] > 0.5 and two["expected_complete"] < one["expected_complete"]
    assert first["expected_stopped"] + second["expected_stopped"] + two["expected_complete"] == pytest.approx(10)
    # trial 3 reaches 50% with chance 2/3 (top half of 3) and is ranked there among the 2 grace trials + itself
    assert rung_probabilities(config, 3)[2] == [pytest.approx(2 / 3), pytest.approx(2 / 3 * 2 / 3)]
    seconds = {"first": 1 + 10 + 1, "second": 1 + 50 + 2, "full": 1 + 100 + 4}  # start + steps + evaluations
    assert next(iter(second["trial_seconds"].values())) == seconds["second"]
    expected = sum(
        (1 - a) * seconds["first"] + (a - b) * seconds["second"] + b * seconds["full"]
        for a, b in rung_probabilities(config, 10)
    )
    per_run = config.resources.cpus_per_trial
    assert two["device_hours"] == pytest.approx(expected * per_run / 3600)
    assert two["device_hours"] < one["device_hours"]  # the second rung saves compute


def test_the_final_evaluation_is_priced_on_its_own_products():
    """A full trial's last evaluation (data.max_final_eval_samples products) costs the pilot's final_eval_seconds;
    a pruned trial never reaches it; a pilot saved before it was timed apart prices it as the other evaluations."""
    config = load_config("configs/default.yaml", {"search.trials": 4, "early_stage.grace_trials": 1})
    full, pruned = RunShape(15, 1, 1, test=False, final=True), RunShape(3, 1, 0, test=False)
    plan = Plan(full, pruned, {0: RunShape(0, 0, 0, False, True)}, 10)
    timing = dict.fromkeys(("start_seconds", "step_seconds", "eval_seconds", "trained_eval_seconds"), 1.0)
    timing |= dict.fromkeys(("test_eval_seconds", "zero_shot_seconds", "prepare_seconds"), 0.0)
    pilot = {"import_seconds": 0.0, "machine": {"cpus": 2, "gpus": 0}}
    pilot["models"] = dict.fromkeys(pilot_models(config), {**timing, "final_eval_seconds": 4.0})
    search = project(config, pilot, plan=plan)["search"]
    assert next(iter(search["full_trial_seconds"].values())) == 1 + 15 + 1 + 1 + 4  # start, steps, 2 evals, final
    assert next(iter(search["pruned_trial_seconds"].values())) == 1 + 3 + 1
    pilot["models"] = dict.fromkeys(pilot_models(config), timing)  # an estimate.json of an older pilot
    assert next(iter(project(config, pilot, plan=plan)["search"]["full_trial_seconds"].values())) == 1 + 15 + 3


def _three_unpruned_trials(*, test_seconds: float, zero_shot_seconds: float, cpus: int):
    """(config, plan, pilot): 3 trials run to the end, 1 s per step and per evaluation, the given test and
    zero-shot seconds, `cpus` slots."""
    config = load_config("configs/default.yaml", {"search.trials": 3, "early_stage.enabled": False})
    full = RunShape(15, 1, 0, test=test_seconds > 0, final=True)
    plan = Plan(full, RunShape(3, 1, 0, test=False), {0: RunShape(0, 0, 0, False, True)}, 10)
    timing = dict.fromkeys(("start_seconds", "step_seconds", "eval_seconds", "trained_eval_seconds"), 1.0)
    timing |= {"test_eval_seconds": test_seconds, "zero_shot_seconds": zero_shot_seconds, "prepare_seconds": 0.0}
    pilot = {"import_seconds": 0.0, "machine": {"cpus": cpus, "gpus": 0}}
    pilot["models"] = dict.fromkeys(pilot_models(config), timing)
    return config, plan, pilot


def test_the_zero_shot_baseline_is_priced_in_the_trials_tail():
    """Three equal trials on 2 slots leave one slot free while the last runs: the search runs its zero-shot baseline
    there (foretune/search/zero_shot.py), so it adds nothing to the wall time; after a time budget it comes last."""
    config, plan, pilot = _three_unpruned_trials(test_seconds=0.0, zero_shot_seconds=5.0, cpus=2)
    search = project(config, pilot, plan=plan)["search"]
    full = next(iter(search["full_trial_seconds"].values()))
    assert search["zero_shot_seconds"] == 1 + 5 < full  # its start-up and its answers
    assert search["trials_wall_seconds"] == search["wall_seconds"] == 2 * full
    capped = project(config.with_overrides({"search.time_budget_s": 1000}), pilot, plan=plan)["search"]
    assert capped["wall_seconds"] == capped["trials_wall_seconds"] + 6
    one_slot = project(config.with_overrides({"search.max_concurrent_trials": 1}), pilot, plan=plan)["search"]
    assert one_slot["wall_seconds"] == 3 * full + 6


def test_only_a_trial_that_leads_at_completion_is_priced_a_test_evaluation():
    """With every trial run to the end, the c-th to complete leads the finals so far with probability 1 / c when
    their order says nothing (foretune/search/best_so_far.py): 1 + 1/2 + 1/3 test evaluations for three, not 3."""
    config, plan, pilot = _three_unpruned_trials(test_seconds=6.0, zero_shot_seconds=0.0, cpus=1)  # the wall: a sum
    search = project(config, pilot, plan=plan)["search"]
    assert search["expected_test_evaluations"] == pytest.approx(1 + 1 / 2 + 1 / 3)
    untested = 1 + 15 + 1 + 1  # start, steps, an evaluation at 20%, the final
    assert next(iter(search["full_trial_seconds"].values())) == untested + 6  # a trial that leads
    assert search["trials_wall_seconds"] == pytest.approx(3 * untested + 6 * (1 + 1 / 2 + 1 / 3))


def test_options_the_projection_does_not_model_are_named():
    """use_upper_bound keeps an unknown share (so the search without pruning is given as the upper end) and
    stop_repeats stops an unknown number of replays: the estimate says so instead of a number it did not compute."""
    config = load_config("configs/default.yaml", {"search.trials": 6})
    plan = Plan(RunShape(15, 1, 2, test=False), RunShape(3, 1, 0, test=False), {0: RunShape(0, 0, 0, False, True)}, 10)
    timing = dict.fromkeys(("start_seconds", "step_seconds", "eval_seconds", "trained_eval_seconds"), 1.0)
    timing |= dict.fromkeys(("test_eval_seconds", "zero_shot_seconds", "prepare_seconds"), 0.0)
    pilot = {"import_seconds": 0.0, "machine": {"cpus": 2, "gpus": 0}}
    pilot["models"] = dict.fromkeys(pilot_models(config), timing)
    plain = project(config, pilot, plan=plan)
    assert plain["not_modelled"] == [] and "without_pruning" not in plain["search"]
    options = {"early_stage.use_upper_bound": True, "early_stage.stop_repeats": True}
    both = project(config.with_overrides(options), pilot, plan=plan)
    assert [note.split(":")[0] for note in both["not_modelled"]] == [
        "early_stage.use_upper_bound",
        "early_stage.stop_repeats",
    ]
    unpruned = project(config.with_overrides({"early_stage.enabled": False}), pilot, plan=plan)["search"]
    assert both["search"]["without_pruning"]["device_hours"] == pytest.approx(unpruned["device_hours"])
    assert both["search"]["without_pruning"]["device_hours"] > both["search"]["device_hours"]
    rung = config.with_overrides({"early_stage.rungs": [{"fraction": 0.6, "keep": 1, "use_upper_bound": True}]})
    rung_plan = Plan(plan.full, plan.pruned, plan.sweep, 10, rungs=(RunShape(9, 1, 1, test=False),))
    assert "without_pruning" in project(rung, pilot, plan=rung_plan)["search"]  # a rung's own optimistic end


# --- a real pilot on the tiny model --------------------------------------------------------------


@pytest.fixture(scope="module")
def piloted(tmp_path_factory, tiny_model_dir):
    """`foretune estimate CONFIG --json --out RUN --price 2`, run from an empty folder."""
    folder = tmp_path_factory.mktemp("estimate")
    config = tiny_yaml(folder, tiny_model_dir)
    cwd = folder / "cwd"
    cwd.mkdir()
    run_dir = cwd / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = runner.invoke(app, ["estimate", str(config), "--json", "--out", str(run_dir), "--price", "2"])
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*"))
    return config, run_dir, json.loads(result.stdout), written


@pytest.mark.slow
def test_estimate_json_has_positive_finite_costs(piloted):
    _, run_dir, estimate, written = piloted
    for key in ("search_wall_seconds", "search_device_hours", "search_usd", "sweep_wall_seconds", "sweep_device_hours"):
        assert math.isfinite(estimate[key]) and estimate[key] > 0, key
    assert estimate["search_usd"] == pytest.approx(2 * estimate["search_device_hours"])
    timing = next(iter(estimate["pilot"]["models"].values()))
    assert timing["steps_timed"] == 4 and timing["step_seconds"] > 0 and timing["eval_seconds"] > 0
    # the last step's evaluation scores more products (6: the whole validation split, under the cap of 8); its
    # generation is priced per product, its eval loss (kept on the 4 earlier products, answers generated) as timed
    assert timing["eval_products"] == 4 and timing["final_eval_products"] == 6
    assert timing["final_loss_products"] == 4 and timing["loss_eval_seconds"] > 0
    generating = max(timing["trained_eval_seconds"] - timing["loss_eval_seconds"], 0.0)
    assert timing["final_eval_seconds"] == pytest.approx(timing["loss_eval_seconds"] + generating * 6 / 4)
    assert timing["import_seconds"] > 0 and timing["threads"] == 1  # a fresh process, a trial's threads
    assert 0 < timing["cpu_share"] < 1.5  # CPU time over wall time of the timed steps, one thread
    assert timing["first_step_seconds"] >= timing["step_seconds"] * 0.5  # timed apart, warm-up included
    assert estimate["search"]["expected_complete"] == pytest.approx(1.5)  # 1 grace + half a chance for the 2nd
    assert estimate["search"]["device"] == "core"
    # Nothing but the asked-for estimate.json is written.
    assert written == ["run", "run/estimate.json"]
    assert json.loads((run_dir / "estimate.json").read_text())["search_wall_seconds"] == estimate["search_wall_seconds"]


@pytest.mark.slow
def test_projection_scales_with_the_config(piloted):
    config_path, _, estimate, _ = piloted
    config = load_config(config_path, {"early_stage.enabled": False})
    pilot = estimate["pilot"]
    # Trials, pruning and price leave the runs' shapes as they are: those projections share one plan (making it
    # reads the data and tokenizes it per sweep size); a longer budget makes its own (project's default).
    plan = plan_runs(config)
    one = project(config, pilot, plan=plan)
    two = project(config.with_overrides({"search.trials": 4}), pilot, plan=plan)
    assert two["search_device_hours"] == pytest.approx(2 * one["search_device_hours"])
    assert two["search"]["trials_wall_seconds"] == pytest.approx(2 * one["search"]["trials_wall_seconds"])
    pruned = project(load_config(config_path, {"search.trials": 4}), pilot, plan=plan)  # grace 1, then the top quarter
    assert one["search_device_hours"] < pruned["search_device_hours"] < two["search_device_hours"]
    longer = project(config.with_overrides({"train.max_steps": 8}), pilot)
    step = next(iter(pilot["models"].values()))["step_seconds"]
    full, longer_full = one["search"]["full_trial_seconds"], longer["search"]["full_trial_seconds"]
    assert next(iter(longer_full.values())) - next(iter(full.values())) == pytest.approx(4 * step)
    paid = project(config.with_overrides({"cost.price_per_device_hour": 3.0}), pilot, plan=plan)
    assert paid["search_usd"] == pytest.approx(3 * paid["search_device_hours"])
    rung = load_config(config_path, {"early_stage.rungs": [{"fraction": 0.75, "keep": 0.5}]})
    stopped = plan_runs(rung).rungs  # 4 steps evaluated at 50%, 75% (the rung's), 100%: stopped after step 3
    assert stopped == (RunShape(steps=3, early_evaluations=1, late_evaluations=1, test=False),)
    # evaluated at 50% (the early fraction) and at the last step, the final
    assert plan.full == RunShape(steps=4, early_evaluations=1, late_evaluations=0, test=False, final=True)
    assert plan.pruned == RunShape(steps=2, early_evaluations=1, late_evaluations=0, test=False)
    t = next(iter(pilot["models"].values()))  # a full trial: start-up, 4 steps, the 50% evaluation, the final
    seconds = t["start_seconds"] + 4 * t["step_seconds"] + t["eval_seconds"] + t["final_eval_seconds"]
    # The built-in trainer reuses worker processes: the imports are paid once per slot, not per trial.
    assert next(iter(full.values())) == pytest.approx(seconds)
    fresh = project(config.with_overrides({"search.reuse_workers": False}), pilot, plan=plan)["search"]
    assert next(iter(fresh["full_trial_seconds"].values())) == pytest.approx(seconds + pilot["import_seconds"])
    walls = (
        fresh["wall_seconds"] - fresh["trials_wall_seconds"],
        one["search"]["wall_seconds"] - one["search"]["trials_wall_seconds"],
    )
    assert walls[1] == pytest.approx(walls[0] + pilot["import_seconds"])  # ... paid once before the first trials


@pytest.mark.slow
def test_report_shows_estimate_vs_actual_after_a_search(piloted, tiny_lora_search, tmp_path):
    """The pilot's estimate.json beside the study of a like search of the tiny model (2 trials, 4 steps), which
    tests/search/conftest.py runs once for the tests that read it."""
    _, estimated, _, _ = piloted
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_lora_search[0], run_dir)
    shutil.copy(estimated / "estimate.json", run_dir / "estimate.json")
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "Estimate (estimate.json) vs actual over 2 trials" in result.stdout
    markdown = (run_dir / "report.md").read_text()
    assert "## Estimate vs actual" in markdown and "core-hours" in markdown

    # A search cut short (a time budget, Ctrl-C): its totals are not the estimate's totals; each trial is compared.
    longer = json.loads((run_dir / "estimate.json").read_text())
    longer["search"]["trials"] = 5
    (run_dir / "estimate.json").write_text(json.dumps(longer))
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert "the estimate is for 5 trials and 2 ended, so the search's wall time and core-hours are not compared" in said
    # ... less the test evaluation the estimate counts in a complete trial, where it ran none (this config: none)
    full = next(iter(longer["search"]["full_trial_seconds"].values()))
    test = next(iter(longer["search"]["test_evaluation_seconds"].values()))
    study = optuna.load_study(study_name="lora-tiny", storage=open_storage(str(run_dir / "study.journal")))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    guesses = [full if "test_accuracy" in t.user_attrs else full - test for t in complete]
    expected = f"a complete trial {sum(guesses) / len(guesses):.0f} vs "
    assert expected in said and "wall time" not in said.split("not compared")[1], said


def test_a_search_cut_short_is_compared_trial_by_trial(tmp_path):
    """Against an estimate of 5 trials, 3 ended: each kind's mean seconds, a complete trial that did not lead (no
    test evaluation) estimated without the test evaluation the estimate counts in every complete trial."""
    from datetime import datetime, timedelta

    from foretune.search.estimate_vs_actual import estimate_vs_actual

    start = datetime(2026, 12, 4, 12, 0, 0)
    study = optuna.create_study(direction="maximize")
    for state, seconds, attrs in (
        (TrialState.COMPLETE, 110, {"test_accuracy": 0.5}),  # led: scored on the test split
        (TrialState.COMPLETE, 50, {}),
        (TrialState.PRUNED, 25, {}),
    ):
        value = 0.5 if state == TrialState.COMPLETE else None
        trial = optuna.trial.create_trial(state=state, value=value, user_attrs=attrs)
        trial.datetime_start, trial.datetime_complete = start, start + timedelta(seconds=seconds)
        study.add_trial(trial)
    search = {
        "trials": 5,
        "full_trial_seconds": {"m": 100.0},
        "test_evaluation_seconds": {"m": 30.0},
        "pruned_trial_seconds": {"m": 20.0},
        "device": "GPU",
    }
    (tmp_path / "estimate.json").write_text(json.dumps({"search": search}))
    (line,) = estimate_vs_actual(study, tmp_path)
    assert "the estimate is for 5 trials and 3 ended, so the search's wall time and GPU-hours are not compared" in line
    assert "a complete trial 85 vs 80 s (mean of 2; +6%); a pruned trial 20 vs 25 s (mean of 1; -20%)" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.yaml"], "config file not found"),
        (["configs"], "configs is a folder, not a config file"),
        (["configs/default.yaml", "--set", "train.max_steps=0"], "train.max_steps"),
        (["configs/default.yaml", "--steps", "1"], "at least 2 steps"),
        (["configs/default.yaml", "--price", "-1"], "non-negative price"),
        (["configs/default.yaml", "--trials", "0"], "--trials must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_error(args, message, capsys):
    _estimate_fails(args, message, capsys)


def test_gpus_asked_where_none_exist_is_one_clear_error(capsys):
    """The pilot would time CPU steps and call them GPU-hours; the search itself refuses such a config."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _estimate_fails(["configs/default.yaml", "--set", "resources.gpus_per_trial=1"], "this machine has 0 GPU", capsys)


def _estimate_fails(args, message, capsys):
    from foretune.cli.app import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["foretune", "estimate", *args])
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error


@pytest.mark.slow
def test_sigterm_ends_the_pilot_too_and_says_so(tmp_path, tiny_model_dir):
    """SIGTERM to `foretune estimate` (a batch scheduler's stop) ended it with no word, its pilot process (a child)
    left to run on; now one line, exit 143, the pilot ended with it and nothing written."""
    import signal
    import subprocess
    import sys
    import time

    import psutil

    config = tiny_yaml(tmp_path, tiny_model_dir)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "foretune.cli", "estimate", str(config), "--steps", "100000", "--out", str(out)]
    run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (pilots := psutil.Process(run.pid).children()):
            assert run.poll() is None and time.time() < deadline, run.stderr.read()
            time.sleep(0.2)
        time.sleep(3)  # into the pilot's steps
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == (
        "terminated: the estimate stopped before its pilot finished; nothing was written"
    ), stderr
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in pilots) and not out.exists()
