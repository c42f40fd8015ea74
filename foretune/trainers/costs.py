"""What a run costs: time, device-hours, tokens, peak memory, parameters, inference latency, dollars.

`CostMeter` is fed by the trainer (start, parameters once wrapped, tokens per step, a timed
evaluation) and read at each report (`snapshot()`), so a run stopped early carries the costs of
what it did. Device-hours are GPU-hours on a GPU (seconds x GPUs the trial holds) and core-hours
on the CPU (seconds x torch threads): the unit a cloud bill counts in each case. The time, device-hours
and dollars are `foretune.trainers.wall_clock.WallClockMeter`'s (no torch): what user functions and
replayed curves record.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from foretune.keys import (
    COST_LATENCY_MS,
    COST_PARAMS_TOTAL,
    COST_PARAMS_TRAINABLE,
    COST_PEAK_MEMORY_MB,
    COST_TOKENS,
)
from foretune.trainers.wall_clock import WallClockMeter


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, trainable ones) of `model`: with LoRA, the base model's plus the adapters'."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return total, trainable


def peak_memory_mb(device: str) -> float:
    """CUDA: the most memory torch has held allocated since `start`; CPU: the process's peak resident set."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class CostMeter(WallClockMeter):
    """Accumulates one run's costs; `gpus` is what the trial holds on a GPU (a fraction shares one)."""

    def __init__(self, *, device: str, gpus: float = 1.0, price_per_device_hour: float | None = None) -> None:
        # A run outside a search on a GPU holds the whole GPU; on the CPU `device_hours` counts torch threads.
        super().__init__(devices=gpus if gpus > 0 else 1.0, price_per_device_hour=price_per_device_hour)
        self.device = device
        self.tokens = 0
        self.params_total: int | None = None
        self.params_trainable: int | None = None
        self.latency_ms: float | None = None

    def start(self) -> None:
        super().start()
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def count_params(self, model: torch.nn.Module) -> None:
        self.params_total, self.params_trainable = count_parameters(model)

    def add_tokens(self, count: int) -> None:
        self.tokens += int(count)

    @contextmanager
    def timing_inference(self, examples: int) -> Iterator[None]:
        """Time one evaluation pass over `examples` examples: the latency is its mean per example."""
        if self.device == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        yield
        if self.device == "cuda":
            torch.cuda.synchronize()
        if examples > 0:
            self.latency_ms = (time.perf_counter() - began) * 1000.0 / examples

    def device_hours(self, seconds: float) -> float:
        units = self.devices if self.device == "cuda" else torch.get_num_threads()
        return seconds * units / 3600.0

    def snapshot(self) -> dict[str, float]:
        """The costs so far, keyed by their result / user attribute names; only what was measured."""
        costs = super().snapshot()  # time, device-hours, dollars
        if not costs:
            return {}
        costs[COST_TOKENS] = float(self.tokens)
        costs[COST_PEAK_MEMORY_MB] = peak_memory_mb(self.device)
        if self.params_total is not None:
            costs[COST_PARAMS_TOTAL] = float(self.params_total)
            costs[COST_PARAMS_TRAINABLE] = float(self.params_trainable or 0)
        if self.latency_ms is not None:
            costs[COST_LATENCY_MS] = self.latency_ms
        return costs
