"""What a search shows while it runs, fed by Ray Tune's callbacks (Ray's own console output stays off).

On a terminal a rich progress bar (`ProgressCallback`); elsewhere (a batch job, output to a file)
one plain line per trial event (`TrialLogCallback`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from foretune.keys import (
    BEAT_PROBABILITY_ATTR,
    BEAT_TARGET_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FRACTION_ATTR,
    EARLY_JUDGED_WITH_ATTR,
    EARLY_RANK_ATTR,
    EARLY_RUNG_ATTR,
    EARLY_SCORE_ATTR,
    FRACTION_KEY,
    JUDGED_FRACTION_ATTR,
    JUDGED_PREDICTION_ATTR,
    JUDGED_RANK_ATTR,
    JUDGED_WITH_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
)
from foretune.search.audit import AUDIT
from foretune.search.evaluator import VerdictsAndErrors


class ProgressCallback(Callback):
    """One bar over the session's trials; the text says how many ran to the end, were stopped, failed."""

    def __init__(
        self,
        *,
        total: int,
        metric: str,
        mode: str,
        console: Console | None = None,
        notes: VerdictsAndErrors | None = None,
    ) -> None:
        self.metric, self.mode, self.notes = metric, mode, notes if notes is not None else VerdictsAndErrors()
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
        outcome = _outcome(self._reached.get(trial.trial_id, 0.0), result, self.metric, self.notes, trial.trial_id)
        self.counts[outcome] += 1
        if outcome == "complete":
            value = float(result[self.metric])
            if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
                self.best = value
        self.progress.update(self.task, advance=1, description=self._text())

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.counts["failed"] += 1
        self.progress.update(self.task, advance=1, description=self._text())

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.progress.stop()


