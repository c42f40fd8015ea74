"""Bootstrap 95% intervals of test metrics: resampled test items re-scored by the task's own `score`. That
`foretune train` writes them (and, with data.test_folds, the folds) to metrics.json is checked by the CLI run of
tests/trainers/test_lora.py."""

from __future__ import annotations

import random

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
    small = bootstrap_intervals(TASK.score, *scored(12), n_resamples=100)  # few resamples: each re-scores every item
    large = bootstrap_intervals(TASK.score, *scored(120), n_resamples=100)
    assert {"accuracy", "exact_match", "f1"} <= set(small)
    assert not any(name.startswith("n_") or "/" in name for name in small)  # counts and breakdowns get none
    for intervals in (small, large):
        for interval in intervals.values():
            assert interval.low <= interval.estimate <= interval.high
    assert large["accuracy"].n_items == 120
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
