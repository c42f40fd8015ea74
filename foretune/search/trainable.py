"""The Ray Tune trainable: one trial = one trainer run with the trial's hyperparameters.

Any trainer with `fit(reporter)` works (the LoRA trainer, the replay trainer). Each evaluation goes
to Ray Tune with its budget fraction, and with the run's costs so far when the trainer measures them
(a `costs` meter, `foretune.trainers.costs`): a trial the scheduler stops still carries what it cost.
When the scheduler stops the trial, Ray ends the trial's thread (its report raises SystemExit), so the
trainer needs no search-specific code; the next trial may run in the same process (search.reuse_workers).
A completed trial's held-out test scores (its trainer's `evaluate_test`, or those its result carries) are taken
and reported only when it leads the search's finals so far (`foretune.search.best_so_far`). Every completed
trial's final objective is re-scored on paired resamples of its validation items (`bootstrap.paired_draws` of the
trainer's `final_resampling`: the task's metrics, a task.metric_fn's, the eval loss), sent in the same extra
result, for the report to weigh the finals' differences against.
Every trial's process imports this module: it imports no predictor (scipy.stats) before a completed trial's
draws or test intervals need one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from foretune.config import ExperimentConfig, space_key_path
from foretune.keys import BUDGET_PCT_KEY, FINAL_DRAWS_KEY, FINAL_ITEMS_KEY, FRACTION_KEY, NODE_KEY, STEP_KEY
from foretune.search.best_so_far import claims_lead, withdraw_lead
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


def _reporter(config: ExperimentConfig, costs: Any) -> TuneReporter:
    """A `TuneReporter`; one that checks the search metric against a `search.metric_range` given by hand."""
    if config.search.given_range is None:
        return TuneReporter(costs=costs)
    from foretune.search.function_trial import RangeCheckedReporter  # imports this module: here, not at the top

    return RangeCheckedReporter(config.search.metric, config.search.given_range, costs=costs)


def run_trial(
    params: dict[str, Any],
    *,
    base_config: ExperimentConfig,
    trainer_factory: TrainerFactory,
    board: Any = None,
    objective_metrics: Sequence[str] = (),
) -> None:
    """Function trainable (bound with `tune.with_parameters`). A completed run is scored on the test split only
    when it leads the search's finals so far (`board`: `foretune.search.best_so_far`; None: always)."""
    import gc
    import inspect

    from ray import tune

    gc.collect()  # in a reused worker: the last trial's model, before this one loads its own (GPU memory)
    trainer = trainer_factory(trial_config(base_config, params))
    reporter = _reporter(base_config, getattr(trainer, "costs", None))
    # A trainer that scores the test split itself on completion (the LoRA trainer) leaves it to the lead check.
    deferred = "evaluate_test" in inspect.signature(trainer.fit).parameters and hasattr(trainer, "evaluate_test")
    result = trainer.fit(reporter, evaluate_test=False) if deferred else trainer.fit(reporter)
    completed = not getattr(result, "stopped_early", False) and bool(reporter.last)
    test_metrics, scored = getattr(result, "test_metrics", None), getattr(result, "test_scored", None)
    wanted = test_metrics or (deferred and completed and base_config.task.test_on_completion)
    objectives = list(objective_metrics or [base_config.search.metric])
    finals = [reporter.last.get(m) for m in objectives]
    draws = _final_draws(trainer, objectives[0]) if completed else {}
    if not (wanted and claims_lead(board, finals)):
        if draws:
            tune.report({**reporter.last, NODE_KEY: reporter.node, **draws})
        return
    if deferred:
        try:
            test_metrics, scored = trainer.evaluate_test(), trainer.last_scored
        except Exception:  # the trial fails: its final must not keep a later, complete trial from its test
            withdraw_lead(board, finals)
            raise
    if test_metrics and scored:  # 95% intervals over the test items
        from foretune.predictors.bootstrap import with_intervals  # scipy.stats: only a completed trial needs it

        user_score = getattr(trainer, "metric_fn_score", None)  # a task.metric_fn's metrics get intervals too
        test_metrics = with_intervals(test_metrics, trainer.task.score, scored, user_score=user_score)
    if test_metrics or draws:
        # One more result at the same budget point carries the held-out scores and the draws to the searcher.
        test = {"test": {k: float(v) for k, v in test_metrics.items()}} if test_metrics else {}
        tune.report({**reporter.last, NODE_KEY: reporter.node, **test, **draws})


def _final_draws(trainer: Any, metric: str) -> dict[str, Any]:
    """{FINAL_DRAWS_KEY: the final's `metric` on paired resamples of its validation items, FINAL_ITEMS_KEY: which
    items}: what the report weighs the finals' differences against. Empty for a trainer that cannot re-score its
    final (no `final_resampling`: replayed curves), for a metric it cannot re-score, and where the draws would take
    too long (`bootstrap.DRAWS_BUDGET_S`). Your own code's come from its items (`function_trial`)."""
    resampling = getattr(trainer, "final_resampling", None)
    found = resampling(metric) if resampling is not None else None
    if found is None:
        return {}
    from foretune.predictors.bootstrap import items_fingerprint, paired_draws  # scipy.stats: completed trials only

    score, items, values_per_item = found
    values = paired_draws(score, items, values_per_item, metric)
    # 4 decimals: the 200 draws stay a short paragraph among the trial's user attributes in optuna-dashboard.
    return {FINAL_DRAWS_KEY: [round(v, 4) for v in values], FINAL_ITEMS_KEY: items_fingerprint(items)} if values else {}
