"""The search space: `config.search.space` as Optuna distributions, the models it names, its objectives,
and the seeded TPE sampler."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from foretune.config import ExperimentConfig, ModelConfig, ParamSpec, SearchConfig


def to_distribution(spec: ParamSpec) -> BaseDistribution:
    """One `ParamSpec` (already validated by the config) as an Optuna distribution."""
    if spec.type == "categorical":
        return CategoricalDistribution(list(spec.choices or []))
    low, high = spec.low, spec.high
    assert low is not None and high is not None  # the config validates numeric bounds
    if spec.type in ("float", "log_float"):
        return FloatDistribution(low, high, log=spec.type == "log_float", step=spec.step)
    if spec.type in ("int", "log_int"):
        step = int(spec.step) if spec.step else 1
        return IntDistribution(int(low), int(high), log=spec.type == "log_int", step=step)
    raise ValueError(f"unknown parameter type {spec.type!r}")  # unreachable: pydantic checks the Literal


def to_distributions(space: Mapping[str, ParamSpec]) -> dict[str, BaseDistribution]:
    """The whole space, keyed by the space key (`learning_rate`, `lora.r`, `model.name`, ...)."""
    return {name: to_distribution(spec) for name, spec in space.items()}


def searched_models(config: ExperimentConfig) -> list[ModelConfig]:
    """Every model a trial may load: the config's, or each `model.name` choice of the space."""
    spec = config.search.space.get("model.name")
    if spec is None:
        return [config.model]
    return [config.with_overrides({"model.name": name}, where="search.space.model.name").model for name in spec.choices]


def _absolute_if_local(name: str) -> str:
    from foretune.trainers.models import BUILTIN_MODELS

    path = Path(name).expanduser()
    return name if name in BUILTIN_MODELS or path.is_absolute() or not path.exists() else str(path.resolve())


def with_absolute_model_folders(config: ExperimentConfig) -> ExperimentConfig:
    """`config` with model folders given relative to the current folder made absolute (in `model.name` and the
    space's choices): Ray runs each trial in its own folder, where a relative path finds nothing."""
    overrides: dict = {"model.name": _absolute_if_local(config.model.name)}
    spec = config.search.space.get("model.name")
    if spec is not None:
        choices = [_absolute_if_local(str(c)) for c in spec.choices]
        overrides["search.space.model.name"] = {**spec.model_dump(exclude_none=True), "choices": choices}
    return config.with_overrides(overrides, where="model folders")


def objectives(search: SearchConfig) -> list[tuple[str, str]]:
    """(metric, mode) of each objective: `search.objectives`, or the one `search.metric`."""
    if search.objectives:
        return [(o.metric, o.mode) for o in search.objectives]
    return [(search.metric, search.mode)]


def make_sampler(search: SearchConfig, *, seed_offset: int = 0) -> optuna.samplers.TPESampler:
    """Seeded multivariate TPE with the constant liar (parallel trials do not all pick one point).

    A resumed study passes `seed_offset` = trials already in it, so the random start-up phase does
    not propose the same parameters again (optuna#3255).
    """
    with warnings.catch_warnings():  # `multivariate` / `group` are flagged experimental, and stable for years
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=search.seed + seed_offset,
            n_startup_trials=search.n_startup_trials,
            multivariate=True,
            group=True,  # conditional / differently-shaped spaces stay valid under multivariate TPE
            constant_liar=True,
        )
