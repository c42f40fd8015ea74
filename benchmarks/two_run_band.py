"""The band `auto` gives a score judged from 2 finished runs, measured on every pair of finished runs (rounds 32, 47).

With 2 finished runs a loss's line predicts the score's final (`foretune.predictors._signal`), and there is no
leave-one-out residual to calibrate it: the band is +- `TWO_RUN_BAND` x the two finals' difference d, never narrower
than `MOVED_SHARE` x how far the two runs moved after the early fraction. For each set, every pair of its runs is
taken as the finished runs and every other run is judged at 20% (the job's judgement), as `default_job_replay.py`
judges a twin's trials 2-3. Printed: for each (band, share) of the grid, the share of finals inside their band per
set (with its mean width), and by fifth of d over the sets named design (`--design`). The predictions do not depend
on the grid (only the band does): each pair is fitted once, with the shipped constants, and the band is recomputed.

Round 47 added the image classifiers' error pools of `zero_shot_error.py` (`--image-error`: 1 - zero-shot ImageNet-1k
top-1 and 1 - CIFAR-10 recall, minimized under the bare name `value`, read as the accuracy they mirror; pools of 5-7
epochs `image-D` / `cifar-D`, 8-10 epochs `image-RO` / `cifar-RO`), `--pairs N` (a seeded sample of N pairs per set,
a fifth of N per twin, each judging at most 60 other runs: those pools hold 150-250 runs), and a table of the shipped
band's coverage by how far the judged run's loss lies from the pair's (|z|: its distance from their mean in units of
half their range).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/two_run_band.py --pairs 150 --image-error \\
        --twin runs/bench-default-job-s{78..113}-off --curves benchmarks/data/lora_curves_job.csv:even \\
        --curves benchmarks/data/lora_curves.csv:even --curves benchmarks/data/lora_curves_job.csv:odd \\
        --curves benchmarks/data/lora_curves.csv:odd --curves benchmarks/data/lora_curves_fresh.csv:all \\
        --curves benchmarks/data/lora_curves_ae110k.csv:all --curves benchmarks/data/lora_curves_oamine.csv:all \\
        --design twins --design lora_curves_job:even --design lora_curves:even --design image-D --design cifar-D \\
        --band 0.75 0.9 0.95 1.0 --share 0.05 0.1 0.2

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/two_run_band.py \\
        --twin runs/bench-default-job-s{18,19,20,21,22,23,24,25,26,27,28,29}-off \\
        --curves benchmarks/data/lora_curves_job.csv:even --curves benchmarks/data/lora_curves.csv:even \\
        --curves benchmarks/data/lora_curves_job.csv:odd --curves benchmarks/data/lora_curves.csv:odd \\
        --curves benchmarks/data/lora_curves_fresh.csv:all --curves benchmarks/data/lora_curves_ae110k.csv:all \\
        --curves benchmarks/data/lora_curves_oamine.csv:all --design twins --design lora_curves_job:even \\
        --design lora_curves:even
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from default_job_replay import AT, design_curves, twin_curves

from foretune.predictors import Curve, get_predictor
from foretune.predictors import _signal as signal
from foretune.predictors._base import final_value
from foretune.predictors._learned import extra_features

JUDGED_PER_SAMPLED_PAIR = 60


def pair_rows(
    name: str, curves: list[Curve], *, mode: str = "max", metric: str | None = None, pairs: int | None = None
) -> list[dict]:
    """One row per (pair of finished runs, judged run) where the pair's loss line predicted: d, how far the pair
    moved, the prediction, how far the shipped interval reaches beyond its band (a run held at the reach's edge),
    the judged run's distance from the pair in their loss (`z`), and the final. `pairs`: a seeded sample of that many
    pairs, each judging at most `JUDGED_PER_SAMPLED_PAIR` runs (else every pair, every other run)."""
    rows, rng = [], np.random.default_rng(0)
    every = list(itertools.combinations(range(len(curves)), 2))
    chosen = every if pairs is None else [every[k] for k in rng.permutation(len(every))[:pairs]]
    for i, j in chosen:
        finished = [curves[i], curves[j]]
        judged = [c for k, c in enumerate(curves) if k not in (i, j)]
        if pairs is not None and len(judged) > JUDGED_PER_SAMPLED_PAIR:
            judged = [judged[k] for k in rng.permutation(len(judged))[:JUDGED_PER_SAMPLED_PAIR]]
        prediction = (
            get_predictor("auto", mode=mode, metric=metric).fit(finished).predict([c.upto(AT) for c in judged], at=AT)
        )
        if not prediction.predicted or prediction.follows is None:  # only a loss's line predicts from 2 runs
            continue
        d = abs(final_value(curves[i]) - final_value(curves[j]))
        moved = signal.finished_move(finished, AT)
        shipped = signal.two_run_half_width(d, moved)
        loss = extra_features(finished, AT, [prediction.follows])[:, 0]
        z = (extra_features(judged, AT, [prediction.follows])[:, 0] - loss.mean()) / (np.ptp(loss) / 2)
        for curve, mean, lower, upper, distance in zip(
            judged, prediction.mean, prediction.lower, prediction.upper, z, strict=True
        ):
            rows.append(
                {
                    "set": name,
                    "d": d,
                    "moved": moved,
                    "mean": mean,
                    "below": mean - shipped - lower,
                    "above": upper - mean - shipped,
                    "z": distance,
                    "final": final_value(curve),
                }
            )
    return rows


def image_error_rows(pairs: int | None) -> list[dict]:
    """`pair_rows` of the image classifiers' error pools (`zero_shot_error.load_pools`), 5-7 epochs pooled as
    `image-D` / `cifar-D` and 8-10 as `image-RO` / `cifar-RO`; pairs never mix two pools."""
    from zero_shot_error import load_pools

    rows = []
    for score, short in (("imagenet1k_acc1", "image"), ("cifar10_mean_per_class_recall", "cifar")):
        for pool, curves in load_pools(score, AT).items():
            name = f"{short}-{'D' if 'design' in pool else 'RO'}"
            rows += pair_rows(name, curves, mode="min", metric="value", pairs=pairs)
    return rows


def coverage(table: pd.DataFrame, band: float, share: float) -> tuple[pd.Series, pd.Series]:
    """(inside, width) of every row with the band +- max(band x d, share x moved), clipped into [0, 1]."""
    half = np.maximum(band * table.d, share * table.moved)
    lower = np.clip(table["mean"] - half - table.below, 0.0, 1.0)
    upper = np.clip(table["mean"] + half + table.above, 0.0, 1.0)
    return (lower <= table.final) & (table.final <= upper), upper - lower


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, nargs="*", default=[], help="recorded twins, pooled as the set 'twins'")
    parser.add_argument("--curves", action="append", default=[], help="FILE:IDS (IDS: even, odd or all)")
    parser.add_argument("--design", action="append", default=[], help="a set name whose d fifths are pooled")
    parser.add_argument("--band", type=float, nargs="+", default=[1.0, 0.75, 0.6, 0.5])
    parser.add_argument("--share", type=float, nargs="+", default=[0.0, 0.2, 0.25, 0.3])
    parser.add_argument(
        "--pairs", type=int, default=None, help="a seeded sample of pairs per set, a fifth per twin (default: every)"
    )
    parser.add_argument("--image-error", action="store_true", help="add the image classifiers' error pools")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for run_dir in args.twin:  # each twin is its own study: pairs never mix two studies' runs
        rows += pair_rows("twins", twin_curves(run_dir), pairs=None if args.pairs is None else args.pairs // 5)
    for spec in args.curves:
        path, _, ids = spec.rpartition(":")
        rows += pair_rows(f"{Path(path).stem}:{ids}", design_curves(Path(path), 0.0, ids=ids), pairs=args.pairs)
    if args.image_error:
        rows += image_error_rows(args.pairs)
    table = pd.DataFrame(rows)
    sets = list(dict.fromkeys(table["set"]))
    design = table[table["set"].isin(args.design)]
    fifths = pd.qcut(design.d, 5, labels=False) if len(design) else None
    print(f"judged runs per set: {table.groupby('set', sort=False).size().to_dict()}")
    print(f"| band x d | floor x moved | {' | '.join(sets)} | design sets, by fifth of d (closest first) |")
    print("|---|---|" + "---|" * (len(sets) + 1))
    for band, share in itertools.product(args.band, args.share):
        inside, width = coverage(table, band, share)
        cells = [f"{inside[table['set'] == s].mean():.2f} ({width[table['set'] == s].mean():.2f})" for s in sets]
        by_fifth = "n/a"
        if fifths is not None:
            by_fifth = " / ".join(f"{v:.2f}" for v in inside[design.index].groupby(fifths).mean())
        print(f"| {band} | {share} | {' | '.join(cells)} | {by_fifth} |")
    inside, _ = coverage(table, signal.TWO_RUN_BAND, signal.MOVED_SHARE)
    distance = pd.cut(
        table.z.abs(), [0, 1, 2, 4, np.inf], include_lowest=True, labels=["within 1", "1-2", "2-4", "beyond 4"]
    )
    by_distance = inside.groupby([table["set"], distance], observed=False).agg(["mean", "size"])
    print(
        f"\nthe shipped band ({signal.TWO_RUN_BAND:g} x d, floor {signal.MOVED_SHARE:g} x moved) by the judged loss's "
        "distance from the pair's mean, in half their range"
    )
    print("| set | " + " | ".join(f"{b} (runs)" for b in distance.cat.categories) + " |")
    print("|---|" + "---|" * len(distance.cat.categories))
    for name in sets:
        cells = [
            f"{by_distance.loc[(name, b), 'mean']:.2f} ({by_distance.loc[(name, b), 'size']})"
            for b in distance.cat.categories
        ]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
