"""An error rate (1 - accuracy, minimized) against the accuracy it mirrors: does the verdict read them alike?

An image classifier's search often reports its error (`val_error`, `top1_err`: lower is better) where ours reports
the accuracy. Each row replays the cold / warm protocol of `cold_warm.py` (the same draws: 20 studies of <= 50
runs, seed 0; cold-5 and warm, `auto`) on one LoRA curve set: its accuracy as recorded (mode max), then 1 - accuracy
minimized, read as round 41 read it (the rules made for a loss, no range), and as round 42 reads an error rate by its
name (`get_predictor(metric="val_error")`: the score it mirrors; 0 and up). Spearman and coverage per scenario, and
how many judged runs' 80% intervals reach below 0.

    .venv/bin/python benchmarks/error_rate.py [--repeats 20]

Sets: every recorded LoRA set (benchmarks/data/README.md); the mirror is an identity (1 - accuracy carries what the
accuracy does), fitted to nothing; all five sets were measured before it was chosen (round 42, verdict.md).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
from metric_scale import SETS, draw_args, load

from foretune.predictors import get_predictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors.calibration import clip_to_bounds, curves_range
from foretune.search.report_table import markdown_table

# (label, mode, the name the predictor and the range are read with, the metric as the curves hold it)
READINGS = (
    ("accuracy (max)", "max", "accuracy", False),
    ("1 - accuracy, as a loss (round 41)", "min", None, True),
    ("1 - accuracy as val_error (round 42)", "min", "val_error", True),
)


def score(runs, *, mode: str, metric: str | None, repeats: int, size: int, seed: int) -> dict[str, object]:
    found = {"cold-5": ([], []), "warm": ([], [])}
    below = judged = 0
    for r in range(repeats):
        rng = np.random.default_rng([seed, 0, r])  # cold_warm.run's draw of pool 0
        study = [runs[i] for i in rng.permutation(len(runs))[: min(size, len(runs))]]
        for scenario, k in (("cold-5", 5), ("warm", len(study) // 2)):
            finished, ranked = study[:k], study[k:]
            early = [c.upto(0.2) for c in ranked]
            prediction = get_predictor("auto", mode=mode, metric=metric).fit(finished).predict(early, at=0.2)
            if not prediction.predicted:
                continue
            seen = [*finished, *early]
            prediction = clip_to_bounds(prediction, curves_range(seen, mode=mode, metric=metric))
            finals = np.array([final_value(c) for c in ranked])
            found[scenario][0].append(metrics.spearman(prediction.mean, finals))
            found[scenario][1].append(metrics.coverage(prediction.lower, prediction.upper, finals))
            below += int(np.sum(prediction.lower < 0))
            judged += len(ranked)
    row = {f"{s} Spearman / coverage": f"{np.mean(v[0]):.3f} / {np.mean(v[1]):.3f}" for s, v in found.items()}
    return {**row, "intervals below 0": f"{below} of {judged}"}


def main() -> None:
    args = draw_args(__doc__.splitlines()[0])
    start = time.perf_counter()
    rows = []
    for name in SETS:
        accuracy = load(name, "accuracy", ("eval_loss", "train_loss"))
        errors = [replace(c, values=1.0 - c.values) for c in accuracy]
        for label, mode, metric, as_error in READINGS:
            runs = errors if as_error else accuracy
            found = score(runs, mode=mode, metric=metric, repeats=args.repeats, size=args.size, seed=args.seed)
            rows.append({"set": name, "read as": label, **found})
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    print(markdown_table(pd.DataFrame(rows)))
    print(f"\n{time.perf_counter() - start:.0f} s; cold-5 and warm draws, `auto`")


if __name__ == "__main__":
    main()