class TrialLogCallback(Callback):
    """Without a terminal (a batch job, `> log.txt`): one plain line per trial event, a summary every few minutes.

    The judged lines read the early-stage verdicts the scheduler left in `notes` (foretune.search.evaluator), one
    line per rung (`early_stage.rungs`: the scheduler keeps only the latest rung's, so each is written as it comes);
    `label(trial_id)` names a trial as the study does (its Optuna number).
    """

    def __init__(
        self,
        *,
        metric: str,
        mode: str,
        notes: VerdictsAndErrors,
        label: Callable[[str], str],
        summary_every_s: float = 300.0,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.metric, self.mode, self.notes, self.label = metric, mode, notes, label
        self.summary_every_s = summary_every_s
        self.write = write or _print_line
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None
        self._started: dict[str, float] = {}
        self._reached: dict[str, float] = {}
        self._judged: dict[str, int] = {}  # trial -> the last rung whose verdict was written (1 = the first)
        self._last_summary = time.monotonic()

    def __getstate__(self) -> dict:  # Ray pickles callbacks; the printing function may not pickle
        state = self.__dict__.copy()
        state["write"] = state["label"] = None
        return state

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()
        params = "  ".join(f"{k}={_num(v)}" for k, v in sorted(_flat(trial.config).items()))
        self.write(f"{self.label(trial.trial_id)} started  {params}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._reached[trial.trial_id] = float(result.get(FRACTION_KEY, 0.0))
        self._log_verdict(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._log_verdict(trial.trial_id)
        result = trial.last_result or {}
        took = self._took(trial.trial_id)
        outcome = _outcome(self._reached.get(trial.trial_id, 0.0), result, self.metric, self.notes, trial.trial_id)
        if outcome == "failed":
            self.counts["failed"] += 1
            why = self.notes.diverged.get(trial.trial_id) or f"the final {self.metric} is {result.get(self.metric)}"
            self.write(f"{self.label(trial.trial_id)} failed  in {took}: {why}")
        elif outcome == "complete":
            value = float(result[self.metric])
            self.counts["complete"] += 1
            if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
                self.best = value
            self.write(f"{self.label(trial.trial_id)} completed  {self.metric}={_num(value)}  in {took}")
        else:
            self.counts["pruned"] += 1
            reached = self._reached.get(trial.trial_id, 0.0)
            last = f"  {self.metric}={_num(result[self.metric])}" if self.metric in result else ""
            verdict = self.notes.verdicts.get(trial.trial_id, {})
            if BEAT_PROBABILITY_ATTR in verdict:  # the probability rule stopped it
                last += f"  P(final beats {_num(verdict[BEAT_TARGET_ATTR])})={verdict[BEAT_PROBABILITY_ATTR]:.2f}"
            if verdict.get(EARLY_DECISION_ATTR) == "pruned":
                self.write(f"{self.label(trial.trial_id)} pruned at {reached:.0%}{last}  in {took}")
            else:  # your function returned before fraction 1.0, or the search's time budget ran out
                ended = f"ended at {reached:.0%} without a final, not stopped by a verdict"
                self.write(f"{self.label(trial.trial_id)} {ended}{last}  in {took}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.counts["failed"] += 1
        error = self.notes.errors.get(trial.trial_id, "the trial raised an error")
        self.write(f"{self.label(trial.trial_id)} failed  in {self._took(trial.trial_id)}: {error}")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if time.monotonic() - self._last_summary >= self.summary_every_s:
            self._last_summary = time.monotonic()
            running = sum(t.status == "RUNNING" for t in trials)
            best = "-" if self.best is None else _num(self.best)
            c = self.counts
            self.write(
                f"summary  running {running}  complete {c['complete']}  pruned {c['pruned']}  "
                f"failed {c['failed']}  best {self.metric} {best}"
            )

    def _log_verdict(self, trial_id: str) -> None:
        verdict = self.notes.verdicts.get(trial_id)
        if verdict is None or EARLY_FRACTION_ATTR not in verdict:
            return  # (the probability rule may judge, and stop, a trial before its early verdict)
        rung = int(verdict.get(EARLY_RUNG_ATTR, 1))
        if rung <= self._judged.get(trial_id, 0):
            return
        self._judged[trial_id] = rung
        if rung > 1:
            self._log_later_rung(trial_id, rung, verdict)
            return
        mean = verdict.get(PREDICTED_FINAL_ATTR)
        if mean is None or not math.isfinite(mean):
            predicted = "no final predicted"
        else:
            lower, upper = verdict.get(PREDICTED_LOWER_ATTR), verdict.get(PREDICTED_UPPER_ATTR)
            predicted = f"predicted final {_num(mean)} [{_num(lower)}, {_num(upper)}]"
        rank = f"rank {verdict.get(EARLY_RANK_ATTR)} of {verdict.get(EARLY_JUDGED_WITH_ATTR)}"
        first = "rung 1 " if EARLY_RUNG_ATTR in verdict else ""
        self.write(
            f"{self.label(trial_id)} judged at {first}{verdict.get(EARLY_FRACTION_ATTR, 0):.0%}  "
            f"early {self.metric}={_num(verdict.get(EARLY_SCORE_ATTR))}  {predicted}  {rank}{_probability(verdict)}  "
            f"-> {_decision(verdict)}"
        )

    def _log_later_rung(self, trial_id: str, rung: int, verdict: dict[str, Any]) -> None:
        """A later rung's verdict: its fraction, the predicted final it ranked, its rank, kept or pruned."""
        mean = verdict.get(JUDGED_PREDICTION_ATTR)
        predicted = "no final predicted" if mean is None or not math.isfinite(mean) else f"predicted final {_num(mean)}"
        self.write(
            f"{self.label(trial_id)} judged at rung {rung} {verdict.get(JUDGED_FRACTION_ATTR, 0):.0%}  {predicted}  "
            f"rank {verdict.get(JUDGED_RANK_ATTR)} of {verdict.get(JUDGED_WITH_ATTR)}{_probability(verdict)}  "
            f"-> {_decision(verdict)}"
        )

    def _took(self, trial_id: str) -> str:
        started = self._started.get(trial_id)
        return "?" if started is None else f"{time.monotonic() - started:.1f}s"


def _decision(verdict: dict[str, Any]) -> str:
    decision = verdict.get(EARLY_DECISION_ATTR)
    return f"{AUDIT}: would be pruned, runs to its end to check the verdict" if decision == AUDIT else str(decision)


def _print_line(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def _probability(verdict: dict[str, Any]) -> str:
    """The probability rule's P(final beats the k-th best final) behind a verdict; empty where none was computed."""
    if BEAT_PROBABILITY_ATTR not in verdict:
        return ""
    return f"  P(final beats {_num(verdict.get(BEAT_TARGET_ATTR))})={verdict[BEAT_PROBABILITY_ATTR]:.2f}"


def _outcome(reached: float, result: dict, metric: str, notes: VerdictsAndErrors, trial_id: str) -> str:
    """How a trial Ray completed ended: "complete"; "failed" when it diverged (stopped where a loss went NaN) or
    ran to the end without a finite final (the study records both FAIL, `searcher`); else "pruned" (stopped
    before the end)."""
    if trial_id in notes.diverged:
        return "failed"
    if reached < 1.0 - 1e-9:
        return "pruned"
    value = result.get(metric)
    return "complete" if isinstance(value, (int, float)) and math.isfinite(value) else "failed"


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
