"""An accuracy reported in percent, a loss in other units: does the verdict scale with the metric?

A training loop of your own may report its accuracy as a percentage (`val_acc` 87.5) where the built-in task
reports a share (0.875), and a loss in any units. The predictors are meant to be equivariant: the metric times c,
every prediction and interval times c. Each row replays the cold / warm protocol of `cold_warm.py` (the same draws:
20 studies of <= 50 runs, seed 0; cold-5 and warm, `auto`) on one LoRA curve set, the metric as recorded and
scaled, and gives the largest difference between the scaled predictions divided back and the recorded ones as
round 41 clips them (predicted final, lower and upper end of the 80% interval), how many judged runs' intervals
leave the metric's range, Spearman and coverage:

- `accuracy x 100, no range` (round 40: a share was clipped to [0, 1] when every value was in [0, 1], else never);
- `accuracy x 100, [0, 100]` (round 41: a share by its name, every value in [0, 100]: `calibration.value_range`);
- `eval_loss x 10 (train loss too), no range` (round 40: a loss was never clipped outside the built-in task);
- `eval_loss x 10, 0 and up` (round 41: a loss by its name, no value below 0).

    .venv/bin/python benchmarks/metric_scale.py [--repeats 20]

Sets: every recorded LoRA set (benchmarks/data/README.md); none shaped this change, which sets a range the metric
has, fitted to nothing.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from cold_warm import complete_runs

from foretune.predictors import Curve, Prediction, get_predictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors.calibration import clip_to_bounds, curves_range
from foretune.predictors.io import read_curves
from foretune.search.report_table import markdown_table

DATA = Path(__file__).parent / "data"
SETS = ("lora_curves", "lora_curves_fresh", "lora_curves_ae110k", "lora_curves_oamine", "lora_curves_job")
PARAMS = ("learning_rate", "lora.r", "lora.alpha", "warmup_ratio")
# Per objective: its mode, other metrics, scale, and the rows: (label, the name the range is read with; None:
# round 40's rule, no name).
OBJECTIVES = {
    "accuracy": (
        "max",
        ("eval_loss", "train_loss"),
        100.0,
        (("x 100, no range", None), ("x 100, [0, 100]", "accuracy")),
    ),
    "eval_loss": (
        "min",
        ("train_loss",),
        10.0,
        (("x 10 (train loss too), no range", None), ("x 10, 0 and up", "eval_loss")),
    ),
}


def load(name: str, objective: str, extras: tuple[str, ...]) -> list[Curve]:
    path = DATA / f"{name}.csv"
    params = [p for p in PARAMS if p in pd.read_csv(path, nrows=0).columns]
    curves = read_curves(path, value_col=objective, extra_cols=list(extras), param_cols=params)
    return complete_runs(curves, 0.2)


def scaled(curve: Curve, factor: float, extras_too: bool) -> Curve:
    extras = {k: v * factor for k, v in curve.extras.items()} if extras_too else curve.extras
    return replace(curve, values=curve.values * factor, extras=extras)


def predict(finished: list[Curve], judged: list[Curve], *, mode: str) -> Prediction:
    """`auto` fit on `finished`, judging `judged` at 0.2 (unclipped)."""
    return get_predictor("auto", mode=mode).fit(finished).predict([c.upto(0.2) for c in judged], at=0.2)


def clipped(prediction: Prediction, finished: list[Curve], judged: list[Curve], mode: str, metric: str | None):
    """`prediction` clipped into the range read as `metric` names it, from what a search has seen at 0.2."""
    seen = [*finished, *(c.upto(0.2) for c in judged)]
    return clip_to_bounds(prediction, curves_range(seen, mode=mode, metric=metric))


def compare(name: str, objective: str, *, repeats: int, size: int, seed: int) -> list[dict[str, object]]:
    mode, extras, factor, rows = OBJECTIVES[objective]
    runs = load(name, objective, extras)
    found = {label: {"moves": [], "outside": 0, "judged": 0, "rho": [], "cover": []} for label, _ in rows}
    for r in range(repeats):
        rng = np.random.default_rng([seed, 0, r])  # cold_warm.run's draw of pool 0
        study = [runs[i] for i in rng.permutation(len(runs))[: min(size, len(runs))]]
        for k in (5, len(study) // 2):
            finished, judged = study[:k], study[k:]
            base = clipped(predict(finished, judged, mode=mode), finished, judged, mode, objective)
            big = [scaled(c, factor, extras_too=mode == "min") for c in (*finished, *judged)]
            raw = predict(big[:k], big[k:], mode=mode)
            if not (base.predicted and raw.predicted):
                continue
            finals = np.array([final_value(c) for c in big[k:]])
            for label, metric in rows:
                other, into = clipped(raw, big[:k], big[k:], mode, metric), found[label]
                for part in ("mean", "lower", "upper"):
                    into["moves"].append(np.max(np.abs(getattr(other, part) / factor - getattr(base, part))))
                high = factor if mode == "max" else np.inf
                into["outside"] += int(np.sum((other.lower < 0) | (other.upper > high)))
                into["judged"] += len(judged)
                into["rho"].append(metrics.spearman(other.mean, finals))
                into["cover"].append(metrics.coverage(other.lower, other.upper, finals))
    return [
        {
            "set": name,
            "metric": f"{objective} {label}",
            "largest move (divided back)": f"{max(f['moves']):.2g}",
            "intervals leaving the range": f"{f['outside']} of {f['judged']}",
            "Spearman (mean)": f"{np.mean(f['rho']):.3f}",
            "coverage": f"{np.mean(f['cover']):.3f}",
        }
        for label, f in found.items()
    ]


def draw_args(description: str) -> argparse.Namespace:
    """--repeats, --size, --seed: the cold / warm protocol's draws (`cold_warm.py`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = draw_args(__doc__.splitlines()[0])
    start = time.perf_counter()
    rows = []
    for name in SETS:
        for objective in OBJECTIVES:
            rows += compare(name, objective, repeats=args.repeats, size=args.size, seed=args.seed)
            print(f"{name} {objective}: {time.perf_counter() - start:.0f} s", flush=True)
    print(markdown_table(pd.DataFrame(rows)))
    print(f"\n{time.perf_counter() - start:.0f} s; cold-5 and warm draws, `auto`")


if __name__ == "__main__":
    main()
