"""Writes replay_curves.csv: recorded-looking learning curves for the replay trainer's tests.

36 trials x 10 budget fractions (0.1 .. 1.0) of a loss-like metric (lower is better), in the long
format of `foretune rank` (``trial, fraction, <metrics>, <hyperparameters>``; read it with
``--value-col val_loss``). The hyperparameters drive the outcome: the final loss is lowest near
learning_rate 5e-4 and weight_decay 1e-2 and mildly prefers warmup_ratio 0.08; a higher learning
rate also learns faster early, so the ranking at 20% of the budget mostly, but not always, predicts
the final ranking (Spearman ~0.85). weight_decay spans 1e-5 .. 1e-1, so 1e-3 splits the trials in
two (the stack tests inject failures above it).

    .venv/bin/python tests/data/make_replay_curves.py      # rewrites tests/data/replay_curves.csv
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

OUT = Path(__file__).with_name("replay_curves.csv")
SEED = 20250101
N_TRIALS = 36
FRACTIONS = np.round(np.arange(1, 11) / 10, 2)


def _trial(rng: np.random.Generator) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    params = {
        "learning_rate": float(10 ** rng.uniform(-5, -2)),
        "weight_decay": float(10 ** rng.uniform(-5, -1)),
        "warmup_ratio": float(rng.uniform(0.0, 0.2)),
    }
    log_lr, log_wd = np.log10(params["learning_rate"]), np.log10(params["weight_decay"])
    final = (
        0.55
        + 0.2 * (log_lr + 3.3) ** 2
        + 0.02 * (log_wd + 2.0) ** 2
        + 2.0 * (params["warmup_ratio"] - 0.08) ** 2
        + rng.normal(0, 0.04)  # what the hyperparameters do not explain (seed, data order)
    )
    # Excess loss at 10% of the budget: small for fast (high learning rate) runs; its decay shape varies.
    excess = 0.3 + 0.25 * (-2 - log_lr) + abs(rng.normal(0, 0.2))
    alpha = rng.uniform(0.6, 1.6)
    shape = (FRACTIONS**-alpha - 1) / (10**alpha - 1)  # 1 at fraction 0.1, 0 at 1.0
    val = final + excess * shape + rng.normal(0, 0.008, FRACTIONS.size)
    overfit = 0.1 * FRACTIONS * (1 - np.tanh(params["weight_decay"] * 30))  # weight decay narrows the gap
    train = val - 0.05 - overfit + rng.normal(0, 0.01, FRACTIONS.size)
    test = val + 0.02 + rng.normal(0, 0.01, FRACTIONS.size)
    return params, {"val_loss": val, "train_loss": train, "test_loss": test}


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    for trial in range(N_TRIALS):
        params, metrics = _trial(rng)
        for i, fraction in enumerate(FRACTIONS):
            rows.append(
                {
                    "trial": trial,
                    "fraction": fraction,
                    **{k: round(float(v[i]), 5) for k, v in metrics.items()},
                    **{k: float(f"{v:.6g}") for k, v in params.items()},
                }
            )
    frame = pd.DataFrame(rows)
    frame.to_csv(OUT, index=False)
    wide = frame.pivot(index="trial", columns="fraction", values="val_loss")
    rho = spearmanr(wide[0.2], wide[1.0]).statistic
    print(f"wrote {OUT} ({len(frame)} rows); Spearman of val_loss at 20% vs final: {rho:.2f}")


if __name__ == "__main__":
    main()
