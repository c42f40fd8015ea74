"""The wall-clock part of a run's costs: seconds, device-hours and dollars, with no torch.

`WallClockMeter` is what foretune can measure of a run it does not train itself (your `train_fn` under
`foretune.optimize` / `--trainable`, a replayed curve): the time since the run started, times the devices the
trial holds. `foretune.trainers.costs.CostMeter` adds what a torch trainer measures (tokens, memory,
parameters, latency) and counts torch threads as the CPU cores.
"""

from __future__ import annotations

import time

from foretune.config import ExperimentConfig
from foretune.keys import COST_DEVICE_HOURS, COST_TRAIN_SECONDS, COST_USD


def held_devices(config: ExperimentConfig) -> float:
    """What a trial holds from Ray: its GPUs when it asks for any (a fraction shares one), else its CPU cores."""
    resources = config.resources
    return resources.gpus_per_trial if resources.gpus_per_trial > 0 else resources.cpus_per_trial


class WallClockMeter:
    """Seconds since `start()` x `devices` = device-hours (GPU-hours, or core-hours on the CPU); dollars when
    a price per device-hour is set."""

    def __init__(self, *, devices: float, price_per_device_hour: float | None = None) -> None:
        if devices <= 0:
            raise ValueError(f"devices must be > 0, got {devices}")
        self.devices = devices
        self.price = price_per_device_hour
        self._started: float | None = None

    @classmethod
    def for_trial(cls, config: ExperimentConfig) -> WallClockMeter:
        """A meter for one trial of `config`: the devices it holds, the config's price."""
        return cls(devices=held_devices(config), price_per_device_hour=config.cost.price_per_device_hour)

    def start(self) -> None:
        self._started = time.perf_counter()

    def device_hours(self, seconds: float) -> float:
        return seconds * self.devices / 3600.0

    def snapshot(self) -> dict[str, float]:
        """The costs so far, keyed by their result / user attribute names; empty before `start()`."""
        if self._started is None:
            return {}
        seconds = time.perf_counter() - self._started
        hours = self.device_hours(seconds)
        costs = {COST_TRAIN_SECONDS: seconds, COST_DEVICE_HOURS: hours}
        if self.price is not None:
            costs[COST_USD] = hours * self.price
        return costs
