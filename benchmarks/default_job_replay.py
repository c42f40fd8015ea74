"""Replay the default job's pruning-off twin on recorded LoRA curves, offline (seconds, no training).

The twin runs 8 trials, 2 at a time, each judged at 20% by `auto` from the runs finished so far and each
run to its final: trial k is judged with 2 x (k // 2) finished runs (0, 0, 2, 2, 4, 4, 6, 6), as the
twins on this machine were. Each replay draws 8 trials of `benchmarks/data/lora_curves.csv` (the design
half only: even trial ids, issue 10 item 6) in a random order, keeps only the job's evaluation points
(20%, 60%, 100%), and measures over the trials that got a predicted final: how many, Spearman of
predicted vs final, finals inside their 80% interval, by the number of finished runs they were judged with.

    .venv/bin/python benchmarks/default_job_replay.py [--replays 100] [--min-lr 0]
    .venv/bin/python benchmarks/default_job_replay.py --twin runs/bench-default-job-s0-off   # one real twin, its order
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from foretune.predictors import AutoPredictor, Curve
from foretune.predictors.calibration import clip_to_bounds
from foretune.search.storage import find_study_name, journal_path, open_storage, read_optuna_study

CURVES = Path(__file__).parent / "data" / "lora_curves.csv"
JOB_FRACTIONS = (0.2, 0.6, 1.0)
TRIALS, CONCURRENT, AT = 8, 2, 0.2


def design_curves(path: Path, min_lr: float) -> list[Curve]:
    """The even trial ids' accuracy curves at the job's evaluation points, eval and train loss as extras."""
    table = pd.read_csv(path)
    table = table[(table.trial % 2 == 0) & table.fraction.round(3).isin(JOB_FRACTIONS)]
    curves = []
    for trial, rows in table.groupby("trial"):
        if rows.learning_rate.iloc[0] < min_lr or len(rows) != len(JOB_FRACTIONS):
            continue
        extras = {name: rows[name].to_numpy() for name in ("eval_loss", "train_loss")}
        curves.append(Curve(rows.fraction.to_numpy(), rows.accuracy.to_numpy(), trial=int(trial), extras=extras))
    return curves


def twin_curves(run_dir: Path) -> list[Curve]:
    """A recorded twin's complete trials in trial-number order (the order they were judged in)."""
    journal = str(journal_path(run_dir))
    curves = read_optuna_study(
        find_study_name(open_storage(journal), None, where=journal), journal, states=("COMPLETE",)
    )
    return sorted(curves, key=lambda c: int(c.trial))


def replay(order: list[Curve]) -> list[tuple[int, float, float, float, float]]:
    """(finished runs, predicted, lower, upper, final) of every trial of one twin that got a predicted final."""
    rows = []
    for k, trial in enumerate(order):
        finished = order[: CONCURRENT * (k // CONCURRENT)]
        prediction = AutoPredictor(mode="max").fit(finished).predict([trial.upto(AT)], at=AT)
        prediction = clip_to_bounds(prediction, (0.0, 1.0))
        if prediction.predicted:
            final = trial.final
            rows.append((len(finished), prediction.mean[0], prediction.lower[0], prediction.upper[0], final))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--min-lr", type=float, default=0.0, help="only trials at this learning rate or above")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--twin", type=Path, help="replay this recorded twin's trials in their order instead")
    args = parser.parse_args()
    curves = twin_curves(args.twin) if args.twin else design_curves(CURVES, args.min_lr)
    rng = np.random.default_rng(args.seed)
    spearmans, counts, inside, by_finished = [], [], [], defaultdict(list)
    for _ in range(1 if args.twin else args.replays):
        order = curves if args.twin else [curves[i] for i in rng.permutation(len(curves))[:TRIALS]]
        rows = replay(order)
        counts.append(len(rows))
        for finished, _mean, lower, upper, final in rows:
            inside.append(lower <= final <= upper)
            by_finished[finished].append((lower <= final <= upper, upper - lower))
        if len(rows) >= 3 and np.ptp([r[1] for r in rows]) > 0 and np.ptp([r[4] for r in rows]) > 0:
            spearmans.append(stats.spearmanr([r[1] for r in rows], [r[4] for r in rows]).statistic)
    spearmans = np.array(spearmans)
    source = f"twin {args.twin}, its order" if args.twin else f"design curves, {args.replays} replays"
    print(f"{len(curves)} curves ({source}) of {TRIALS} trials a twin")
    print(f"trials with a predicted final per replay: mean {np.mean(counts):.2f}")
    print(
        f"predicted vs final Spearman: median {np.median(spearmans):.2f}, mean {spearmans.mean():.2f}, "
        f">= 0.8 in {np.mean(spearmans >= 0.8 - 1e-9):.0%} of {len(spearmans)} replays"
    )
    print(f"finals inside their 80% interval: {np.mean(inside):.0%} of {len(inside)}")
    for finished in sorted(by_finished):
        cover, width = zip(*by_finished[finished], strict=True)
        print(f"  judged with {finished} finished: coverage {np.mean(cover):.0%}, mean width {np.mean(width):.2f}")


if __name__ == "__main__":
    main()
