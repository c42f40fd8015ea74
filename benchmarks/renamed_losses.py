"""The default job's replay with its held-out loss renamed: is the verdict the same whatever a trainer calls it?

transformers reports `eval_loss`; Lightning and Keras `val_loss`; loggers `val/loss` or `loss/val`. Each name
given replaces `eval_loss` in every recorded curve (a perplexity's name, `val_ppl`, with exp of its values; the
train loss stays `train_loss`), and the job's twin protocol is replayed (`default_job_replay.replay`: 10 trials, 2
at a time, each judged at 20% by `auto` from the runs finished so far, held in order). One row per set and name: the
share of twins whose predicted finals rank their finals at Spearman >= 0.8 (issue 10's job target), the mean,
finals inside their 80% interval, MAE. With a tree that reads the names alike, every loss name's row equals
`eval_loss`'s, and a perplexity's is close to it (round 37, benchmarks/results/verdict.md). Names joined by "+" report
the eval loss under each (`eval_loss+eval_ppl`: a loss and its perplexity side by side, round 38; `eval_loss+eval_bpb`:
the loss in nats and in bits, round 39; `eval_loss+eval_rmse`: a regression's MSE loss and its root, round 40). The
last column: how far each name's predictions moved from the first name's.

    .venv/bin/python benchmarks/renamed_losses.py --names eval_loss val_loss loss/val val_ppl [--replays 150]

Sets: the recorded twins 18-65 (`runs/bench-default-job-s*-off`, where present) and random twins of the job set's
even (design) and odd (report-only) ids. 3-4 minutes a name on a 2-core VM (round 37, two runs side by side).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from default_job_replay import TRIALS, design_curves, rank_agreement, replay, twin_curves

from foretune.predictors import Curve
from foretune.predictors.metric_names import name_words

JOB_CURVES = Path(__file__).parent / "data" / "lora_curves_job.csv"
RUNS = Path(__file__).parent.parent / "runs"


def renamed(curves: list[Curve], names: str) -> list[Curve]:
    """`curves` with `eval_loss` reported under each of `names` ("+"-joined: "eval_loss+eval_ppl" reports both), in
    its place; a perplexity's name (`val_ppl`) gets exp(eval loss), a name in bits (`val_bpb`) the loss over ln 2, a
    root mean squared error's (`eval_rmse`) its square root, as if the loss were a regression's MSE."""

    def values(name: str, loss: np.ndarray) -> np.ndarray:
        unit = name_words(name)[-1]
        if unit in ("bpb", "bpc"):
            return np.asarray(loss) / np.log(2)  # in bits (a tokens-per-byte ratio would scale it alike)
        if unit in ("rmse", "rmsle"):
            return np.sqrt(loss)
        return np.exp(loss) if unit in ("ppl", "perplexity") else np.asarray(loss)

    def extras(c: Curve) -> dict[str, np.ndarray]:
        out = {}
        for key, value in c.extras.items():
            out |= {name: values(name, value) for name in names.split("+")} if key == "eval_loss" else {key: value}
        return out

    return [replace(c, extras=extras(c)) for c in curves]


def twin_sets(replays: int, seed: int) -> dict[str, list[list[Curve]]]:
    dirs = [RUNS / f"bench-default-job-s{s}-off" for s in range(18, 66)]
    found = [d for d in dirs if (d / "study.journal").exists()]
    sets = {f"recorded twins ({len(found)})": [twin_curves(d) for d in found]} if found else {}
    rng = np.random.default_rng(seed)
    for ids, role in (("even", "design"), ("odd", "report-only")):
        curves = design_curves(JOB_CURVES, 0.0, ids=ids)
        draws = [[curves[i] for i in rng.permutation(len(curves))[:TRIALS]] for _ in range(replays)]
        sets[f"job set {ids} ids ({role}, {replays} twins)"] = draws
    return sets


def row(orders: list[list[Curve]], reported: Callable[[list[Curve]], list[Curve]]) -> tuple[dict, np.ndarray]:
    """The twin figures of `orders`, each replayed as `reported` changes its curves; and every prediction made."""
    rhos, rows = [], []
    for order in orders:
        replayed = replay(reported(order))
        rhos.append(rank_agreement(replayed))
        rows += replayed
    rho = np.array([r for r in rhos if r is not None])
    predicted, lower, upper, final = (np.array([r[i] for r in rows]) for i in (1, 2, 3, 4))
    return {
        ">= 0.8": f"{np.mean(rho >= 0.8 - 1e-9):.0%}",
        "mean Spearman": round(float(rho.mean()), 3),
        "finals inside": f"{np.mean((lower <= final) & (final <= upper)):.0%}",
        "MAE": round(float(np.abs(predicted - final).mean()), 4),
        "predictions": len(rows),
    }, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="+", default=["eval_loss", "val_loss", "loss/val", "val_ppl"])
    parser.add_argument("--replays", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sets, table, first = twin_sets(args.replays, args.seed), [], {}
    for name in args.names:
        for label, orders in sets.items():
            start = time.perf_counter()
            figures, predicted = row(orders, partial(renamed, names=name))
            first.setdefault(label, predicted)  # every name's predictions against the first name's
            moved = np.abs(predicted - first[label]) if len(predicted) == len(first[label]) else np.array([np.nan])
            figures["max |moved| vs first name"] = float(np.nanmax(moved)) if np.isfinite(moved).any() else np.nan
            table.append({"set": label, "held-out loss named": name, **figures})
            print(f"{label}, {name}: {time.perf_counter() - start:.0f} s", flush=True)
    print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
