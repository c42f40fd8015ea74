"""search.time_budget_s: no trial is started that cannot end before the budget does (`StartsInTime`); the
driver's use of it runs in tests/search/test_search_stack.py's time-budget test."""

from __future__ import annotations

from foretune.search.time_left import StartsInTime


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_trial_starts_with_less_time_left_than_the_quickest_trial_took():
    clock = Clock()
    budget = StartsInTime(140, clock=clock)
    for trial in ("a", "b", "c", "d"):  # four side by side, as on the H200
        assert budget.may_start()  # none ended yet: nothing known of how long a trial takes
        budget.started(trial)
    clock.now += 112
    budget.ended("a")
    assert budget.may_start() is False and budget.refused == (28, 112)  # 28 s left, a trial takes 112 s
    clock.now += 21
    budget.ended("b")  # 133 s: the quickest stays the one that counts
    assert not budget.may_start() and budget.refused == (7, 112)


def test_a_short_trial_leaves_room_and_an_unstarted_one_is_not_timed():
    clock = Clock()
    budget = StartsInTime(100, clock=clock)
    budget.started("pruned-early")
    clock.now += 20
    budget.ended("pruned-early")
    budget.ended("never-started")  # (a trial of an earlier session, say): no duration
    assert budget.may_start() and budget.refused is None  # 80 s left, 20 s needed
    clock.now += 61
    assert not budget.may_start() and budget.refused == (19, 20)
