"""Image-classification error curves no choice was made on: the verdict where the issue's unseen set lives.

The issue's unseen curves are an image classifier's error per run (lower is better) in the long format
`trial, fraction, value`. scan-bench's OpenCLIP runs (`../shared/data/learning-curves/scan-bench/vlm.csv`, read in
place, CC BY-SA 4.0) record beside their val_loss, at every epoch, zero-shot ImageNet-1k top-1 accuracy and CIFAR-10
mean per-class recall: 1 - those is an image classifier's error on every run and every epoch. No round used these
columns before this script (round 44); they were chosen, with what is reported, before any was read:
- error = 1 - `imagenet1k_acc1` (primary) and 1 - `cifar10_mean_per_class_recall`, under the bare name `value`,
  minimized, as a user's table would name it; the run's val_loss and train_loss as extra metric columns; the
  hyperparameters as `benchmarks/predictors.py` gives them (VLM_PARAMS).
- pools by total epochs, complete runs that did not diverge (as `predictors.py`'s vlm pools), 5 to 10 epochs (a point
  at <= 20%): the runs of 8-10 epochs were never used for any choice (report-only); the runs of 5-7 epochs shaped the
  cold prior and the predictors, but through their val_loss only (their errors are as unseen).
- the protocol of `cold_warm.py` (20 draws of <= 50 runs per pool, seed 0; cold-0, cold-2, cold-5 and warm; `auto`
  against the snapshot rule, paired), and the issue's targets.

    .venv/bin/python benchmarks/zero_shot_error.py [--repeats 20] [--metric imagenet1k_acc1] [--bare]

`--bare` gives the predictors the issue's columns only (`trial, fraction, value`: no losses, no hyperparameters).
`--ceiling` instead prints how high warm Spearman can go on the report-only pools (`warm_ceiling.py`'s estimates on
the same warm draws: the late-curve noise, and the binomial noise of a top-1 over ImageNet's 50,000 validation images
or a recall over CIFAR-10's 10,000 test images). Both were added after the first tables, to see where the gain
comes from and how far it could go; neither changed what the first tables report.

Writes the tables to stdout (markdown); results in benchmarks/results/verdict.md (round 44).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cold_warm import run, table  # noqa: E402
from predictors import DATA, VLM_PARAMS, _curves  # noqa: E402
from warm_ceiling import measure  # noqa: E402

from foretune.predictors._base import final_value  # noqa: E402
from foretune.search.report_table import markdown_table  # noqa: E402

SCORES = ("imagenet1k_acc1", "cifar10_mean_per_class_recall")
DESIGN_EPOCHS = (5, 6, 7)  # the cold prior's pools (val_loss only); 8-10 were never used for a choice
EXTRAS = {"val_loss": "val_loss", "train_loss": "train_loss"}
EVALUATED_ON = {"imagenet1k_acc1": 50_000, "cifar10_mean_per_class_recall": 10_000}  # images each score is taken on


def load_pools(score: str, at: float, *, bare: bool = False) -> dict[str, list]:
    """Per total-epochs pool: each complete, undiverged run's error (1 - `score`) per epoch, named `value`; `bare`:
    nothing else (the issue's `trial, fraction, value`), else with the hyperparameters and the two losses."""
    columns = ["config_id", "total_epochs", "training_progress", "epoch_diverged", score, *EXTRAS.values()]
    vlm = pd.read_csv(DATA / "vlm.csv", usecols=[*columns, *VLM_PARAMS], low_memory=False)
    diverged = vlm.groupby("config_id")["epoch_diverged"].transform("any")
    vlm = vlm[~diverged.astype(bool)].assign(value=lambda f: 1.0 - f[score])
    pools = {}
    for epochs, frame in vlm.groupby("total_epochs"):
        if not 5 <= epochs <= 10:
            continue
        curves = _curves(
            frame, "config_id", "training_progress", "value", [] if bare else VLM_PARAMS, None if bare else EXTRAS
        )
        curves = [
            c
            for c in curves
            if c.fractions[-1] >= 0.999 and np.isfinite(final_value(c)) and np.isfinite(c.upto(at).values).any()
        ]
        role = "design configs, unseen metric" if epochs in DESIGN_EPOCHS else "report-only"
        pools[f"vlm-{int(epochs)}ep ({role})"] = curves
    return pools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metric", choices=SCORES, action="append", help="the score whose 1 - x is the error")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--at", type=float, default=0.2)
    parser.add_argument("--ceiling", action="store_true", help="warm ceilings on the report-only pools instead")
    parser.add_argument(
        "--bare", action="store_true", help="trial, fraction, value only: no hyperparameters, no losses"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    for score in args.metric or SCORES:
        pools = load_pools(score, args.at, bare=args.bare)
        if args.ceiling:
            report_only = {name: c for name, c in pools.items() if "report-only" in name}
            spec = {"pools": report_only, "mode": "min", "metric": "value", "binomial": (EVALUATED_ON[score],)}
            found = measure(spec, at=args.at, repeats=args.repeats, size=args.size, seed=args.seed, boot=400)
            print(f"1 - {score}, report-only pools, warm draws: {found}", flush=True)
            continue
        sizes = ", ".join(f"{name.split()[0]} {len(c)}" for name, c in pools.items())
        frame = run(pools, mode="min", at=args.at, repeats=args.repeats, size=args.size, seed=args.seed, metric="value")
        for role in ("report-only", "design configs"):
            part = frame[frame["pool"].str.contains(role)]
            inputs = "value only" if args.bare else "value, val_loss, train_loss, hyperparameters"
            print(
                f"\n### 1 - {score} as `value` (min; inputs: {inputs}), pools {role}: {', '.join(sorted(set(part['pool'])))}\n"
            )
            print("Cells: snapshot rule → auto (means over draws).\n")
            print(markdown_table(table(part)))
        print(f"\nruns per pool: {sizes}; {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
