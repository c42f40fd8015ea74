"""Synthetic learning curves with known finals, for tests, examples and benchmarks."""

from __future__ import annotations

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import Curve


def pow3(x: np.ndarray, final: float, a: float, alpha: float) -> np.ndarray:
    """An accuracy-like curve rising to `final` at x = 1: ``final + a - a * x^-alpha``."""
    return final + a - a * np.asarray(x, dtype=float) ** -alpha


def make_study(n: int, *, seed: int, mode: Mode = "max", noise: float = 0.0, points: int = 10) -> list[Curve]:
    """`n` runs whose final depends on log10(lr) (best at 1e-3) while their early value hides it.

    The gain still to come after 20% grows with the learning rate, so the order at 20% differs
    from the final order: a predictor that reads the hyperparameters can beat the snapshot rule.
    With ``mode="min"`` the values are negated (a loss).
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(1.0 / points, 1.0, points)
    curves = []
    for i in range(n):
        log_lr = rng.uniform(-5, -1)
        final = 0.9 - 0.05 * (log_lr + 3) ** 2
        a = 0.05 * (log_lr + 6)
        y = pow3(x, final, a, 0.7) + rng.normal(0, noise, len(x))
        params = {"lr": float(10**log_lr), "optimizer": "adam" if i % 2 else "sgd"}
        curves.append(Curve(x, y if mode == "max" else -y, params, f"t{i}"))
    return curves
