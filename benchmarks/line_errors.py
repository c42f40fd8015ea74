"""Where the default job's predictions err: by the judged run's eval loss against the finished runs' range (round 33).

Replays recorded twins (`--twin`, each in its own order) and random twins of the job set's design ids as
`default_job_replay.py` does, and prints the mean error (predicted minus final) by how many runs had finished and
where the judged run's eval loss at 20% lay: its position in the finished runs' range (0 the best, 1 the worst;
below 0 a better loss than any finished run). With `--power P` every loss is raised to P before the replay (P = 2:
a line in the squared loss, a concave map) and the twins' figures are printed for it. With `--bend START LIMIT`
(round 34) the line bends flat from START x the finished runs' range below the best one's loss, adding at most
LIMIT x slope x range beyond it (shipped: linear to 0.5 x range, then `saturating_line`'s tail), and every set's
figures are printed for it too. With `--no-fallback` (round 34) every set is also replayed where, with 2-3 finished
runs, a judged eval loss more than `TAIL_LIMIT` ranges below theirs gives no line of any loss (round 34 shipped the
train loss's line there, on another scale; round 35 ships the eval loss's tail as a ranking, no final predicted).
With `--tail-limit L [L ...]` (round 35) every set is also replayed with `TAIL_LIMIT` at each L (inf: a tail for a
loss however far below the finished runs').

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/line_errors.py --twin runs/bench-default-job-s*-off \\
        [--replays 150] [--power 2] [--bend 0 0.25] [--no-fallback] [--tail-limit 3 inf]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
from default_job_replay import AT, TRIALS, design_curves, rank_agreement, twin_curves
from default_job_replay import replay as replay_twin

import foretune.predictors._auto as auto
import foretune.predictors._signal as signal
from foretune.predictors import Curve

JOB_CURVES = Path(__file__).parent / "data" / "lora_curves_job.csv"
ZONES = [-np.inf, -1.5, -0.5, 0.0, 1.0, 1.5, np.inf]


def errors(order: list[Curve], rows: list[tuple], source: str) -> list[dict]:
    """(finished runs, position of the judged run's eval loss in their range, predicted - final) per prediction of
    `rows` (`replay`'s, of `order`)."""
    out = []
    for finished, mean, _lower, _upper, final, _by, loss in rows:
        losses = np.array([c.upto(AT).extras["eval_loss"][-1] for c in order[:finished]])
        position = (loss - losses.min()) / np.ptp(losses) if np.ptp(losses) > 0 else np.nan
        out.append({"source": source, "finished": finished, "position": position, "error": mean - final})
    return out


def powered(curves: list[Curve], power: float) -> list[Curve]:
    return [replace(c, extras={k: np.asarray(v, dtype=float) ** power for k, v in c.extras.items()}) for c in curves]


def lower_bend(start: float, limit: float) -> Callable:
    """`saturating_line` bent flat below the best finished run's loss: linear to `start` x their range below it,
    then adding at most `limit` x slope x range (a concave map at the good end; above them it is unchanged)."""
    shipped = signal.saturating_line

    def bent(x, y, at_x, reach, *, comparable=True, above=0.0):
        line = shipped(x, y, at_x, reach, comparable=comparable, above=above)
        if not comparable:
            return line
        slope = signal._spread_slope(x, y)
        edge = x.min() - start * np.ptp(x)
        beyond = edge - np.asarray(at_x, dtype=float)  # > 0: a better loss than the bend's start
        most = abs(slope) * limit * np.ptp(x)
        at_edge = float(np.mean(y)) + slope * (edge - float(np.mean(x)))
        with np.errstate(invalid="ignore", divide="ignore"):
            added = np.where(most > 0, most * -np.expm1(-abs(slope) * beyond / most), 0.0)
        return np.where(beyond > 0, at_edge + added, line)

    return bent


def replayed_with(owner: object, name: str, replacement: object, orders: list[list[Curve]]) -> list[list[tuple]]:
    """`replay_twin` of each order with `owner.name` swapped for `replacement` (a counterfactual of the shipped
    predictor)."""
    with patch.object(owner, name, replacement):
        return [replay_twin(order) for order in orders]


def no_fallback(train, curves, at, *, mode, rules):
    """`best_signal` with no line of any loss (no ranking by one either) where the eval loss is too far below the
    finished runs' (`Signal.rank_only`)."""
    chosen = signal.best_signal(train, curves, at, mode=mode, rules=rules)
    return None if chosen is not None and chosen.rank_only else chosen


def summary(replayed: list[list[tuple]], label: str) -> str:
    """Share of twins whose predicted vs final reaches 0.8 (and its mean), and of finals inside their interval."""
    rhos = [rho for rows in replayed if (rho := rank_agreement(rows)) is not None]
    inside = [lower <= final <= upper for rows in replayed for _, _, lower, upper, final, *_ in rows]
    share = np.mean(np.array(rhos) >= 0.8 - 1e-9)
    return f"{label}: twins >= 0.8 {share:.0%} (mean {np.mean(rhos):.3f}), finals inside {np.mean(inside):.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, nargs="+", required=True)
    parser.add_argument("--replays", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--power", type=float, default=None, help="also replay with every loss raised to this power")
    parser.add_argument("--bend", type=float, nargs=2, metavar=("START", "LIMIT"), help="also replay a lower bend")
    parser.add_argument("--no-fallback", action="store_true", help="also replay with no train-loss fallback (above)")
    parser.add_argument("--tail-limit", type=float, nargs="+", default=[], help="also replay at these `TAIL_LIMIT`s")
    args = parser.parse_args()
    twins = [twin_curves(d) for d in args.twin]
    rng = np.random.default_rng(args.seed)
    sets = {"twins": twins}
    for ids in ("even", "odd"):
        curves = design_curves(JOB_CURVES, 0.0, ids=ids)
        sets[f"job {ids}"] = [[curves[i] for i in rng.permutation(len(curves))[:TRIALS]] for _ in range(args.replays)]
    replayed = {name: [replay_twin(order) for order in orders] for name, orders in sets.items()}
    table = pd.DataFrame(
        [
            row
            for name in ("twins", "job even")
            for order, rows in zip(sets[name], replayed[name], strict=True)
            for row in errors(order, rows, name)
        ]
    )
    table["zone"] = pd.cut(table.position, ZONES)
    print(
        table.groupby(["source", "finished", "zone"], observed=True).error.agg(["count", "mean"]).round(3).to_string()
    )
    for name, orders in sets.items():
        print(summary(replayed[name], name))
        if args.power is not None:
            powered_rows = [replay_twin(powered(order, args.power)) for order in orders]
            print(summary(powered_rows, f"{name}, losses ** {args.power:g}"))
        if args.bend is not None:
            bent_rows = replayed_with(signal, "saturating_line", lower_bend(*args.bend), orders)
            print(summary(bent_rows, f"{name}, bent below from {args.bend[0]:g} x range, at most {args.bend[1]:g}"))
        for limit in args.tail_limit:
            limited_rows = replayed_with(signal, "TAIL_LIMIT", limit, orders)
            predictions = sum(map(len, limited_rows))
            print(summary(limited_rows, f"{name}, TAIL_LIMIT {limit:g} ({predictions} predictions)"))
        if args.no_fallback:
            kept_rows = replayed_with(auto, "best_signal", no_fallback, orders)
            predictions = sum(map(len, kept_rows))
            print(
                summary(
                    kept_rows, f"{name}, no fallback ({predictions} predictions of {sum(map(len, replayed[name]))})"
                )
            )


if __name__ == "__main__":
    main()
