"""The curve sets of the search benchmark (`benchmarks/search.py`): replay banks and the config of one search.

scan-bench's `vlm.csv` (its 10-epoch runs), scan-bench's `llm.csv` (the runs with 8 or more checkpoints, first
one by 15% of the budget), or any long table in the format `foretune rank` reads (`trial, fraction, <metrics>,
<hyperparameters>`). `--half even|odd` keeps only the even or odd trial ids of a long table (the design and the
report-only halves of `benchmarks/data/lora_curves.csv`, see benchmarks/data/README.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foretune.config import ExperimentConfig, validate_config  # noqa: E402
from foretune.trainers.replay import ReplayBank  # noqa: E402

SCAN_BENCH = REPO / ".." / "shared" / "data" / "learning-curves" / "scan-bench"
LLM_PARAMS = ["lr", "weight_decay"]  # the two that are `train` fields (a search space may only name those)
CONCURRENT = 2


def load_bank(path: Path, tmp: Path, scales: dict | None = None, half: str = "all") -> tuple[ReplayBank, str]:
    """The replay bank of a curve file and a line describing it."""
    columns = set(pd.read_csv(path, nrows=0).columns) if path.suffix == ".csv" else set()
    if {"config_id", "training_progress"} <= columns:
        bank = ReplayBank.from_scan_bench(path)
        return bank, f"scan-bench `vlm.csv`: {len(bank.runs)} OpenCLIP runs of 10 epochs"
    if {"config_id", "step_fraction", "valid_loss"} <= columns:
        long = tmp / "llm_long.csv"
        llm_long_table(path).to_csv(long, index=False)
        bank = ReplayBank.from_long_table(long)
        return bank, (
            f"scan-bench `llm.csv`: {len(bank.runs)} LM pretraining runs with >= 8 checkpoints (first by 15% of the "
            "budget; values between checkpoints interpolated, before the first one held at it)"
        )
    if half != "all":
        frame = pd.read_csv(path)
        frame = frame[frame["trial"].astype(int) % 2 == (0 if half == "even" else 1)]
        path = tmp / f"{path.stem}_{half}.csv"
        frame.to_csv(path, index=False)
    bank = ReplayBank.from_long_table(path, scales=scales)
    which = "" if half == "all" else f", {half} trial ids only"
    return bank, f"`{path.name}`: {len(bank.runs)} recorded runs (long table{which})"


def llm_long_table(path: Path) -> pd.DataFrame:
    """scan-bench's llm.csv as a long table: the runs with enough checkpoints to be judged early."""
    frame = pd.read_csv(path, usecols=["config_id", "step_fraction", "valid_loss", *LLM_PARAMS])
    frame = frame.dropna(subset=["step_fraction", "valid_loss"])
    grouped = frame.groupby("config_id")["step_fraction"]
    enough = (grouped.transform("size") >= 8) & (grouped.transform("min") <= 0.15)
    frame = frame[enough].rename(columns={"config_id": "trial", "step_fraction": "fraction", "lr": "learning_rate"})
    return frame.sort_values(["trial", "fraction"])


def config_for(bank: ReplayBank, params, *, metric, mode, seed, trials, early) -> ExperimentConfig:
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(params).items()}
    search = {"metric": metric, "mode": mode, "trials": trials, "seed": seed, "n_startup_trials": 5}
    search |= {"max_concurrent_trials": CONCURRENT, "space": space}
    return validate_config(
        {"name": "bench", "search": search, "early_stage": early, "resources": {"cpus_per_trial": 1}}
    )


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def add_curve_set_arguments(parser: argparse.ArgumentParser, *, seeds: str) -> None:
    """The options naming a curve set and the searches on it (`load_set` reads them)."""
    parser.add_argument("--curves", type=Path, default=SCAN_BENCH / "vlm.csv", help="curve file (module docstring)")
    parser.add_argument("--mode", choices=("min", "max"), default="min")
    parser.add_argument("--metric", help="the objective column (default: val_loss, valid_loss for llm.csv)")
    parser.add_argument("--params", nargs="*", help="searched hyperparameters (default: every one recorded)")
    parser.add_argument("--scale", nargs="*", default=[], help="a long table's NAME=log|linear|categorical")
    parser.add_argument("--seeds", default=seeds, help="e.g. 0-19 or 0,3,5")
    parser.add_argument("--trials", type=int, default=40)


def load_set(args: argparse.Namespace, tmp: Path) -> tuple[ReplayBank, str, str, list[str]]:
    """(replay bank, its description, the objective, the searched hyperparameters) of `add_curve_set_arguments`."""
    bank, described = load_bank(args.curves, tmp, dict(item.split("=", 1) for item in args.scale))
    metric = args.metric or ("valid_loss" if "valid_loss" in bank.reported_metrics else "val_loss")
    return bank, described, metric, args.params or list(bank.scales)
