"""Replay the default job's pruning-off twin on recorded curves, offline (seconds, no training).

The twin runs 10 trials (round 31; 8 before: `--trials 8` reproduces rounds 6-30), 2 at a time, each judged
at 20% by `auto` from the runs finished so far and each run to its final: trial k is judged with 2 x (k // 2)
finished runs (0, 0, 2, 2, 4, 4, 6, 6, 8, 8), as the twins on this machine were, each prediction held between
those made before as the job's evaluator shows it (`judged_order`, round 36; `--no-hold`: as fitted). It measures,
over the trials that got a predicted final: how many, Spearman of predicted vs final, finals inside their 80%
interval, and what predicted them. Three sources:

- (default) random twins of `--trials` trials drawn from `benchmarks/data/lora_curves.csv` (the design half only:
  even trial ids, issue 10 item 6), kept at the job's evaluation points (20%, 60%, 100%);
- `--curves benchmarks/data/lora_curves_fresh.csv --all-trials`: the same from another recorded set, every
  trial (the fresh set is report-only whole; its evaluations at 0.2 and 1.0 are kept: no 0.6 there);
- `--curves benchmarks/data/lora_curves_job.csv` (round 30): curves recorded in the job's own space and budget
  (learning rate 1e-3 to 6e-3, no warm-up, 15 steps, finals on 48 products), even ids; `--odd-ids` the
  report-only half;
- `--pool DIR [DIR ...]`: random twins drawn from the complete trials of these recorded studies;
- `--twin DIR [DIR ...]`: each recorded twin in its own trial order, one table row per study (the figure a
  twin reports when run with the predictor of this tree), written to `--out-csv` as well.

    .venv/bin/python benchmarks/default_job_replay.py [--replays 100] [--min-lr 0]
    .venv/bin/python benchmarks/default_job_replay.py --curves benchmarks/data/lora_curves_fresh.csv --all-trials \
        --min-lr 1e-3
    .venv/bin/python benchmarks/default_job_replay.py --pool runs/bench-default-job-s{0,1,2,3,4,5}-off
    .venv/bin/python benchmarks/default_job_replay.py --twin runs/bench-default-job-s{3,4,5}-off --out-csv F.csv

`--concurrent 1` replays any of them as if the trials had run one at a time (trial k judged with all k before it
finished; round 54), as `search.max_concurrent_trials: 1` runs them. `--band LOW HIGH` (random twins) adds a table of
the replays by the share of their predicted trials' finals within [LOW, HIGH] (round 58: `--curves
benchmarks/data/lora_curves_job72.csv --all-trials --replays 400 --band 0.50 0.57`).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from scipy import stats

from foretune.keys import JOURNAL_NAME
from foretune.predictors import AutoPredictor, Curve
from foretune.predictors.calibration import clip_to_bounds
from foretune.predictors.judged_order import shown_prediction
from foretune.search.storage import find_study_name, journal_path, open_storage, read_optuna_study

CURVES = Path(__file__).parent / "data" / "lora_curves.csv"
JOB_FRACTIONS = (0.2, 0.6, 1.0)
TRIALS, CONCURRENT, AT = 10, 2, 0.2  # the job's trials (configs/default.yaml), slots, judgement
HOLD_IN_ORDER = True  # `judged_order` (round 36); False replays the predictions before it
SIDE_BY_SIDE = CONCURRENT  # trials side by side in the replayed twin (`--concurrent`)
# `--band`'s bins of the share of a replay's predicted finals within the band (round 58's table)
BAND_BINS = ((0.0, 0.35, "under 35%"), (0.35, 0.55, "35-55%"), (0.55, 0.75, "55-75%"), (0.75, 1.01, "75% or more"))


def design_curves(path: Path, min_lr: float, *, ids: str = "even") -> list[Curve]:
    """The accuracy curves of the `ids` ("even": the design half, "odd": the report-only half, "all") at the
    job's evaluation points that the set has (0.2 and 1.0 at least), eval and train loss as extras."""
    table = pd.read_csv(path)
    kept = {"even": table.trial % 2 == 0, "odd": table.trial % 2 == 1, "all": table.trial >= 0}[ids]
    table = table[kept & table.fraction.round(3).isin(JOB_FRACTIONS)]
    curves = []
    for trial, rows in table.groupby("trial"):
        if rows.learning_rate.iloc[0] < min_lr or not {AT, 1.0} <= set(rows.fraction.round(3)):
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


def predicted_by(weights: dict[str, float]) -> str:
    """What predicted a final, from `AutoPredictor.weights_`: the metric of a line, else the rule's name."""
    name = max(weights, key=weights.get)
    return name.removeprefix("signal:")


