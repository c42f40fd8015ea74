"""The Ray Tune trainable: one trial = one trainer run with the trial's hyperparameters.

Any trainer with `fit(reporter)` works (the LoRA trainer, the replay trainer). Each evaluation goes
to Ray Tune with its budget fraction; when the scheduler stops the trial, Ray ends the trial's
process, so the trainer needs no search-specific code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from foretune.config import ExperimentConfig
from foretune.keys import BUDGET_PCT_KEY, FRACTION_KEY, NODE_KEY, STEP_KEY
from foretune.trainers.reporters import Decision


class Trainer(Protocol):
    def fit(self, reporter: Any) -> Any: ...


TrainerFactory = Callable[[ExperimentConfig], Trainer]


def trial_config(base: ExperimentConfig, params: Mapping[str, Any]) -> ExperimentConfig:
    """The experiment config of one trial: the search space keys are `train` field paths."""
    return base.with_overrides({f"train.{name}": value for name, value in params.items()}, where="trial parameters")


class TuneReporter:
    """Reporter that hands each evaluation to Ray Tune (inside a trial only)."""

    def __init__(self) -> None:
        import ray

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
        }
        tune.report({**self.last, NODE_KEY: self.node})
        return Decision.CONTINUE


def run_trial(params: dict[str, Any], *, base_config: ExperimentConfig, trainer_factory: TrainerFactory) -> None:
    """Function trainable (bound with `tune.with_parameters`)."""
    from ray import tune

    trainer = trainer_factory(trial_config(base_config, params))
    reporter = TuneReporter()
    result = trainer.fit(reporter)
    test_metrics = getattr(result, "test_metrics", None)
    if test_metrics and reporter.last:
        # One more result at the same budget point carries the held-out scores to the searcher.
        tune.report({**reporter.last, NODE_KEY: reporter.node, "test": {k: float(v) for k, v in test_metrics.items()}})
