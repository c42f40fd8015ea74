"""Costs of a run (`foretune.trainers.costs`) on a small real torch model, and the config keys behind them."""

from __future__ import annotations

import time

import pytest
import torch

from foretune.config import validate_config
from foretune.errors import ForetuneError
from foretune.search.space import objectives, searched_models
from foretune.search.trainable import trial_config
from foretune.trainers.costs import CostMeter, count_parameters
from foretune.trainers.wall_clock import WallClockMeter, held_devices


def test_meter_measures_what_the_run_did():
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))
    model[0].weight.requires_grad_(False)  # frozen, like a LoRA base weight
    assert count_parameters(model) == (8 * 4 + 4 + 4 * 2 + 2, 4 + 4 * 2 + 2)
    meter = CostMeter(device="cpu", price_per_device_hour=3.0)
    assert meter.snapshot() == {}  # nothing measured before the run starts
    meter.start()
    meter.count_params(model)
    meter.add_tokens(120)
    meter.add_tokens(80)
    with meter.timing_inference(4):
        time.sleep(0.02)
    costs = meter.snapshot()
    assert costs["cost.tokens"] == 200
    assert costs["cost.params_trainable"] == 14 and costs["cost.params_total"] == 46
    assert costs["cost.latency_ms"] >= 5.0  # 20 ms over 4 examples
    assert costs["cost.train_seconds"] >= 0.02
    # Core-hours on the CPU: seconds x torch threads.
    core_hours = costs["cost.train_seconds"] * torch.get_num_threads() / 3600
    assert costs["cost.device_hours"] == pytest.approx(core_hours, rel=0.1)
    assert costs["cost.usd"] == pytest.approx(costs["cost.device_hours"] * 3.0)
    assert costs["cost.peak_memory_mb"] > 10  # this process's peak resident set
    unpriced = CostMeter(device="cpu")
    unpriced.start()
    assert "cost.usd" not in unpriced.snapshot() and "cost.latency_ms" not in unpriced.snapshot()


def test_wall_clock_meter_counts_the_devices_a_trial_holds():
    cpu = validate_config({"resources": {"cpus_per_trial": 2}, "cost": {"price_per_device_hour": 0.5}})
    meter = WallClockMeter.for_trial(cpu)
    assert meter.snapshot() == {}  # nothing measured before the run starts
    meter.start()
    time.sleep(0.02)
    costs = meter.snapshot()
    assert set(costs) == {"cost.train_seconds", "cost.device_hours", "cost.usd"}  # no torch numbers made up
    assert costs["cost.train_seconds"] >= 0.02
    assert costs["cost.device_hours"] == pytest.approx(costs["cost.train_seconds"] * 2 / 3600, rel=0.1)
    assert costs["cost.usd"] == pytest.approx(costs["cost.device_hours"] * 0.5)
    gpu = validate_config({"resources": {"cpus_per_trial": 4, "gpus_per_trial": 0.5}})
    assert held_devices(gpu) == 0.5 and "cost.usd" not in WallClockMeter.for_trial(gpu).snapshot()


def test_space_may_search_models_and_data_size():
    config = validate_config(
        {
            "search": {
                "space": {
                    "model.name": {"type": "categorical", "choices": ["smollm2-135m", "/models/small"]},
                    "data.train_size": {"type": "categorical", "choices": [50, 100]},
                    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3},  # plain keys stay train.*
                    "train.lora.r": {"type": "categorical", "choices": [4, 8]},
                },
                "objectives": [{"metric": "accuracy", "mode": "max"}, {"metric": "cost.device_hours", "mode": "min"}],
            }
        }
    )
    trial = trial_config(
        config, {"model.name": "/models/small", "data.train_size": 50, "learning_rate": 5e-4, "train.lora.r": 4}
    )
    assert (trial.model.name, trial.data.train_size, trial.train.learning_rate, trial.train.lora.r) == (
        "/models/small",
        50,
        5e-4,
        4,
    )
    assert [m.name for m in searched_models(config)] == ["smollm2-135m", "/models/small"]
    assert objectives(config.search) == [("accuracy", "max"), ("cost.device_hours", "min")]
    assert (config.search.metric, config.search.mode) == ("accuracy", "max")  # the first objective


@pytest.mark.parametrize(
    ("space", "words"),
    [
        ({"data.source": {"type": "categorical", "choices": ["a.jsonl"]}}, "only data.train_size"),
        ({"model.name": {"type": "float", "low": 1, "high": 2}}, "categorical"),
        ({"model.colour": {"type": "categorical", "choices": [1]}}, "unknown field 'colour'"),
    ],
)
def test_bad_space_keys_are_one_clear_error(space, words):
    with pytest.raises(ForetuneError, match=words):
        validate_config({"search": {"space": space}})


def test_objectives_must_differ():
    with pytest.raises(ForetuneError, match="distinct metrics"):
        validate_config({"search": {"objectives": [{"metric": "accuracy", "mode": "max"}] * 2}})


def test_relative_model_folders_become_absolute_before_trials_change_folder(tmp_path, monkeypatch):
    from foretune.search.space import with_absolute_model_folders

    (tmp_path / "models" / "small").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    space = {"model.name": {"type": "categorical", "choices": ["smollm2-135m", "models/small"]}}
    config = with_absolute_model_folders(validate_config({"search": {"space": space}}))
    assert config.search.space["model.name"].choices == ["smollm2-135m", str(tmp_path / "models" / "small")]
    assert config.model.name == "smollm2-135m"
