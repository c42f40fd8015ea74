"""The default job's replay with metrics a training loop logs that say nothing of the final: does the verdict hold?

A user's own training code (`foretune.optimize`, `--trainable`) reports whatever it logs beside its losses:
nanoGPT's `lr` and `mfu`, Lightning's `lr-AdamW` and `grad_norm`, a throughput, the epoch. `learned` reads every
extra metric every run reports as a feature (`_learned.extra_names`), so each is a column its Gaussian process
must learn to ignore from 8-20 finished runs. Each row adds some of these to every recorded curve of the job set
and replays the job's twin protocol (`default_job_replay.replay`, as `renamed_losses.py`):

- `lr`: the schedule's value, the trial's learning rate times (1 - fraction): a copy of a hyperparameter;
- `grad_norm`: log-normal noise at every point (sd 0.5 in log), nothing to do with the run;
- `tokens_per_second`: a per-run constant (the node it ran on, sd 0.1 in log) with 2% noise per point;
- `epoch`: the fraction times 3, the same in every run.

Noise is seeded by trial id, so a trial reports the same values in every twin it is drawn into.

    .venv/bin/python benchmarks/unrelated_metrics.py [--replays 150]

Sets: random twins of the job set's even (design) and odd (report-only) ids, as `renamed_losses.py`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
from renamed_losses import JOB_CURVES, row, twin_sets

from foretune.predictors import Curve

# The replayed curves carry no hyperparameters (`default_job_replay.design_curves`): the set's file has them.
LEARNING_RATES = pd.read_csv(JOB_CURVES).groupby("trial").learning_rate.first()


def _lr(c: Curve) -> np.ndarray:
    return float(LEARNING_RATES[c.trial]) * (1.0 - c.fractions)


def _grad_norm(c: Curve) -> np.ndarray:
    return np.exp(np.random.default_rng([int(c.trial), 1]).normal(0.0, 0.5, len(c.fractions)))


def _tokens_per_second(c: Curve) -> np.ndarray:
    rng = np.random.default_rng([int(c.trial), 2])
    return 5000.0 * np.exp(rng.normal(0.0, 0.1)) * (1.0 + rng.normal(0.0, 0.02, len(c.fractions)))


def _epoch(c: Curve) -> np.ndarray:
    return 3.0 * c.fractions


UNRELATED: dict[str, Callable[[Curve], np.ndarray]] = {
    "lr": _lr,
    "grad_norm": _grad_norm,
    "tokens_per_second": _tokens_per_second,
    "epoch": _epoch,
}
ROWS = [(), ("lr",), ("grad_norm",), ("tokens_per_second",), ("epoch",), tuple(UNRELATED)]


def with_metrics(curves: list[Curve], names: tuple[str, ...]) -> list[Curve]:
    """`curves` also reporting each of `names` (`UNRELATED`) at every point."""
    return [replace(c, extras={**c.extras, **{n: UNRELATED[n](c) for n in names}}) for c in curves]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sets = {k: v for k, v in twin_sets(args.replays, args.seed).items() if k.startswith("job set")}
    table, first = [], {}
    for names in ROWS:
        for label, orders in sets.items():
            start = time.perf_counter()
            figures, predicted = row(orders, lambda order, names=names: with_metrics(order, names))
            first.setdefault(label, predicted)  # every row's predictions against the losses-only row's
            figures["max |moved|"] = round(float(np.abs(predicted - first[label]).max()), 4)
            table.append({"set": label, "also reported": " + ".join(names) or "(losses only)", **figures})
            print(f"{label}, {names}: {time.perf_counter() - start:.0f} s", flush=True)
    print(pd.DataFrame(table).to_string(index=False))


if __name__ == "__main__":
    main()
