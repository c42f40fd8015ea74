"""The held-out test part of a search report: zero-shot vs best trial with 95% intervals, the small-test
note, and the test folds' mean +- standard error when they were run (`foretune.search.held_out_folds`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from foretune.keys import ITEMS_KEY, TEST_ATTR_PREFIX
from foretune.predictors.bootstrap import read_intervals, small_test_note
from foretune.predictors.metric_names import is_loss
from foretune.search.held_out_folds import fold_lines

HEADLINE_METRICS = ("accuracy", "exact_match", "null_fp_rate", "f1")


def metric_label(name: str) -> str:
    """A metric's row name, marked where lower is better (beside scores: a fine-tune that fills every absent
    attribute shows null_fp_rate 1.0 next to an accuracy that rose)."""
    return f"{name} (lower is better)" if name == "null_fp_rate" or is_loss(name) else name


def with_interval(value: float, interval: tuple[float, float] | None, digits: int = 4) -> str:
    """`0.6123 [0.52, 0.70]`: a score and its 95% interval (the score alone without one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.{digits}f}"
    return text if interval is None else f"{text} [{interval[0]:.2f}, {interval[1]:.2f}]"


def shown_metrics(test: Mapping[str, Any], metric: str | None = None) -> list[str]:
    """The test metrics a report shows: the headline ones the task reports, and the search metric."""
    names = [m for m in HEADLINE_METRICS if m in test]
    if metric and metric in test and metric not in names:
        names.insert(0, metric)
    return names


def note(test: Mapping[str, Any], metric: str | None = None) -> str | None:
    """The small-test sentence for the search metric (or the first metric with an interval)."""
    intervals = read_intervals(test)
    n_items = test.get(ITEMS_KEY)
    if not intervals or n_items is None:
        return None
    name = metric if metric in intervals else next(iter(intervals))
    return small_test_note(name, int(n_items), *intervals[name])


def held_out_section(
    test: Mapping[str, Any], zero_shot: Mapping[str, Any] | None, folds: Mapping[str, Any] | None, metric: str
) -> list[str]:
    """Markdown lines: the test table (95% bootstrap intervals over test items), the note, the folds."""
    names = shown_metrics(test, metric)
    if not names:
        return []
    zero_shot = zero_shot or {}
    best_iv, zero_iv = read_intervals(test), read_intervals(zero_shot)
    n_items = test.get(ITEMS_KEY)
    title = f"held-out test ({int(n_items)} items, generated answers" if n_items else "held-out test (generated answers"
    lines = [f"| {title}; 95% interval) | zero-shot | best trial |", "|---|---|---|"]
    for name in names:
        zero = with_interval(zero_shot.get(name, math.nan), zero_iv.get(name))
        lines.append(f"| {metric_label(name)} | {zero} | {with_interval(test[name], best_iv.get(name))} |")
    lines.append("")
    sentence = note(test, metric)
    if sentence:
        lines += [sentence, ""]
    if folds:
        lines += fold_lines(folds, names)
    return lines


def scored_trials_line(table) -> str | None:
    """Which complete trials carry test scores, when not all do (a trial is scored only if it led the finals so far
    when it completed: `foretune.search.best_so_far`); None when every complete trial was scored."""
    tested = [c for c in table.columns if c.startswith(TEST_ATTR_PREFIX)]
    complete = table[table["state"] == "COMPLETE"]
    if not tested or complete.empty:
        return None
    scored = sorted(int(t) for t in complete.loc[complete[tested].notna().any(axis=1), "trial"])
    if len(scored) == len(complete):
        return None
    listed = ", ".join(str(t) for t in scored)
    return (
        f"Test split scored for {len(scored)} of {len(complete)} complete trials ({listed}): only a trial that led "
        "the finals so far when it completed is scored, so the best always is and the test split played no part "
        "in choosing it."
    )


def unscored_best_line(number: int) -> str:
    """The best complete trial has no test scores: a trial that led before it failed (or was killed) in its test
    pass after its final was recorded (`foretune.search.best_so_far`), so no number is shown for it."""
    return (
        f"The best trial ({number}) has no test scores: a trial that led the finals before it failed during its test "
        "pass. `foretune train best.yaml` trains its configuration again and scores it on the test split."
    )
