"""Bootstrap 95% intervals of test metrics: resampled test items re-scored by the task's own `score`. That
`foretune train` writes them (and, with data.test_folds, the folds) to metrics.json is checked by the CLI run of
tests/trainers/test_lora.py."""

from __future__ import annotations

import random
import time

import pytest

from foretune.predictors.bootstrap import (
    bootstrap_intervals,
    item_intervals,
    items_fingerprint,
    paired_draws,
    read_intervals,
    small_test_note,
    with_intervals,
)
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


def test_a_users_metrics_get_intervals_from_their_own_function_unless_too_slow() -> None:
    """A task.metric_fn's keys ride in the scores beside the task's: each is re-scored by the function that gave
    it (a user's key that shadows a task's too); a user's function too slow for its resamples gets none."""
    items, predictions = scored(24)

    def user(records, answers):  # every fourth product counts; "accuracy" shadows the task's own
        right = [TASK.score([r], [a])["accuracy"] for r, a in zip(records, answers, strict=True)]
        return {"quarter_accuracy": sum(right[::4]) / len(right[::4]), "accuracy": 0.5}

    scores = {**TASK.score(items, predictions), **user(items, predictions)}
    intervals = item_intervals(scores, TASK.score, items, predictions, user_score=user, n_resamples=200)
    assert {"quarter_accuracy", "accuracy", "exact_match", "f1"} <= set(intervals)
    quarter = intervals["quarter_accuracy"]
    assert quarter.low < quarter.estimate < quarter.high and quarter.estimate == scores["quarter_accuracy"]
    assert intervals["accuracy"].low == intervals["accuracy"].high == 0.5  # the user's constant, not the task's
    assert "quarter_accuracy" not in item_intervals(scores, TASK.score, items, predictions, n_resamples=200)

    def slow(records, answers):  # a metric_fn that calls a model, say
        time.sleep(0.01)
        return user(records, answers)

    too_slow = item_intervals(scores, TASK.score, items, predictions, user_score=slow, n_resamples=200, budget_s=0.5)
    assert "quarter_accuracy" not in too_slow and "accuracy" not in too_slow and "exact_match" in too_slow
    flat = with_intervals(scores, TASK.score, (items, predictions), user_score=user, n_resamples=200)
    assert read_intervals(flat)["quarter_accuracy"] == (quarter.low, quarter.high)


def test_one_item_or_mismatched_lengths() -> None:
    items, predictions = scored(1)
    assert bootstrap_intervals(TASK.score, items, predictions) == {}
    with pytest.raises(ValueError, match="one prediction per item"):
        bootstrap_intervals(TASK.score, items, [])


def test_the_small_test_note_says_how_wide_and_what_it_means() -> None:
    note = small_test_note("accuracy", 24, 0.52, 0.83)
    assert "24 items" in note and "0.31 wide" in note and "may not really differ" in note
    assert small_test_note("accuracy", 100, 0.52, 0.83) is None
    assert "off by up to 0.31 (95%: 1 - 0.05^(1/8)" in small_test_note("accuracy", 8, 0.0, 0.0)  # not certainty
    assert "off by up to 0.78" in small_test_note("accuracy", 2, 1.0, 1.0)  # 3/2 would be past any share


def test_paired_draws_score_two_runs_on_the_same_resampled_items() -> None:
    """Two runs on the same 48 items whose predictions differ on one product only: draw b of each is scored on the
    same resample, so their difference in every draw is that product's share of the resample (its copies in it)."""
    items, right = scored(48, right=1.0)  # every value right
    wrong_first = [{k: "wrong" for k in right[0]}, *right[1:]]  # the first product's values all wrong
    a = paired_draws(TASK.score, items, right, "accuracy", draws=100)
    b = paired_draws(TASK.score, items, wrong_first, "accuracy", draws=100)
    assert len(a) == len(b) == 100 and a == paired_draws(TASK.score, items, right, "accuracy", draws=100)
    assert set(a) == {1.0}
    gaps = [x - y for x, y in zip(a, b, strict=True)]
    # On every draw the gap is the first product's share of the values drawn: never below 0 (unpaired draws
    # would be), 0 where it was not drawn.
    assert max(gaps) > 0 and all(g >= 0 for g in gaps)
    # A resample of 48 items leaves a given one out with probability (47/48)^48 = 0.36.
    assert 0.2 < gaps.count(0.0) / len(gaps) < 0.55
    assert paired_draws(TASK.score, items, right, "no such metric") == []
    assert paired_draws(TASK.score, items[:1], right[:1], "accuracy") == []
    with pytest.raises(ValueError, match="one prediction per item"):
        paired_draws(TASK.score, items, right[:3], "accuracy")


def test_paired_draws_skip_a_metric_too_slow_for_all_its_draws() -> None:
    items, right = scored(12, right=1.0)

    def slow(records, predictions):  # a user's metric_fn that calls a model, say
        time.sleep(0.01)
        return TASK.score(records, predictions)

    assert paired_draws(slow, items, right, "accuracy", budget_s=0.5) == []  # 200 draws x 10 ms: over 0.5 s
    assert paired_draws(slow, items, right, "accuracy", draws=20, budget_s=5.0) == [1.0] * 20


def test_the_items_fingerprint_tells_other_items_and_another_order_apart() -> None:
    items, _ = scored(12)
    assert items_fingerprint(items) == items_fingerprint(list(items)) and items_fingerprint(items).startswith("12:")
    assert items_fingerprint(items) != items_fingerprint(items[::-1])
    assert items_fingerprint(items) != items_fingerprint(scored(12, seed=1)[0])
