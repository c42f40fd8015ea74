"""The one place that builds the Ray Tune + Optuna glue; metric and mode are set here once.

With several objectives (`search.objectives`) the searcher gets their metric and mode lists (an Optuna
multi-objective study); Ray Tune and the scheduler track the first one, the early-stage verdict judges
all of them (`foretune.search.pareto`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage
from ray import tune
from ray.tune.schedulers import TrialScheduler

from foretune.config import ExperimentConfig
from foretune.predictors._base import Curve, Predictor
from foretune.search.audit import AuditDraw
from foretune.search.earlier_trials import EarlierTrialCurve
from foretune.search.evaluator import VerdictsAndErrors
from foretune.search.fits import search_range
from foretune.search.function_trial import run_function_trial
from foretune.search.pareto import ParetoJudge
from foretune.search.rule import EarlyStageRule, make_rule
from foretune.search.scheduler import EarlyStageScheduler
from foretune.search.searcher import PrunedAwareOptunaSearch
from foretune.search.space import make_sampler, objectives, to_distributions
from foretune.search.trainable import TrainerFactory, run_trial


def make_predictor_factory(config: ExperimentConfig):
    """A zero-argument builder of the configured predictor (the config has checked its name)."""
    from foretune.predictors import get_predictor

    name, mode, metric = config.early_stage.predictor, config.search.mode, config.search.metric
    given = config.search.given_range

    def make() -> Predictor:
        return get_predictor(name, mode=mode, metric=metric, metric_range=given)

    return make


def build_scheduler(
    config: ExperimentConfig,
    *,
    notes: VerdictsAndErrors,
    past: Sequence[EarlierTrialCurve] = (),
    history: Sequence[Curve] = (),
    peers: Callable[[], Iterable[EarlierTrialCurve]] | None = None,
) -> EarlyStageScheduler:
    early = config.early_stage
    if len(objectives(config.search)) > 1 and early.rule == "probability":  # P(beat the k-th best) needs one objective
        early = early.model_copy(update={"rule": "quantile"})  # several: dominance among the top `keep` share
    rule = make_rule(early, config.search.mode) if early.enabled else None
    # A resumed session (past trials) draws its own audit phase: the sample stays one in every k.
    audit = AuditDraw(early.audit_every, config.search.seed + len(past)) if rule and early.audit_every else None
    scheduler = EarlyStageScheduler(
        metric=config.search.metric,
        mode=config.search.mode,
        fraction=early.fraction,
        make_predictor=make_predictor_factory(config),
        rule=rule,
        notes=notes,
        past=past,
        bounds=search_range(config.search),
        history=history,
        audit=audit,
        peers=peers,
    )
    wanted = objectives(config.search)
    if len(wanted) > 1 and isinstance(rule, EarlyStageRule):  # prune on dominance of the predicted objectives
        scheduler.evaluator.objectives = ParetoJudge(
            [m for m, _ in wanted], [mode for _, mode in wanted], allowed=rule.allowed, grace_trials=rule.grace_trials
        )
    return scheduler


def build_searcher(
    config: ExperimentConfig, *, storage: BaseStorage, study_name: str, notes: VerdictsAndErrors, seed_offset: int = 0
) -> PrunedAwareOptunaSearch:
    wanted = objectives(config.search)
    several = len(wanted) > 1
    return PrunedAwareOptunaSearch(
        to_distributions(config.search.space),
        metric=[m for m, _ in wanted] if several else config.search.metric,
        mode=[mode for _, mode in wanted] if several else config.search.mode,
        sampler=make_sampler(config.search, seed_offset=seed_offset),
        study_name=study_name,
        storage=storage,
        notes=notes,
    )


def build_tuner(
    config: ExperimentConfig,
    *,
    trainer_factory: TrainerFactory,
    searcher: PrunedAwareOptunaSearch,
    scheduler: TrialScheduler,
    num_samples: int,
    run_dir: Path,
    session_name: str,
    callbacks: Sequence[Any] = (),
    board: Any = None,
) -> tune.Tuner:
    """`board`: the search's `foretune.search.best_so_far` actor (a completed trial is test-scored when it leads)."""
    if config.search.trainable is not None:  # `trainer_factory` is a user's train_fn(params, reporter)
        trainable = tune.with_parameters(run_function_trial, train_fn=trainer_factory, base_config=config)
    else:
        trainable = tune.with_parameters(
            run_trial,
            base_config=config,
            trainer_factory=trainer_factory,
            board=board,
            objective_metrics=[metric for metric, _ in objectives(config.search)],
        )
    resources = {"cpu": config.resources.cpus_per_trial, "gpu": config.resources.gpus_per_trial}
    return tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            metric=config.search.metric,
            mode=config.search.mode,
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=config.search.max_concurrent_trials,
            time_budget_s=config.search.time_budget_s,
            reuse_actors=config.search.reuses_workers,
        ),
        run_config=tune.RunConfig(
            name=session_name,
            storage_path=str(Path(run_dir).resolve() / "ray"),
            verbose=0,
            callbacks=list(callbacks),
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )
