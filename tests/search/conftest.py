"""Shared fixtures of the search tests: recorded curves to replay, a replay config, and curves fed to the
early-stage evaluator by hand."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from foretune.keys import (
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_SCORE_ATTR,
    FRACTION_REACHED_ATTR,
    INTERRUPTED_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
    RETRY_OF_ATTR,
)
from foretune.predictors.calibration import cold_basis
from foretune.search.evaluator import EarlyStageEvaluator
from foretune.search.storage import counted_trials
from foretune.trainers.replay import ReplayBank

REPO = Path(__file__).resolve().parents[2]
# Shipped with the repo (made by tests/data/make_replay_curves.py): the stack tests never skip.
REPLAY_CURVES = REPO / "tests" / "data" / "replay_curves.csv"
# scan-bench's real OpenCLIP curves, present only beside a checkout that has ../shared.
VLM_CSV = REPO.parent / "shared" / "data" / "learning-curves" / "scan-bench" / "vlm.csv"
FRACTIONS = np.round(np.arange(1, 11) / 10, 9)  # evaluations at 10%, 20%, ..., 100%


def oriented(mode: str, values) -> list[float]:
    """Loss-like values (falling = better) for min; their mirror (rising = better) for max."""
    values = np.asarray(values, dtype=float)
    return list(values if mode == "min" else 3.0 - values)


def feed_curve(evaluator: EarlyStageEvaluator, trial: str, values) -> float:
    """Feed a curve at 0.1, 0.2, ... to `evaluator`; returns the fraction the trial reached."""
    evaluator.add(trial, {})
    for fraction, value in zip(FRACTIONS, values, strict=False):
        evaluator.observe(trial, fraction, value)
        if evaluator.due(trial, fraction) and not evaluator.judge(trial, fraction):
            return float(fraction)
    evaluator.finish(trial)
    return float(FRACTIONS[len(values) - 1])


def judged_trial(state, value, early, predicted=None, reached=1.0, decision=None):
    """A frozen Optuna trial as the search records one: its early score, the fraction it reached, and its
    predicted (lower, final, upper) at the early fraction or none (ranked by its early score)."""
    attrs = {EARLY_SCORE_ATTR: early, FRACTION_REACHED_ATTR: reached}
    if decision is not None:
        attrs[EARLY_DECISION_ATTR] = decision
    if predicted is None:
        attrs[EARLY_BASIS_ATTR] = cold_basis(1)
    else:
        attrs[EARLY_BASIS_ATTR] = "predicted by auto from 3 finished runs, 80% conformal interval"
        attrs.update(zip((PREDICTED_LOWER_ATTR, PREDICTED_FINAL_ATTR, PREDICTED_UPPER_ATTR), predicted, strict=True))
    return create_trial(
        state=state,
        value=value,
        params={"lr": 0.01},
        distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
        intermediate_values={20: early},
        user_attrs=attrs,
    )


@pytest.fixture(scope="session")
def replay_bank() -> ReplayBank:
    return ReplayBank.from_long_table(REPLAY_CURVES)


@pytest.fixture(scope="session")
def scan_bench_bank() -> ReplayBank:
    if not VLM_CSV.is_file():
        pytest.skip(f"scan-bench curves not found at {VLM_CSV}")
    return ReplayBank.from_scan_bench(VLM_CSV)


def replay_config_dict(bank: ReplayBank, **search) -> dict:
    """A config searching the replayed hyperparameters (val_loss, lower is better)."""
    names = ["learning_rate", "weight_decay", "warmup_ratio"]
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(names).items()}
    return {
        "name": "replay",
        "search": {
            "metric": "val_loss",
            "mode": "min",
            "trials": 8,
            "n_startup_trials": 3,
            "max_concurrent_trials": 2,
            "space": space,
            **search,
        },
        "early_stage": {
            "fraction": 0.2,  # pinned: the tests count evaluations up to it (the default moved to 0.1)
            "predictor": "snapshot",
            "grace_trials": 2,
            "rule": "quantile",
            "keep": 0.34,
            "use_upper_bound": False,
        },
        "resources": {"cpus_per_trial": 1},
    }


@pytest.fixture(scope="session")
def tiny_lora_search(ray_session, tiny_model_dir, tmp_path_factory):
    """One real LoRA search through Ray on the tiny test model, shared by the tests that only read what it left
    (tests/search/test_search_lora.py, the report's estimate vs actual in test_estimate.py): (run folder, outcome).
    Two trials of 4 steps one after the other: the first is graced, runs to the end and is scored on the test split,
    the second is ranked against it; the zero-shot baseline once."""
    pytest.importorskip("peft")
    from foretune.config import validate_config
    from foretune.search.driver import run_search

    config = validate_config(
        {
            "name": "lora-tiny",
            "data": {"synthetic_size": 60, "max_eval_samples": 4, "max_test_samples": 4},
            "train": {"max_steps": 4, "batch_size": 2, "eval_fractions": [0.5, 1.0]},
            "model": {"name": tiny_model_dir, "max_length": 96},
            "task": {"max_new_tokens": 8},  # a random tiny model never stops early: 8 tokens make the same point
            "search": {
                "trials": 2,
                "max_concurrent_trials": 1,  # side by side measured no quicker on the 2-core test machine
                "n_startup_trials": 2,
                "space": {"learning_rate": {"type": "log_float", "low": 1e-4, "high": 1e-3}},
            },
            "early_stage": {"fraction": 0.5, "predictor": "snapshot", "grace_trials": 1},
            "resources": {"cpus_per_trial": 1},  # one torch thread: no OpenMP spinning on a busy box
        }
    )
    run_dir = tmp_path_factory.mktemp("lora-search")
    return run_dir, run_search(config, out=run_dir, num_cpus=2, progress=False)


def start_in_own_session(command: list[str], env: dict[str, str], **pipes) -> subprocess.Popen:
    """`command` from the repo in a new session, so that whatever it starts can be ended by group id
    (`end_process_group`) or signalled as a terminal does (Ctrl-C); stdout dropped, stderr kept, unless `pipes`."""
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, **pipes}
    return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, text=True, **streams)


def end_process_group(process: subprocess.Popen) -> None:
    """SIGKILL a driver started with start_new_session=True, and the Ray processes of its group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def assert_resumed(study: optuna.Study, before: dict, stale: list[int], total: int) -> None:
    """A study resumed after its driver was killed: the trials finished before the kill (`before`: number ->
    (state, value, params)) kept as they were; each trial running at the kill (`stale`) marked interrupted and run
    again once with its parameters (a kill mid-sampling leaves some: the retry samples the rest), or, killed between
    its ask and its parameters (CI, 2026-12-03 and -05), not at all: nothing ran; the total reached, not exceeded;
    nothing left running; no trial ran twice."""
    by_number = {t.number: t for t in study.trials}
    for number, (state, value, params) in before.items():
        assert (by_number[number].state, by_number[number].value, by_number[number].params) == (state, value, params)
    for number in stale:
        trial = by_number[number]
        assert trial.state == TrialState.FAIL and trial.user_attrs[INTERRUPTED_ATTR]
        retries = [t for t in study.trials if t.user_attrs.get(RETRY_OF_ATTR) == number]
        if trial.params:
            assert len(retries) == 1 and trial.params.items() <= retries[0].params.items()
        else:
            assert not retries
    counted = counted_trials(study)
    assert len(counted) == total and all(t.state.is_finished() for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in counted}) == total
