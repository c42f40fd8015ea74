"""History from another study: `auto` fit on runs of an earlier, matching study plus a few of the study's own.

`search.history` matches studies by task, model and metric, so an earlier study may differ in its budget or its
data: its runs teach how runs like these end, but their finals can sit on another level. This script judges runs of
one scan-bench vlm pool (a study) with 40 runs of another pool (another budget: 5, 6 or 7 epochs, all design pools)
as history, and k runs of the study's own finished (k = 0, 3, 5, 10): Spearman and 80% coverage over the judged
runs, with the history runs marked as history (`Curve.history`: `auto` calibrates on the study's own runs, and
predicts no final below 3 of them) and unmarked (every run taken for the study's own: what `auto` did before
round 14). The fresh LoRA set judged with `lora_curves.csv` as history is in `benchmarks/warm_history.py`.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/cross_study.py [--draws 10]
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/cross_study.py --history 3 --own 3 4 5

`--history N` gives N runs of the earlier pool (0: none, the study alone); `--own` the study's finished counts. With
fewer than `min_finished` (8) runs in all, the cold paths fit and calibrate on own and history runs together.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cold_warm import complete_runs, score  # noqa: E402
from predictors import load_groups  # noqa: E402

from foretune.search.report import markdown_table  # noqa: E402

AT, HISTORY, STUDY = 0.2, 40, 50
PAIRS = (("vlm-5ep", "vlm-6ep"), ("vlm-6ep", "vlm-7ep"), ("vlm-7ep", "vlm-5ep"))  # (history, study)
OWN = (0, 3, 5, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10, help="studies drawn per pair of pools")
    parser.add_argument("--history", type=int, default=HISTORY, help="runs of the earlier study given as history")
    parser.add_argument("--own", type=int, nargs="+", default=list(OWN), help="the study's own finished runs")
    args = parser.parse_args()
    if args.draws < 1:
        parser.error(f"--draws must be >= 1, got {args.draws}")
    if not 0 <= args.history <= HISTORY or not all(0 <= k < STUDY for k in args.own):
        parser.error(f"--history must be 0-{HISTORY} and --own 0-{STUDY - 1}")
    groups = load_groups(AT)
    pools = {name: complete_runs(groups[name], AT) for pair in PAIRS for name in pair}
    rows = []
    for p, (earlier, current) in enumerate(PAIRS):
        start = time.perf_counter()
        for r in range(args.draws):
            rng = np.random.default_rng([p, r])
            history = [pools[earlier][i] for i in rng.permutation(len(pools[earlier]))[: args.history]]
            study = [pools[current][i] for i in rng.permutation(len(pools[current]))[:STUDY]]
            for own in args.own:
                finished, judged = study[:own], study[own:]
                for marked in (True, False):
                    fit = finished + [replace(c, history=marked) for c in history]
                    row = score("auto", fit, judged, at=AT, mode="min")
                    rows.append({"pair": f"{earlier} -> {current}", "own": own, "marked": marked, **row})
        print(f"{earlier} -> {current}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    frame = pd.DataFrame(rows)
    table = frame.groupby(["pair", "own", "marked"], sort=False).agg(
        spearman=("spearman", "mean"), coverage=("coverage", "mean")
    )
    wide = table.unstack("marked")
    out = pd.DataFrame(
        {
            "history -> study": [pair for pair, _ in wide.index],
            "own finished": [own for _, own in wide.index],
            "Spearman, marked / unmarked": [
                f"{m:.3f} / {u:.3f}" for m, u in zip(wide[("spearman", True)], wide[("spearman", False)], strict=True)
            ],
            "80% coverage, marked": [
                f"{v:.3f}" if np.isfinite(v) else "no final predicted" for v in wide[("coverage", True)]
            ],
            "80% coverage, unmarked (before round 14)": [f"{v:.3f}" for v in wide[("coverage", False)]],
        }
    )
    print(markdown_table(out))


if __name__ == "__main__":
    main()
