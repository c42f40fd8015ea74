"""Where the default job's predictions err: by the judged run's eval loss against the finished runs' range (round 33).

Replays recorded twins (`--twin`, each in its own order) and random twins of the job set's design ids as
`default_job_replay.py` does, and prints the mean error (predicted minus final) by how many runs had finished and
where the judged run's eval loss at 20% lay: its position in the finished runs' range (0 the best, 1 the worst;
below 0 a better loss than any finished run). With `--power P` every loss is raised to P before the replay (P = 2:
a line in the squared loss, a concave map) and the twins' figures are printed for it.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/line_errors.py --twin runs/bench-default-job-s*-off \\
        [--replays 150] [--power 2]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from default_job_replay import AT, TRIALS, design_curves, rank_agreement, twin_curves
from default_job_replay import replay as replay_twin

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


def summary(replayed: list[list[tuple]], label: str) -> str:
    """Share of twins whose predicted vs final reaches 0.8, and of finals inside their interval."""
    rhos = [rho for rows in replayed if (rho := rank_agreement(rows)) is not None]
    inside = [lower <= final <= upper for rows in replayed for _, _, lower, upper, final, *_ in rows]
    return f"{label}: twins >= 0.8 {np.mean(np.array(rhos) >= 0.8 - 1e-9):.0%}, finals inside {np.mean(inside):.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", type=Path, nargs="+", required=True)
    parser.add_argument("--replays", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--power", type=float, default=None, help="also replay with every loss raised to this power")
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


if __name__ == "__main__":
    main()
