"""`foretune.optimize`: search your own training function with foretune's early-stage evaluator.

    >>> def train(params, reporter):            # any code: a transformers Trainer, a PyTorch loop, ...
    ...     for step in range(1, 101):
    ...         ...                              # train with params["lr"]
    ...         if step % 10 == 0:
    ...             reporter.report(step / 100, step, {"eval_loss": loss})
    >>> outcome = foretune.optimize(train, space={"lr": {"type": "log_float", "low": 1e-5, "high": 1e-2}},
    ...                             metric="eval_loss", mode="min", trials=20, out="runs/mine")

The trials run on Ray Tune like `foretune search`: Optuna TPE proposes the parameters, the early-stage
evaluator judges each trial at `early_stage.fraction` of its budget and stops the hopeless ones, the study
lives in Optuna storage (a journal file in `out`, or `storage=URL`), rerunning the same call resumes it,
and `out` gets the same report (trials.csv, report.md, curves.png, best.yaml); `foretune dashboard OUT`
opens it. Named `optimize` because `foretune.search` is the search package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from foretune.config import ExperimentConfig, ParamSpec, load_config
from foretune.errors import ForetuneError
from foretune.keys import Mode
from foretune.search.function_trial import TrainFn, trainable_name


def optimize(
    train_fn: TrainFn,
    *,
    space: Mapping[str, Mapping[str, Any] | ParamSpec],
    metric: str,
    mode: Mode = "max",
    trials: int = 10,
    out: str | Path | None = None,
    storage: str | None = None,
    study: str | None = None,
    config: str | Path | ExperimentConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    address: str | None = None,
    progress: bool = True,
):
    """Search `train_fn(params, reporter)` over `space`; returns the `SearchOutcome` (run folder, study, report).

    `space` maps each parameter name to its distribution, as in a config's `search.space`
    (`{"type": "log_float", "low": 1e-5, "high": 1e-2}`; types float, log_float, int, log_int,
    categorical with `choices`); `train_fn` gets `params` under these names. It calls
    `reporter.report(fraction, step, metrics)` at each evaluation, `metrics` holding `metric`, the last
    time at fraction 1.0 (a transformers Trainer does this with `foretune.trainers.hf_callback.ReporterCallback`);
    `reporter.final_items(metric, values)`, each validation item's value at the final (their mean is the final), gives
    the report's validation-noise lines.
    Everything else comes from `config` (a YAML path or an `ExperimentConfig`; default: the defaults) and
    `overrides`, dotted keys like `--set`: `{"early_stage.fraction": 0.25, "resources.gpus_per_trial": 1}`.
    The study is named `study`, else the config's name, else the function's name; `out` defaults to
    runs/search-<that name>. `address` joins a Ray cluster (the function must import there).
    """
    if not callable(train_fn):
        raise ForetuneError(f"train_fn must be a function train_fn(params, reporter), got {type(train_fn).__name__}")
    if not space:
        raise ForetuneError("space is empty: give at least one parameter, e.g. {'lr': {'type': 'log_float', ...}}")
    base = config if isinstance(config, ExperimentConfig) else load_config(config)
    fn_name = getattr(train_fn, "__name__", "")
    name = study or (base.name if config is not None else fn_name if fn_name.isidentifier() else "train_fn")
    settings = {
        "name": name,
        "search.trainable": trainable_name(train_fn),
        "search.space": {key: _spec(value) for key, value in space.items()},
        "search.metric": metric,
        "search.mode": mode,
        "search.trials": trials,
        **(overrides or {}),
    }
    searched = base.with_overrides(settings, where="foretune.optimize arguments")
    return _run(searched, train_fn, out=out, storage=storage, address=address, progress=progress)


def _spec(value: Mapping[str, Any] | ParamSpec) -> dict[str, Any]:
    return value.model_dump(exclude_none=True) if isinstance(value, ParamSpec) else dict(value)


def _run(config: ExperimentConfig, train_fn: TrainFn, *, out, storage, address, progress: bool):
    """`run_search` with the function as the trial, then the report and plots `foretune search` writes."""
    import optuna

    from foretune.cli.search import write_report
    from foretune.search.driver import run_search
    from foretune.search.storage import open_storage

    outcome = run_search(
        config,
        out=out,
        storage=storage,
        address=address,
        trainer_factory=train_fn,
        progress=progress,
        write_report=False,
    )
    searched = optuna.load_study(study_name=outcome.study_name, storage=open_storage(outcome.storage))
    outcome.report = write_report(searched, outcome.run_dir)
    return outcome
