"""Which completed trials are scored on the held-out test split: those that lead when they complete.

The report shows the test scores of the best configuration only (with several objectives, the knee of the Pareto
front), so a trial whose final is already beaten by a trial that completed before it never needs its test pass
(12 generated answers in the default job, ~10 s of a 2-core trial; thousands of products on a real test split).
A trial leads when no final recorded so far is better (one objective; a tie leads) or dominates it (several):
the eventual best was never beaten before it completed, so it is always scored, and a trial that leads at
completion is one the user may look at. It also keeps the test split out of the choice of configuration: it is
read for leaders only.

`BestSoFar` holds the finals of one search; it runs as a Ray actor (`start_best_so_far`) that every trial asks
once, after its final, and whose answer also records that final (one actor: no two trials race on it). It starts
from the study's complete trials, so a resumed search compares against the trials of the runs before it; with
several drivers on one study, `other_drivers_finals` feeds it the finals the other drivers' trials reach meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from foretune.search.pareto import dominated_count


def leads(values: Sequence[float], earlier: Sequence[Sequence[float]], modes: Sequence[str]) -> bool:
    """Whether `values` (one per objective) is neither beaten (one objective) nor dominated by any of `earlier`."""
    return dominated_count(values, earlier, modes) == 0


class BestSoFar:
    """The finals of one search's complete trials (as a Ray actor: one per search, asked by its trials)."""

    def __init__(self, modes: Sequence[str], earlier: Sequence[Sequence[float]] = ()) -> None:
        self.modes = list(modes)
        self.finals: list[list[float]] = [list(v) for v in earlier]

    def claim(self, values: Sequence[float | None]) -> bool:
        """Record a completed trial's finals; whether they lead (a missing or non-finite value: no, not recorded)."""
        if len(values) != len(self.modes) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            return False
        final = [float(v) for v in values]
        leading = leads(final, self.finals, self.modes)
        self.finals.append(final)
        return leading

    def record(self, finals: Sequence[Sequence[float]]) -> None:
        """Finals of complete trials another driver of the study ran: they count as earlier ones."""
        for values in finals:
            final = [float(v) for v in values]
            if len(final) == len(self.modes) and all(math.isfinite(v) for v in final):
                self.finals.append(final)

    def withdraw(self, values: Sequence[float]) -> None:
        """Forget a claimed final whose trial then failed (its test pass raised): it is no complete trial."""
        final = [float(v) for v in values]
        if final in self.finals:
            self.finals.remove(final)


def start_best_so_far(modes: Sequence[str], earlier: Sequence[Sequence[float]]) -> Any:
    """A `BestSoFar` actor for the trials of this search (holds no CPU: it answers one call per completed trial)."""
    import ray

    return ray.remote(num_cpus=0)(BestSoFar).remote(modes, earlier)


def claims_lead(board: Any, values: Sequence[float | None]) -> bool:
    """Ask the search's `BestSoFar` actor (inside a trial); with no actor every completed trial is scored."""
    if board is None:
        return True
    import ray

    return bool(ray.get(board.claim.remote(list(values))))


def withdraw_lead(board: Any, values: Sequence[float]) -> None:
    if board is not None:
        import ray

        ray.get(board.withdraw.remote(list(values)))
