"""Warm starts with history: the warm draws of `benchmarks/verdict.md`'s targets table, judged again with the
finished runs of an earlier study of the same task added to the fit (issue 10, item 2a: `early_stage.history`).

The judged half of each draw and its own finished half stay exactly as in the targets table (`cold_warm.run`'s
seeds); the predictor also learns from `n` runs that are not in the study: for scan-bench, runs of the same pool
outside the draw (an earlier study of that task and search space); for the LoRA curves, the other half of the ids
(20 runs of the same task). This is what a search sees when `search.history` finds a matching earlier study (the
evaluator fits the predictor on this study's finished runs, then history: `EarlyStageEvaluator._finished_curves`).
No choice was made from it (a report of how warm quality grows with finished runs). History runs are marked
(`Curve.history`) as `search.history` marks them: `auto` calibrates its interval on the study's own runs.

The fresh LoRA set (`benchmarks/data/lora_curves_fresh.csv`, report-only whole) is judged with every run of
`lora_curves.csv` as history: another study of the same task, model and metric on other products, which
`search.history` would match. Its rows cover the cold scenarios too (0 / 2 / 5 finished of its own), the
draws of `cold_warm.run`.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/warm_history.py [--small-history | --real]

`--small-history`: only the fresh set with 2 or 4 history runs and 3-5 of its own finished (the cold paths);
`--real`: only the AE-110K set (real products, report-only whole) with every run of `lora_curves.csv` as history.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cold_warm import complete_runs, score  # noqa: E402
from warm_ceiling import file_sets, scan_sets  # noqa: E402

from foretune.search.report import markdown_table  # noqa: E402

AT, REPEATS, SIZE, SEED = 0.2, 20, 50, 0


def warm_with_history(
    spec: dict, history_of, extras: tuple[int, ...], finished_count: int | None = None
) -> pd.DataFrame:
    """One row per (draw, history size): `auto`'s and the rule's figures on the draw's judged runs (the runs after
    its first `finished_count`, by default half); only the draws with the largest history available, so every
    size is compared on the same draws."""
    rows = []
    for p, (pool_name, curves) in enumerate(spec["pools"].items()):
        runs = complete_runs(curves, AT)
        for r in range(REPEATS):
            order = np.random.default_rng([SEED, p, r]).permutation(len(runs))
            study = [runs[i] for i in order[: min(SIZE, len(runs))]]
            k = len(study) // 2 if finished_count is None else finished_count
            finished, judged = study[:k], study[k:]
            if len(judged) < 3:
                continue
            outside = [replace(c, history=True) for c in history_of(pool_name, runs, order)]
            if len(outside) < max(extras):
                continue
            for extra in extras:
                for name in ("snapshot", "auto"):
                    fit = finished + outside[:extra] if name == "auto" else finished
                    row = score(name, fit, judged, at=AT, mode=spec["mode"])
                    rows.append({"history": extra, "predictor": name, "draw": f"{p}-{r}", **row})
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame, label: str, finished: int) -> list[dict]:
    rule = frame[frame.predictor == "snapshot"].groupby("history").spearman.mean()
    out = []
    for extra, group in frame[frame.predictor == "auto"].groupby("history"):
        out.append(
            {
                "set": label,
                "finished + history": f"{finished} + {extra}",
                "draws": len(group),
                "rule Spearman": f"{rule.loc[extra]:.3f}",
                "auto Spearman": f"{group.spearman.mean():.3f}",
                "top-5": f"{group.top_k.mean():.2f}",
                "best kept": f"{group.best_survives.mean():.3f}",
                "80% coverage": "n/a (no final)" if group.coverage.isna().all() else f"{group.coverage.mean():.3f}",
            }
        )
    return out


def lora_design_sets(sets: list[dict]) -> list[dict]:
    """The sets of `lora_curves.csv` (even and odd ids, accuracy and eval loss) among `file_sets()`."""
    return [s for s in sets if s["set"].split()[:2] in (["LoRA", "accuracy"], ["LoRA", "eval"])]


def main() -> None:
    rows = []
    for spec in scan_sets(AT):
        frame = warm_with_history(spec, lambda _pool, runs, order: [runs[i] for i in order[SIZE:]], (0, 25, 50))
        rows += summary(frame, f"{spec['set']} ({spec['role']})", SIZE // 2)
    sets = file_sets()
    lora = lora_design_sets(sets)
    for spec in lora:
        (other,) = [s for s in lora if s["set"].split()[:-1] == spec["set"].split()[:-1] and s is not spec]
        history = complete_runs(next(iter(other["pools"].values())), AT)
        frame = warm_with_history(spec, lambda _pool, _runs, _order, h=history: h, (0, 10, 20))
        rows += summary(frame, f"{spec['set']} ({spec['role']}; history: the {other['set'].split()[-1]} ids)", 10)
    rows += recorded_rows(sets, "fresh", (0, 2, 5, None), lambda history: (0, len(history)), "every id")
    print(markdown_table(pd.DataFrame(rows)))


def recorded_rows(sets: list[dict], name: str, finished_counts, sizes, label: str) -> list[dict]:
    """A report-only LoRA set of `sets` ("fresh", "AE-110K") judged with runs of `lora_curves.csv` as history: `sizes(history)`
    gives the history sizes compared, each finished count (None: half) its own draws."""
    lora, rows = lora_design_sets(sets), []
    for spec in [s for s in sets if s["set"].startswith(f"LoRA {name} ")]:
        value = spec["set"].removeprefix(f"LoRA {name} ")
        history = [
            c for s in lora if s["set"].startswith(f"LoRA {value} ") for c in complete_runs(*s["pools"].values(), AT)
        ]
        for finished in finished_counts:
            frame = warm_with_history(spec, lambda _pool, _runs, _order, h=history: h, sizes(history), finished)
            own = len(complete_runs(*spec["pools"].values(), AT)) // 2 if finished is None else finished
            rows += summary(frame, f"{spec['set']} (RO; history: lora_curves.csv, {label})", own)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--small-history", action="store_true", help="only the fresh set with 2 or 4 history runs")
    only.add_argument("--real", action="store_true", help="only the AE-110K set with every run of lora_curves.csv")
    args = parser.parse_args()
    if args.small_history:  # the cold paths: own and history runs fit and calibrate together below 8 in all
        print(
            markdown_table(
                pd.DataFrame(recorded_rows(file_sets(), "fresh", (3, 4, 5), lambda _h: (0, 2, 4), "its first runs"))
            )
        )
    elif args.real:
        print(
            markdown_table(
                pd.DataFrame(recorded_rows(file_sets(), "AE-110K", (0, 2, 5, None), lambda h: (0, len(h)), "every id"))
            )
        )
    else:
        main()
