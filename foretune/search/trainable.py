"""The Ray Tune trainable: one trial = one trainer run with the trial's hyperparameters.

Any trainer with `fit(reporter)` works (the LoRA trainer, the replay trainer). Each evaluation goes
to Ray Tune with its budget fraction, and with the run's costs so far when the trainer measures them
(a `costs` meter, `foretune.trainers.costs`): a trial the scheduler stops still carries what it cost.
When the scheduler stops the trial, Ray ends the trial's thread (its report raises SystemExit), so the
trainer needs no search-specific code; the next trial may run in the same process (search.reuse_workers).
Every trial's process imports this module: it imports no predictor (scipy.stats) before a completed trial's
test intervals need one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from foretune.config import ExperimentConfig, space_key_path
from foretune.keys import BUDGET_PCT_KEY, FRACTION_KEY, NODE_KEY, STEP_KEY
from foretune.trainers.reporters import Decision


class Trainer(Protocol):
    def fit(self, reporter: Any) -> Any: ...


TrainerFactory = Callable[[ExperimentConfig], Trainer]


def trial_config(base: ExperimentConfig, params: Mapping[str, Any]) -> ExperimentConfig:
    """The experiment config of one trial: space keys are `train` field paths, or `model.*` / `data.train_size`."""
    overrides = {space_key_path(name): value for name, value in params.items()}
    return base.with_overrides(overrides, where="trial parameters")


class TuneReporter:
    """Reporter that hands each evaluation to Ray Tune (inside a trial only)."""

    def __init__(self, costs: Any = None) -> None:
        import ray

        self.costs = costs  # a CostMeter (or anything with `snapshot() -> dict`), read at each report
        self.last: dict[str, float] = {}
        # Ray's own `node_ip` cannot tell apart two nodes on one host; the node id can.
        self.node = ray.get_runtime_context().get_node_id()

    def report(self, fraction: float, step: int, metrics: Mapping[str, float]) -> Decision:
        from ray import tune

        self.last = {
            **{k: float(v) for k, v in metrics.items()},
            FRACTION_KEY: float(fraction),
            STEP_KEY: int(step),
            BUDGET_PCT_KEY: int(round(float(fraction) * 100)),
            **(self.costs.snapshot() if self.costs is not None else {}),
        }
        tune.report({**self.last, NODE_KEY: self.node})
        return Decision.CONTINUE


def run_trial(params: dict[str, Any], *, base_config: ExperimentConfig, trainer_factory: TrainerFactory) -> None:
    """Function trainable (bound with `tune.with_parameters`)."""
    import gc

    from ray import tune

    gc.collect()  # in a reused worker: the last trial's model, before this one loads its own (GPU memory)
    trainer = trainer_factory(trial_config(base_config, params))
    reporter = TuneReporter(costs=getattr(trainer, "costs", None))
    result = trainer.fit(reporter)
    test_metrics = getattr(result, "test_metrics", None)
    if test_metrics and getattr(result, "test_scored", None):  # 95% intervals over the test items
        from foretune.predictors.bootstrap import with_intervals  # scipy.stats: only a completed trial needs it

        test_metrics = with_intervals(test_metrics, trainer.task.score, result.test_scored)
    if test_metrics and reporter.last:
        # One more result at the same budget point carries the held-out scores to the searcher.
        tune.report({**reporter.last, NODE_KEY: reporter.node, "test": {k: float(v) for k, v in test_metrics.items()}})
