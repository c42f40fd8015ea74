"""The search space: `config.search.space` as Optuna distributions, and the seeded TPE sampler."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from foretune.config import ParamSpec, SearchConfig


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
    """The whole space, keyed by the `train` field path (`learning_rate`, `lora.r`, ...)."""
    return {name: to_distribution(spec) for name, spec in space.items()}


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
