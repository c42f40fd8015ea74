"""`search.time_budget_s`: start no trial that cannot end before the budget does.

Ray Tune's time budget stops the trials running when it ends; one started a minute before the end of a
budget that a trial needs two minutes of is thrown away (requeued, run again from its start next session):
on an H200, four trials started in the last 30 s of a 140 s budget, each needing ~120 s
(benchmarks/results/gpu_h200.md). The searcher asks `StartsInTime` before each new trial. Pure bookkeeping:
no Ray, no Optuna.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StartsInTime:
    """Whether a new trial can still end before the budget does: no, once less time is left than the quickest
    trial of this session took to end (complete or stopped early; none ended yet: yes)."""

    def __init__(self, budget_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + budget_s
        self._started: dict[str, float] = {}
        self._quickest: float | None = None  # of the trials of this session that ended
        self.refused: tuple[float, float] | None = None  # (seconds left, the quickest trial's) when it said no

    def started(self, trial_id: str) -> None:
        self._started[trial_id] = self._clock()

    def ended(self, trial_id: str) -> None:
        """A trial of this session ended by itself or by a verdict (not by an error, which says nothing of time)."""
        if trial_id in self._started:
            took = self._clock() - self._started.pop(trial_id)
            self._quickest = took if self._quickest is None else min(self._quickest, took)

    def may_start(self) -> bool:
        left = self.deadline - self._clock()
        if self._quickest is None or left >= self._quickest:  # none ended yet: nothing known
            return True
        self.refused = (max(left, 0.0), self._quickest)
        return False
