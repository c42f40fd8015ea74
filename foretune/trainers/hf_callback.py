"""`ReporterCallback`: a transformers `Trainer` (or TRL `SFTTrainer`) run as a foretune trial.

    trainer = SFTTrainer(model, args=SFTConfig(max_steps=100, ...), train_dataset=..., eval_dataset=...,
                         callbacks=[ReporterCallback(reporter)])
    trainer.train()

The callback asks the Trainer to evaluate at each budget fraction (`fractions`, default every 10%; the
budget is the Trainer's `max_steps`, also when it is derived from epochs) and hands each evaluation to
the reporter as `reporter.report(global_step / max_steps, global_step, metrics)`: the Trainer's metric
names (`eval_loss`, `eval_mean_token_accuracy`, your `compute_metrics` keys with the `eval_` prefix), plus
`train_loss`, the last logged training loss. When the reporter answers `Decision.STOP`, the run ends
cleanly (`control.should_training_stop`: the Trainer finishes its step, calls `on_train_end` and returns).

Inside a foretune trial (`foretune.optimize`, `foretune search --trainable`) the reporter never says stop:
when the scheduler stops the trial, Ray ends the trial's process, and the study records the trial PRUNED
with the curve reported until then. Outside a search, any reporter works (`MemoryReporter`, your own).
One training process: under DDP every rank would report, and a stop on one rank would leave the others waiting.

For the report's validation-noise lines a search needs the final's items: score each evaluation item yourself
with `callback.item_metric(name, item_values)` as the Trainer's `compute_metrics` (its mean is `eval_<name>`),
and the callback gives the final evaluation's values to `reporter.final_items`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from transformers import TrainerCallback

from foretune.trainers.reporters import Decision, Reporter

DEFAULT_FRACTIONS = tuple(round(0.1 * i, 1) for i in range(1, 11))
# Evaluation bookkeeping, not a score of the run.
_NOT_METRICS = ("epoch", "total_flos")
_NOT_METRIC_SUFFIXES = ("_runtime", "_per_second")


def evaluation_steps(fractions: Iterable[float], max_steps: int) -> set[int]:
    """The first optimizer step at or past each budget fraction (so the fraction reported is never below it)."""
    return {min(max_steps, max(1, math.ceil(float(f) * max_steps - 1e-9))) for f in fractions} | {max_steps}


def run_metrics(metrics: Mapping[str, Any], log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The numeric metrics of one evaluation, and the last logged training loss as `train_loss`."""
    kept = {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and key not in _NOT_METRICS
        and not key.endswith(_NOT_METRIC_SUFFIXES)
    }
    losses = [entry["loss"] for entry in log_history if isinstance(entry.get("loss"), (int, float))]
    if losses and "train_loss" not in kept:
        kept["train_loss"] = float(losses[-1])
    return kept


class ReporterCallback(TrainerCallback):
    """Reports a Trainer's evaluations at budget fractions to a foretune reporter; stops when it says so.

    `fractions=None` keeps the Trainer's own evaluation schedule (`eval_strategy`, `eval_steps`); either
    way the last step is evaluated, so every run that is not stopped reports fraction 1.0. The Trainer
    needs an `eval_dataset`. After `train()`, `stopped_at` is the fraction at which the reporter said stop
    (None when it did not).
    """

    def __init__(self, reporter: Reporter, *, fractions: Iterable[float] | None = DEFAULT_FRACTIONS) -> None:
        self.reporter = reporter
        self.fractions = None if fractions is None else sorted(float(f) for f in fractions)
        if self.fractions is not None and not all(0 < f <= 1 for f in self.fractions):
            raise ValueError(f"every budget fraction must be in (0, 1], got {self.fractions}")
        self.stopped_at: float | None = None
        self._steps: set[int] = set()
        self._reported: set[int] = set()
        self._item_metric: str | None = None  # the name given to item_metric
        self._items: list[float] = []  # its values so far in this evaluation (batch_eval_metrics: batch by batch)
        self._last_items: list[float] = []  # its values in the evaluation on_evaluate is about to report

    def item_metric(self, name: str, item_values: Callable[[Any], Sequence[float]]) -> Callable[..., dict]:
        """A `compute_metrics` for the Trainer that scores `name` as the mean of `item_values(eval_prediction)`, one
        value per evaluation item (1.0 or 0.0 for right or wrong, each item's own loss), and gives the final
        evaluation's values to the reporter (`reporter.final_items("eval_<name>", values)`), so that a search
        resamples them for its validation-noise lines:

            callback = ReporterCallback(reporter)
            Trainer(..., compute_metrics=callback.item_metric("accuracy", right_or_wrong), callbacks=[callback])

        One `eval_dataset`, in one order in every trial (the Trainer's evaluation order is); with
        `batch_eval_metrics` each batch's values are gathered until the last."""
        self._item_metric = name

        def compute_metrics(prediction, compute_result: bool = True) -> dict[str, float]:
            values = np.asarray(item_values(prediction), dtype=float).ravel()
            if not np.isfinite(values).all():
                raise ValueError(f"item_metric {name!r}: item_values gave a value that is not a finite number")
            self._items.extend(values.tolist())
            if not compute_result:  # batch_eval_metrics: a batch before the last
                return {}
            self._last_items, self._items = self._items, []
            if not self._last_items:
                raise ValueError(f"item_metric {name!r}: item_values gave no values (one per evaluation item)")
            return {name: math.fsum(self._last_items) / len(self._last_items)}

        return compute_metrics

    def on_train_begin(self, args, state, control, **kwargs):
        if state.max_steps <= 0:
            raise ValueError("the Trainer has no step budget (max_steps); set max_steps or num_train_epochs")
        self._steps = evaluation_steps(self.fractions or (), state.max_steps)
        self._reported = set()
        self.stopped_at = None
        self._items, self._last_items = [], []

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self._steps and state.global_step not in self._reported:
            control.should_evaluate = True

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        step = state.global_step
        items, self._last_items = self._last_items, []  # this evaluation's, never an earlier one's
        if step in self._reported or step <= 0 or not metrics:
            return  # an evaluation before training, or a second one at this step (the Trainer's own and ours)
        self._reported.add(step)
        fraction = min(1.0, step / state.max_steps)
        if fraction >= 1.0 and self._item_metric and items and hasattr(self.reporter, "final_items"):
            name = self._item_metric
            prefixed = (k for k in metrics if k.endswith(f"_{name}"))  # another metric_key_prefix than "eval"
            key = f"eval_{name}" if f"eval_{name}" in metrics else next(prefixed, f"eval_{name}")
            self.reporter.final_items(key, items)
        decision = self.reporter.report(fraction, step, run_metrics(metrics, state.log_history))
        if decision == Decision.STOP:
            self.stopped_at = fraction
            control.should_training_stop = True
