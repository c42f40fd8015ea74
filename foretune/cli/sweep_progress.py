"""What `foretune sweep` shows while it runs: one line per run as it ends (rounds of side-by-side runs can take
hours), the recorded runs of a resumed sweep as it takes them, and on a terminal a spinner naming the sizes in
training; in a log, a plain line per round instead."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from foretune.search.sweep.results import SweepPoint
    from foretune.search.sweep.runs import RunJob


class SweepDisplay(AbstractContextManager):
    """Hooks for `SaturationSweep` (`on_round`, `on_run`, `on_point`); `record` keeps each run as it ends."""

    def __init__(self, console: Console, *, metric: str, record: Callable[[SweepPoint], None]) -> None:
        self.console, self.metric, self.record = console, metric, record
        self.status = console.status("sweep: starting") if console.is_terminal else None
        self.training: list[int] = []  # sizes of this round's runs that have not ended

    def __enter__(self) -> SweepDisplay:
        if self.status is not None:
            self.status.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.status is not None:
            self.status.stop()

    def on_round(self, jobs: Sequence[RunJob]) -> None:
        self.training = sorted(job.n for job in jobs)
        if self.status is not None:
            self._update()
        else:
            self.console.print(self._training(), highlight=False)

    def on_run(self, point: SweepPoint) -> None:
        self.record(point)  # first: a stop right after the line must not lose the run
        self.console.print(self.line(point), highlight=False)
        if point.n in self.training:
            self.training.remove(point.n)
        if self.status is not None and self.training:
            self._update()

    def _training(self) -> str:
        sizes = ", ".join(f"{n:,}" for n in sorted(set(self.training)))
        return f"training {len(self.training)} run(s) side by side: n = {sizes}"

    def _update(self) -> None:
        self.status.update(f"sweep: {self._training()}")

    def on_point(self, point: SweepPoint) -> None:
        if point.recorded:  # this session's runs were shown as they ended
            self.console.print(self.line(point), highlight=False)

    def line(self, point: SweepPoint) -> str:
        return (
            f"n={point.n:>6} seed={point.seed}  {self.metric}={point.score:.4f}  ({point.seconds:.0f}s)"
            + (f"  cut at {point.fraction:.0%} of the budget, final predicted" if point.predicted else "")
            + ("  (recorded earlier)" if point.recorded else "")
        )
