"""Where a LoRA trainer computes: the device, bf16 or float32, and how many CPU threads."""

from __future__ import annotations

import os

import torch

from foretune.errors import ForetuneError


def pick_device(setting: str) -> str:
    if setting == "cuda" and not torch.cuda.is_available():
        raise ForetuneError("train.device is 'cuda' but no CUDA GPU is visible; use device: auto or cpu")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def use_bf16(setting: str, device: str) -> bool:
    """Whether to compute in bf16 (autocast: the weights, optimizer and loss stay float32). 'auto': where the
    device computes bf16 natively, a CUDA GPU that supports it or a CPU with AVX-512 BF16 or AMX (on this project's
    2-core AMD EPYC a complete default-job trial takes 54-62 s instead of 88-98; a CPU without them emulates bf16,
    slower than float32: benchmarks/results/default_job.md, round 52)."""
    if setting == "off":
        return False
    if device == "cpu":
        native = cpu_computes_bf16()
        if setting == "on" and not native:
            raise ForetuneError(
                "train.bf16 is 'on' but this CPU has no native bf16 (AVX-512 BF16 or AMX); use bf16: auto or off"
            )
        return native
    return setting == "on" or torch.cuda.is_bf16_supported()


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (torch's own check, as oneDNN uses them)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def default_threads() -> int:
    # Ray sets OMP_NUM_THREADS to the CPUs it gave the trial; alone, use the cores we may run on.
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
