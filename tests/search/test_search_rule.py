"""The early-stage rule on plain numbers, and the search space conversion (no Ray)."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from foretune.config import ParamSpec, SearchConfig
from foretune.search.rule import EarlyStageRule
from foretune.search.space import make_sampler, to_distributions


def _better(mode: str, a: float, b: float) -> tuple[float, float]:
    """(better, worse) in the direction of `mode`."""
    return (max(a, b), min(a, b)) if mode == "max" else (min(a, b), max(a, b))


@pytest.mark.parametrize("mode", ["max", "min"])
def test_quantile_keeps_the_top_share(mode):
    rule = EarlyStageRule(mode=mode, rule="quantile", keep=0.5, use_upper_bound=False, grace_trials=0)
    others = [1.0, 2.0, 3.0, 4.0, 5.0]
    good, bad = _better(mode, 4.5, 1.5)
    kept = rule.decide(mean=good, lower=good, upper=good, others=others)
    pruned = rule.decide(mean=bad, lower=bad, upper=bad, others=others)
    assert kept.keep and kept.reason == "kept" and kept.rank == 2 and kept.allowed == 3
    assert not pruned.keep and pruned.reason == "pruned" and pruned.rank == 5


@pytest.mark.parametrize("mode", ["max", "min"])
def test_optimistic_end_of_the_interval_can_save_a_trial(mode):
    others = [1.0, 2.0, 3.0, 4.0, 5.0]
    mean = 2.0 if mode == "max" else 4.0
    lower, upper = (mean - 0.5, mean + 3.0) if mode == "max" else (mean - 3.0, mean + 0.5)  # ties the best
    strict = EarlyStageRule(mode=mode, rule="top_k", keep=1, use_upper_bound=False, grace_trials=0)
    hopeful = EarlyStageRule(mode=mode, rule="top_k", keep=1, use_upper_bound=True, grace_trials=0)
    assert not strict.decide(mean=mean, lower=lower, upper=upper, others=others).keep
    assert hopeful.decide(mean=mean, lower=lower, upper=upper, others=others).keep


def test_grace_trials_always_continue_then_the_rule_applies():
    rule = EarlyStageRule(mode="max", rule="top_k", keep=1, use_upper_bound=False, grace_trials=2)
    assert rule.decide(mean=0.0, lower=0.0, upper=0.0, others=[]).reason == "grace"
    assert rule.decide(mean=0.0, lower=0.0, upper=0.0, others=[9.0]).reason == "grace"
    assert rule.decide(mean=0.0, lower=0.0, upper=0.0, others=[9.0, 8.0]).reason == "pruned"


def test_top_k_and_quantile_sizes():
    assert EarlyStageRule(rule="top_k", keep=3).allowed(100) == 3
    assert EarlyStageRule(rule="quantile", keep=0.2).allowed(10) == 2
    assert EarlyStageRule(rule="quantile", keep=0.2).allowed(2) == 1  # never zero


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "up"}, "mode"),
        ({"rule": "median"}, "rule"),
        ({"rule": "quantile", "keep": 1.5}, "keep=1.5"),
        ({"rule": "top_k", "keep": 0.5}, "keep=0.5"),
        ({"grace_trials": -1}, "grace_trials"),
    ],
)
def test_rule_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStageRule(**kwargs)


def test_space_to_optuna_distributions():
    space = {
        "learning_rate": ParamSpec(type="log_float", low=1e-4, high=1e-2),
        "warmup_ratio": ParamSpec(type="float", low=0.0, high=0.2, step=0.05),
        "batch_size": ParamSpec(type="int", low=4, high=16, step=4),
        "lora.r": ParamSpec(type="log_int", low=2, high=32),
        "lora.target_modules": ParamSpec(type="categorical", choices=["q_proj,v_proj", "q_proj,k_proj,v_proj,o_proj"]),
    }
    dists = to_distributions(space)
    assert dists["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["warmup_ratio"] == FloatDistribution(0.0, 0.2, step=0.05)
    assert dists["batch_size"] == IntDistribution(4, 16, step=4)
    assert dists["lora.r"] == IntDistribution(2, 32, log=True)
    assert isinstance(dists["lora.target_modules"], CategoricalDistribution)


def test_sampler_is_seeded_and_offset_on_resume():
    import optuna

    search = SearchConfig(seed=7, n_startup_trials=5)
    dists = to_distributions(search.space)

    def first_params(offset):
        study = optuna.create_study(sampler=make_sampler(search, seed_offset=offset))
        return study.ask(fixed_distributions=dists).params

    assert first_params(0) == first_params(0)
    assert first_params(0) != first_params(3)
