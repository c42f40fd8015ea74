"""An error rate (1 - accuracy, minimized) against the accuracy it mirrors: does the verdict read them alike?

An image classifier's search often reports its error (`val_error`, `top1_err`: lower is better) where ours reports
the accuracy, and a long table of your own names its metric column "value" (`foretune rank`'s default). Each row
replays the cold / warm protocol of `cold_warm.py` (the same draws: 20 studies of <= 50 runs, seed 0; cold-0, cold-2,
cold-5 and warm, `auto`) on one LoRA curve set: its accuracy as recorded (mode max); 1 - accuracy minimized, read as
round 41 read it (no name: the rules made for a loss, no range), as round 42 reads an error rate by its name
(`get_predictor(metric="val_error")`: the score it mirrors; 0 and up) and as round 43 reads it under the bare name
"value" (every value in [0, 1]: an error rate, `calibration.reads_as_error_rate`). Then the other side of round 43's
rule, the set's eval loss (the eval loss is the LoRA trainer's; only the default job's set has every value in
[0, 1]) read by its name and under the bare name. Spearman of the predicted finals (the early score where no final
was predicted) and coverage of the 80% intervals where one was predicted ("n/a": none in any draw); how many judged
runs' intervals reach below 0.

    .venv/bin/python benchmarks/error_rate.py [--repeats 20]

Sets: every recorded LoRA set (benchmarks/data/README.md); the mirror is an identity (1 - accuracy carries what the
accuracy does), fitted to nothing; all five sets were measured before it was chosen (round 42, verdict.md), and
before round 43's bare-name rule (a share to minimize is an error rate, by what it is, not by these tables).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
from cold_warm import SCENARIOS
from metric_scale import SETS, draw_args, load

from foretune.predictors import get_predictor, metrics
from foretune.predictors._base import final_value
from foretune.predictors.calibration import clip_to_bounds, curves_range
from foretune.search.report_table import markdown_table

# (label, objective as recorded, mode, the name the predictor and the range are read with, 1 - the values)
READINGS = (
    ("accuracy (max)", "accuracy", "max", "accuracy", False),
    ("1 - accuracy, no name: as a loss (round 41)", "accuracy", "min", None, True),
    ("1 - accuracy as val_error (round 42)", "accuracy", "min", "val_error", True),
    ("1 - accuracy as value (round 43)", "accuracy", "min", "value", True),
    ("eval loss as eval_loss", "eval_loss", "min", "eval_loss", False),
    ("eval loss as value (round 43)", "eval_loss", "min", "value", False),
)
EXTRAS = {"accuracy": ("eval_loss", "train_loss"), "eval_loss": ("train_loss",)}


def score(runs, *, mode: str, metric: str | None, repeats: int, size: int, seed: int) -> dict[str, object]:
    found = {scenario: ([], []) for scenario in SCENARIOS}
    below = judged = 0
    for r in range(repeats):
        rng = np.random.default_rng([seed, 0, r])  # cold_warm.run's draw of pool 0
        study = [runs[i] for i in rng.permutation(len(runs))[: min(size, len(runs))]]
        for scenario, k in SCENARIOS.items():
            k = len(study) // 2 if k is None else k
            finished, ranked = study[:k], study[k:]
            early = [c.upto(0.2) for c in ranked]
            prediction = get_predictor("auto", mode=mode, metric=metric).fit(finished).predict(early, at=0.2)
            prediction = clip_to_bounds(prediction, curves_range([*finished, *early], mode=mode, metric=metric))
            finals = np.array([final_value(c) for c in ranked])
            found[scenario][0].append(metrics.spearman(prediction.mean, finals))
            if prediction.predicted:
                found[scenario][1].append(metrics.coverage(prediction.lower, prediction.upper, finals))
                below += int(np.sum(prediction.lower < 0))
                judged += len(ranked)
    row = {
        f"{s} Spearman / coverage": f"{np.mean(rho):.3f} / {np.mean(cover):.3f}"
        if cover
        else f"{np.mean(rho):.3f} / n/a"
        for s, (rho, cover) in found.items()
    }
    return {**row, "intervals below 0": f"{below} of {judged}"}


def main() -> None:
    args = draw_args(__doc__.splitlines()[0])
    start = time.perf_counter()
    rows = []
    for name in SETS:
        recorded = {objective: load(name, objective, extras) for objective, extras in EXTRAS.items()}
        for label, objective, mode, metric, one_minus in READINGS:
            runs = (
                [replace(c, values=1.0 - c.values) for c in recorded[objective]] if one_minus else recorded[objective]
            )
            found = score(runs, mode=mode, metric=metric, repeats=args.repeats, size=args.size, seed=args.seed)
            rows.append({"set": name, "read as": label, **found})
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    print(markdown_table(pd.DataFrame(rows)))
    print(f"\n{time.perf_counter() - start:.0f} s; cold-0, cold-2, cold-5 and warm draws, `auto`")


if __name__ == "__main__":
    main()