def replay(order: list[Curve]) -> list[tuple[int, float, float, float, float, str, float]]:
    """(finished runs, predicted, lower, upper, final, predicted by, eval loss at 20%) of every trial of one twin
    that got a predicted final, clipped into [0, 1] as the job's evaluator clips an accuracy."""
    rows, held = [], []
    for k, trial in enumerate(order):
        finished = order[: SIDE_BY_SIDE * (k // SIDE_BY_SIDE)]
        auto = AutoPredictor(mode="max").fit(finished)
        prediction = clip_to_bounds(auto.predict([trial.upto(AT)], at=AT), (0.0, 1.0))
        if HOLD_IN_ORDER:  # as the job's evaluator shows it: held between the predictions shown before
            prediction, judged = shown_prediction(trial, prediction, held, mode="max", at=AT)
            held += [] if judged is None else [judged]
        if prediction.predicted:
            mean, lower, upper = prediction.mean[0], prediction.lower[0], prediction.upper[0]
            loss = float(trial.upto(AT).extras.get("eval_loss", [np.nan])[-1])
            rows.append((len(finished), mean, lower, upper, trial.final, predicted_by(auto.weights_), loss))
    return rows


def rank_agreement(rows: list[tuple], *, by_loss: bool = False) -> float | None:
    """Spearman of predicted vs final over a twin's predicted trials (None below 3, or where either is flat);
    `by_loss`: of minus the eval loss at 20% vs final over the same trials (what the predictions start from)."""
    predicted, final = [-r[6] if by_loss else r[1] for r in rows], [r[4] for r in rows]
    if len(rows) < 3 or np.ptp(predicted) <= 0 or np.ptp(final) <= 0:
        return None
    return float(stats.spearmanr(predicted, final).statistic)


def study_row(run_dir: Path) -> dict:
    """One recorded twin replayed in its own order: the row of the per-study table."""
    curves = twin_curves(run_dir)
    rows = replay(curves)
    rho = rank_agreement(rows)
    by = Counter(r[5] for r in rows)
    return {
        "study": str(run_dir),
        "complete": len(curves),
        "predicted": len(rows),
        "spearman": None if rho is None else round(rho, 2),
        "inside": int(sum(lo <= final <= up for _, _, lo, up, final, *_ in rows)),
        "by": ", ".join(f"{name} {n}" for name, n in sorted(by.items())),
    }


def per_study(dirs: list[Path], out_csv: Path | None) -> None:
    table = pd.DataFrame([study_row(d) for d in dirs])
    print("| study | complete | predicted | predicted vs final Spearman | finals inside 80% interval | by |")
    print("|---|---|---|---|---|---|")
    for row in table.itertuples():
        rho = "n/a" if pd.isna(row.spearman) else f"{row.spearman:.2f}"
        print(
            f"| {row.study} | {row.complete} | {row.predicted} | {rho} | {row.inside} of {row.predicted} | {row.by} |"
        )
    if out_csv is not None:
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_csv, index=False)
        print(f"wrote {out_csv}")


def band_table(shares: np.ndarray, spearmans: np.ndarray, band: tuple[float, float]) -> None:
    """Replays by the share of their predicted trials' finals within `band` (round 58: where a set's finals crowd
    within a resampling sd or two, neither the predictions nor the eval loss can order them)."""
    low, high = band
    print(f"| finals in {low:g}-{high:g} | replays | at 0.8 or more | mean |")
    print("|---|---|---|---|")
    for lo, hi, label in BAND_BINS:
        kept = (shares >= lo) & (shares < hi)
        at = f"{np.mean(spearmans[kept] >= 0.8 - 1e-9):.0%}" if kept.any() else "n/a"
        mean = f"{spearmans[kept].mean():.2f}" if kept.any() else "n/a"
        print(f"| {label} | {int(kept.sum())} | {at} | {mean} |")


def random_twins(
    curves: list[Curve], replays: int, seed: int, source: str, trials: int = TRIALS, band: tuple | None = None
) -> None:
    rng = np.random.default_rng(seed)
    spearmans, by_loss, counts, inside, by_finished, by = [], [], [], [], defaultdict(list), Counter()
    shares = []  # per replay with a Spearman: the share of its predicted trials' finals within `band`
    for _ in range(replays):
        rows = replay([curves[i] for i in rng.permutation(len(curves))[:trials]])
        counts.append(len(rows))
        for finished, _mean, lower, upper, final, name, _loss in rows:
            inside.append(lower <= final <= upper)
            by_finished[finished].append((lower <= final <= upper, upper - lower))
            by[name] += 1
        rho, loss_rho = rank_agreement(rows), rank_agreement(rows, by_loss=True)
        if rho is not None and loss_rho is not None:
            spearmans.append(rho)
            by_loss.append(loss_rho)
            finals = np.array([r[4] for r in rows])
            shares.append(np.mean((finals >= band[0]) & (finals <= band[1])) if band else np.nan)
    spearmans, by_loss = np.array(spearmans), np.array(by_loss)
    print(f"{len(curves)} curves ({source}, {replays} replays) of {trials} trials a twin")
    print(f"trials with a predicted final per replay: mean {np.mean(counts):.2f} (by: {dict(sorted(by.items()))})")
    print(
        f"predicted vs final Spearman: median {np.median(spearmans):.2f}, mean {spearmans.mean():.2f}, "
        f">= 0.8 in {np.mean(spearmans >= 0.8 - 1e-9):.0%} of {len(spearmans)} replays"
    )
    print(
        f"  the eval loss at 20% over the same trials: median {np.median(by_loss):.2f}, mean {by_loss.mean():.2f}, "
        f">= 0.8 in {np.mean(by_loss >= 0.8 - 1e-9):.0%}"
    )
    print(f"finals inside their 80% interval: {np.mean(inside):.0%} of {len(inside)}")
    for finished in sorted(by_finished):
        cover, width = zip(*by_finished[finished], strict=True)
        print(f"  judged with {finished} finished: coverage {np.mean(cover):.0%}, mean width {np.mean(width):.2f}")
    if band:
        band_table(np.array(shares), spearmans, band)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=100)
    parser.add_argument("--min-lr", type=float, default=0.0, help="design curves: only this learning rate or above")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--trials", type=int, default=TRIALS, help="random twins: trials a twin (the job: 10; 8 before round 31)"
    )
    sources = parser.add_mutually_exclusive_group()
    sources.add_argument("--twin", type=Path, nargs="+", help="replay each recorded twin in its order: one row each")
    sources.add_argument("--pool", type=Path, nargs="+", help="draw random twins from these studies' complete trials")
    parser.add_argument("--out-csv", type=Path, help="with --twin: also write the per-study table here")
    parser.add_argument("--curves", type=Path, default=CURVES, help="the recorded curve set random twins come from")
    halves = parser.add_mutually_exclusive_group()
    halves.add_argument("--all-trials", action="store_true", help="every trial of --curves, not the even ids only")
    halves.add_argument("--odd-ids", action="store_true", help="the odd ids of --curves (report-only), not the even")
    parser.add_argument(
        "--no-hold", action="store_true", help="predictions as fitted, not held in order (before round 36)"
    )
    parser.add_argument(
        "--concurrent", type=int, default=CONCURRENT, help="trials side by side (the job: 2; 1: one at a time)"
    )
    parser.add_argument(
        "--band",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="random twins: also tabulate replays by the share of their finals within [LOW, HIGH] (round 58)",
    )
    args = parser.parse_args()
    if args.band is not None and not args.band[0] < args.band[1]:
        parser.error(f"--band needs LOW < HIGH, got {args.band[0]:g} {args.band[1]:g}")
    if args.band is not None and args.twin:
        parser.error("--band goes with random twins (--curves or --pool), not --twin")
    if args.concurrent < 1:
        parser.error(f"--concurrent must be 1 or more, got {args.concurrent}")
    global HOLD_IN_ORDER, SIDE_BY_SIDE
    SIDE_BY_SIDE = args.concurrent
    HOLD_IN_ORDER = not args.no_hold
    if args.out_csv is not None and not args.twin:
        parser.error("--out-csv goes with --twin")
    missing = [str(d) for d in args.twin or args.pool or [] if not (d / JOURNAL_NAME).is_file()]
    if missing:
        parser.error(f"no {JOURNAL_NAME} in {', '.join(missing)}: give twins' run folders (runs/...-off)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.twin:
        per_study(args.twin, args.out_csv)
    elif args.pool:
        curves = [c for d in args.pool for c in twin_curves(d)]
        source = f"complete trials of {len(args.pool)} studies"
        random_twins(curves, args.replays, args.seed, source, args.trials, args.band)
    else:
        ids = "all" if args.all_trials else "odd" if args.odd_ids else "even"
        named = {"all": "every trial", "odd": "REPORT-ONLY curves (odd ids)", "even": "design curves (even ids)"}
        source = f"{args.curves.name}, {named[ids]}"
        curves = design_curves(args.curves, args.min_lr, ids=ids)
        random_twins(curves, args.replays, args.seed, source, args.trials, args.band)


if __name__ == "__main__":
    main()
