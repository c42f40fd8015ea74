"""The cold-2 band of a loss objective, narrowed by what the two finished runs show (round 33; no change made).

With 1-2 finished runs a loss objective is predicted by the shipped prior moved toward the runs' own change
(`foretune.predictors.prior.prior_shifted`); its band keeps the prior's width (about 1.0 in log(final / early) at
20%), which covers 94-100% of finals on most sets. This script asks whether the two runs can narrow it: for each
set it draws studies as `cold_warm.py` does (20 draws of <= 50 runs, the first 2 finished, the rest judged), keeps
the judgements the prior made, and rescales each band in log space by clip(`a` x r / h, `b`, 1), where h is the
band's half width and r either the two runs' largest error after the move (`rmax`) or the difference of their
errors (`spread`). Printed: the coverage per set (mean over draws) for the shipped band and each (rule, a, b), and
where the finals sit in the shipped band.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/two_run_loss_band.py [--scan-bench]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd
from cold_warm import complete_runs
from predictors import DESIGN_VLM_EPOCHS, load_groups

from foretune.predictors import AutoPredictor
from foretune.predictors._base import final_value
from foretune.predictors.io import read_curves
from foretune.predictors.prior import prior_predict, shrunk_log_move

AT, REPEATS, SIZE = 0.2, 20, 50
# (set, file, loss column, trial ids kept: None all, 0 even, 1 odd); D = design, RO = report-only.
LONG_SETS = [
    ("replay RO", "tests/data/replay_curves.csv", "val_loss", None),
    ("lora even D", "benchmarks/data/lora_curves.csv", "eval_loss", 0),
    ("lora odd RO", "benchmarks/data/lora_curves.csv", "eval_loss", 1),
    ("job even D", "benchmarks/data/lora_curves_job.csv", "eval_loss", 0),
    ("job odd RO", "benchmarks/data/lora_curves_job.csv", "eval_loss", 1),
    ("fresh RO", "benchmarks/data/lora_curves_fresh.csv", "eval_loss", None),
    ("ae110k RO", "benchmarks/data/lora_curves_ae110k.csv", "eval_loss", None),
    ("oamine RO", "benchmarks/data/lora_curves_oamine.csv", "eval_loss", None),
]


def curve_sets(scan_bench: bool) -> dict[str, dict[str, list]]:
    sets = {}
    for name, path, column, parity in LONG_SETS:
        curves = read_curves(path, value_col=column, extra_cols=[])
        sets[name] = {name: [c for c in curves if parity is None or int(c.trial) % 2 == parity]}
    if scan_bench:
        groups = load_groups(AT)
        design = {f"vlm-{epochs}ep" for epochs in DESIGN_VLM_EPOCHS}
        sets["vlm D"] = {k: v for k, v in groups.items() if k in design}
        sets["vlm RO"] = {k: v for k, v in groups.items() if k.startswith("vlm") and k not in design}
        sets["llm D"] = {k: v for k, v in groups.items() if k.startswith("llm")}
    return sets


def judgements(sets: dict[str, dict[str, list]]) -> pd.DataFrame:
    """One row per judged run where the prior predicted from 2 finished runs: its band, its final, and the two
    runs' log errors after the move (largest, and their difference)."""
    rows = []
    for name, pools in sets.items():
        for p, (pool, curves) in enumerate(pools.items()):
            runs = complete_runs(curves, AT)
            for draw in range(REPEATS):
                rng = np.random.default_rng([0, p, draw])
                study = [runs[i] for i in rng.permutation(len(runs))[:SIZE]]
                finished, judged = study[:2], study[2:]
                auto = AutoPredictor(mode="min").fit(finished)
                prediction = auto.predict([c.upto(AT) for c in judged], at=AT)
                if not prediction.predicted or auto.weights_ != {"prior": 1.0}:
                    continue
                early = [c.upto(AT) for c in finished]
                on_finished = prior_predict(early, AT, mode="min", study=[*finished, *judged])
                errors = np.log([final_value(c) for c in finished]) - np.log(on_finished.mean)
                residuals = errors - shrunk_log_move(errors)  # what `prior_shifted`'s move leaves
                bands = zip(judged, prediction.mean, prediction.lower, prediction.upper, strict=True)
                for curve, mean, lower, upper in bands:
                    rows.append(
                        {
                            "set": name,
                            "pool": pool,
                            "draw": draw,
                            "final": final_value(curve),
                            "mean": mean,
                            "lower": lower,
                            "upper": upper,
                            "rmax": float(np.abs(residuals).max()),
                            "spread": float(abs(errors[0] - errors[1])),
                        }
                    )
    return pd.DataFrame(rows)


def log_band(table: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """The judgements' (centre, lower end, upper end, final), in log space."""
    return np.log(table["mean"]), np.log(table.lower), np.log(table.upper), np.log(table.final)


def coverage(table: pd.DataFrame, factor: np.ndarray) -> pd.Series:
    """Per set, the mean over draws of the share of finals inside the band scaled by `factor` in log space."""
    mean, lower, upper, final = log_band(table)
    inside = (mean - factor * (mean - lower) <= final) & (final <= mean + factor * (upper - mean))
    return inside.groupby([table.set, table.pool, table.draw]).mean().groupby(level=0).mean()


def band_positions(table: pd.DataFrame) -> pd.Series:
    """Each final's place in its shipped band, in log space: its distance from the centre over that side's width."""
    mean, lower, upper, final = log_band(table)
    return pd.Series(np.where(final < mean, (final - mean) / (mean - lower), (final - mean) / (upper - mean)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan-bench", action="store_true", help="also the scan-bench vlm and llm pools (slow)")
    args = parser.parse_args()
    table = judgements(curve_sets(args.scan_bench))
    _, lower, upper, _ = log_band(table)
    half = (upper - lower) / 2
    columns = {"shipped": coverage(table, np.ones(len(table)))}
    for rule, a, b in itertools.product(("rmax", "spread"), (1.0, 1.5, 2.0, 3.0), (0.3, 0.5, 0.7)):
        columns[f"{rule} a={a:g} b={b:g}"] = coverage(table, np.clip(a * table[rule] / half, b, 1.0))
    print(f"judged runs per set: {table.groupby('set').size().to_dict()}")
    print(pd.DataFrame(columns).T.round(2).to_string())
    print("where finals sit in the shipped band (log space; -1 its lower end, 0 its centre, +1 its upper end):")
    print(band_positions(table).groupby(table.set).describe(percentiles=[0.1, 0.5, 0.9]).round(2).to_string())


if __name__ == "__main__":
    main()
