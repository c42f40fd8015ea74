"""Shared fixtures of the search tests: the real recorded curves and a replay config."""

from __future__ import annotations

from pathlib import Path

import pytest

VLM_CSV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "learning-curves" / "scan-bench" / "vlm.csv"


@pytest.fixture(scope="session")
def vlm_bank():
    if not VLM_CSV.is_file():
        pytest.skip(f"recorded curves not found at {VLM_CSV}")
    from foretune.trainers.replay import ReplayBank

    return ReplayBank.from_scan_bench(VLM_CSV)


def replay_config_dict(bank, **search) -> dict:
    """A config searching the replayed hyperparameters (val_loss, lower is better)."""
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(["learning_rate", "weight_decay", "warmup_ratio"]).items()}
    return {
        "name": "replay",
        "search": {"metric": "val_loss", "mode": "min", "trials": 8, "n_startup_trials": 3,
                   "max_concurrent_trials": 2, "space": space, **search},
        "early_stage": {"predictor": "snapshot", "grace_trials": 2, "rule": "quantile", "keep": 0.34,
                        "use_upper_bound": False},
        "resources": {"cpus_per_trial": 1},
    }
