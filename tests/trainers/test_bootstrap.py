"""Bootstrap 95% intervals of test metrics: resampled test items re-scored by the task's own `score`;
`foretune train` writes them (and, with data.test_folds, the folds) to metrics.json (real LoRA steps on the
tiny test model)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from foretune.predictors.bootstrap import bootstrap_intervals, read_intervals, small_test_note, with_intervals
from foretune.trainers.data import generate_products
from foretune.trainers.tasks import AttributeExtractionTask

TASK = AttributeExtractionTask()


def scored(n: int, right: float = 0.7, seed: int = 0) -> tuple[list, list]:
    """n products and predictions that get each value right with probability `right`."""
    products = generate_products(n, seed=seed)
    rng = random.Random(seed)
    predictions = [{k: (v if rng.random() < right else "wrong") for k, v in p.attributes.items()} for p in products]
    return products, predictions


def test_interval_contains_the_estimate_and_shrinks_with_more_items() -> None:
    small = bootstrap_intervals(TASK.score, *scored(30), n_resamples=300)
    large = bootstrap_intervals(TASK.score, *scored(300), n_resamples=300)
    assert {"accuracy", "exact_match", "f1"} <= set(small)
    assert not any(name.startswith("n_") or "/" in name for name in small)  # counts and breakdowns get none
    for intervals in (small, large):
        for interval in intervals.values():
            assert interval.low <= interval.estimate <= interval.high
    assert large["accuracy"].n_items == 300
    assert large["accuracy"].width < 0.6 * small["accuracy"].width  # ~ 1 / sqrt(10) in theory
    assert small["accuracy"].width > 0.05


def test_same_seed_same_interval_and_flat_keys_read_back() -> None:
    items, predictions = scored(40)
    scores = TASK.score(items, predictions)
    first = with_intervals(scores, TASK.score, (items, predictions), n_resamples=200)
    again = with_intervals(scores, TASK.score, (items, predictions), n_resamples=200)
    assert first == again
    low, high = read_intervals(first)["accuracy"]
    assert low <= scores["accuracy"] <= high and first["n_items"] == 40
    assert with_intervals(scores, TASK.score, None) == scores  # no predictions kept: unchanged


def test_one_item_or_mismatched_lengths() -> None:
    items, predictions = scored(1)
    assert bootstrap_intervals(TASK.score, items, predictions) == {}
    with pytest.raises(ValueError, match="one prediction per item"):
        bootstrap_intervals(TASK.score, items, [])


def test_the_small_test_note_says_how_wide_and_what_it_means() -> None:
    note = small_test_note("accuracy", 24, 0.52, 0.83)
    assert "24 items" in note and "0.31 wide" in note and "may not really differ" in note
    assert small_test_note("accuracy", 100, 0.52, 0.83) is None
    assert "3/8 = 0.38" in small_test_note("accuracy", 8, 0.0, 0.0)  # no spread is not certainty


def test_cli_train_writes_intervals_to_metrics_json(tiny_train_settings, tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = {**tiny_train_settings, "data.max_test_samples": 5, "data.test_folds": 2}
    args = [sys.executable, "-m", "foretune.cli", "train", "configs/default.yaml", "--out", str(out)]
    for key, value in settings.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_items"] == 5
    for which, scores in (("fine_tuned", metrics["test"]), ("zero_shot", metrics["zero_shot_test"])):
        interval = metrics["test_intervals"][which]["accuracy"]
        assert interval["confidence"] == 0.95
        assert interval["low"] <= scores["accuracy"] <= interval["high"]
    assert metrics["small_test_note"].startswith("The test split has only 5 items")
    assert "95% bootstrap intervals" in done.stdout
    folds = metrics["test_folds"]  # data.test_folds: the config and zero-shot over 2 disjoint folds
    assert folds["k"] == 2 and len(folds["fine_tuned"]) == len(folds["zero_shot"]) == 2
    assert set(folds["summary"]["fine_tuned"]["accuracy"]) == {"mean", "stderr"}
