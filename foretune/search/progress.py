"""A rich progress bar fed by Ray Tune's callbacks (Ray's own console output stays off)."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from foretune.keys import FRACTION_KEY


class ProgressCallback(Callback):
    """One bar over the session's trials; the text says how many ran to the end, were stopped, failed."""

    def __init__(self, *, total: int, metric: str, mode: str, console: Console | None = None) -> None:
        self.metric, self.mode = metric, mode
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None
        self._reached: dict[str, float] = {}
        self.progress = Progress(
            TextColumn("[bold]search"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(self._text(), total=total)

    def _text(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4g}"
        c = self.counts
        return f"complete {c['complete']}  pruned {c['pruned']}  failed {c['failed']}  best {self.metric} {best}"

    def __getstate__(self) -> dict:  # Ray pickles callbacks; a live progress bar holds locks
        state = self.__dict__.copy()
        state["progress"] = None
        return state

    def setup(self, **info: Any) -> None:
        self.progress.start()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._reached[trial.trial_id] = float(result.get(FRACTION_KEY, 0.0))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        if self._reached.get(trial.trial_id, 0.0) >= 1.0 - 1e-9 and self.metric in result:
            self.counts["complete"] += 1
            value = float(result[self.metric])
            if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
                self.best = value
        else:
            self.counts["pruned"] += 1
        self.progress.update(self.task, advance=1, description=self._text())

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.counts["failed"] += 1
        self.progress.update(self.task, advance=1, description=self._text())

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.progress.stop()
