"""Shared fixtures of the search tests: recorded curves to replay, and a replay config."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from foretune.trainers.replay import ReplayBank

REPO = Path(__file__).resolve().parents[2]
# Shipped with the repo (made by tests/data/make_replay_curves.py): the stack tests never skip.
REPLAY_CURVES = REPO / "tests" / "data" / "replay_curves.csv"
# scan-bench's real OpenCLIP curves, present only beside a checkout that has ../shared.
VLM_CSV = REPO.parent / "shared" / "data" / "learning-curves" / "scan-bench" / "vlm.csv"


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


def end_process_group(process: subprocess.Popen) -> None:
    """SIGKILL a driver started with start_new_session=True, and the Ray processes of its group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
