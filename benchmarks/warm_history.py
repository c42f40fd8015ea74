"""Warm starts with history: the warm draws of `benchmarks/verdict.md`'s targets table, judged again with the
finished runs of an earlier study of the same task added to the fit (issue 10, item 2a: `early_stage.history`).

The judged half of each draw and its own finished half stay exactly as in the targets table (`cold_warm.run`'s
seeds); the predictor also learns from `n` runs that are not in the study: for scan-bench, runs of the same pool
outside the draw (an earlier study of that task and search space); for the LoRA curves, the other half of the ids
(20 runs of the same task). This is what a search sees when `search.history` finds a matching earlier study (the
evaluator fits the predictor on this study's finished runs, then history: `EarlyStageEvaluator._finished_curves`).
No choice was made from it (a report of how warm quality grows with finished runs).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/warm_history.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cold_warm import complete_runs, score  # noqa: E402
from warm_ceiling import file_sets, scan_sets  # noqa: E402

from foretune.search.report import markdown_table  # noqa: E402

AT, REPEATS, SIZE, SEED = 0.2, 20, 50, 0


def warm_with_history(spec: dict, history_of, extras: tuple[int, ...]) -> pd.DataFrame:
    """One row per (draw, history size): `auto`'s and the rule's figures on the draw's judged half; only the draws
    with the largest history available, so every size is compared on the same draws."""
    rows = []
    for p, (pool_name, curves) in enumerate(spec["pools"].items()):
        runs = complete_runs(curves, AT)
        for r in range(REPEATS):
            order = np.random.default_rng([SEED, p, r]).permutation(len(runs))
            study = [runs[i] for i in order[: min(SIZE, len(runs))]]
            finished, judged = study[: len(study) // 2], study[len(study) // 2 :]
            if len(judged) < 3:
                continue
            outside = history_of(pool_name, runs, order)
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
                "80% coverage": f"{group.coverage.mean():.3f}",
            }
        )
    return out


def main() -> None:
    rows = []
    for spec in scan_sets(AT):
        frame = warm_with_history(spec, lambda _pool, runs, order: [runs[i] for i in order[SIZE:]], (0, 25, 50))
        rows += summary(frame, f"{spec['set']} ({spec['role']})", SIZE // 2)
    lora = [s for s in file_sets() if s["set"].startswith("LoRA")]
    for spec in lora:
        (other,) = [s for s in lora if s["set"].split()[:-1] == spec["set"].split()[:-1] and s is not spec]
        history = complete_runs(next(iter(other["pools"].values())), AT)
        frame = warm_with_history(spec, lambda _pool, _runs, _order, h=history: h, (0, 10, 20))
        rows += summary(frame, f"{spec['set']} ({spec['role']}; history: the {other['set'].split()[-1]} ids)", 10)
    print(markdown_table(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
