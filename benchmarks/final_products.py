"""How much the job target's misses owe to the finals' products: recorded twins' predictions against finals
measured with more noise, and the trend carried to finals on more products (the choice of round 56).

A twin's final is a trial's accuracy on its validation products; `final_draws` holds it re-scored on 200 paired
resamples of them. A draw is the observed final plus one more measurement's noise (variance 2 s^2 around the
truth, s^2 the noise of one final); the mean of k paired draws has 1 + 1/k. The share of draws whose
predicted-vs-final Spearman reaches `--at` is read at noise 2, 1.5, 1.25 (k = 1, 2, 4) and at 1 (the observed
finals), and a line through those four points is carried to 1/m: finals on m times the products (variance s^2 / m).
The twins' predictions stay as recorded; finals on more products would also give the predictor less noisy finished
runs to fit, which this leaves out, so the carried figure is a floor of the effect, not a forecast.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/final_products.py runs/bench-default-job-s1{26..79}-off
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from foretune.keys import PREDICTED_FINAL_ATTR  # noqa: E402
from foretune.predictors.metrics import spearman  # noqa: E402
from foretune.search.final_noise import final_draws  # noqa: E402
from foretune.search.storage import load_study_for_report  # noqa: E402

DRAW_COUNTS = (1, 2, 4)


def judged(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(predictions, observed finals, draws: trials x draws) of the twin's trials that carry a prediction and draws."""
    study, _ = load_study_for_report(run_dir, storage=None, study_name=None)
    draws, _ = final_draws(study)
    rows = [
        (t.user_attrs[PREDICTED_FINAL_ATTR], t.value, draws[t.number].to_numpy())
        for t in study.trials
        if t.number in draws.columns and t.user_attrs.get(PREDICTED_FINAL_ATTR) is not None
    ]
    if len(rows) < 4:
        return None
    predicted, finals, paired = zip(*rows, strict=True)
    return np.array(predicted), np.array(finals), np.array(paired)


def reach_shares(runs: list[tuple], at: float, repeats: int, seed: int) -> pd.DataFrame:
    """Per noise level (in units of one final's noise variance): the share of (twin, draw) pairs at `at` or more."""
    rng = np.random.default_rng(seed)
    rows = [{"noise": 1.0, "draws averaged": "observed", "share": np.mean([spearman(p, f) >= at for p, f, _ in runs])}]
    for k in DRAW_COUNTS:
        reached = []
        for predicted, _, paired in runs:
            picks = [rng.choice(paired.shape[1], k, replace=False) for _ in range(repeats)]
            reached += [spearman(predicted, paired[:, pick].mean(1)) >= at for pick in picks]
        rows.append({"noise": 1 + 1 / k, "draws averaged": str(k), "share": float(np.mean(reached))})
    return pd.DataFrame(rows).sort_values("noise", ascending=False, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "twins", nargs="+", type=Path, help="recorded pruning-off twins (runs/bench-default-job-sN-off)"
    )
    parser.add_argument("--at", type=float, default=0.8, help="the job target's Spearman")
    parser.add_argument("--repeats", type=int, default=400, help="draw picks per twin and level")
    parser.add_argument("--times", type=float, nargs="+", default=[1.5, 2.0, 3.0], help="products, as a multiple")
    args = parser.parse_args()
    runs = [run for run in map(judged, args.twins) if run is not None]
    if not runs:
        sys.exit(f"none of {len(args.twins)} twins has 4 predicted trials with final draws")
    shares = reach_shares(runs, args.at, args.repeats, seed=0)
    slope, intercept = np.polyfit(shares["noise"], shares["share"], 1)
    print(f"{len(runs)} twins; share of predicted-vs-final Spearman >= {args.at}:")
    print(shares.to_string(index=False, float_format="%.3f"))
    carried = pd.DataFrame({"products, as a multiple": args.times, "noise": [1 / m for m in args.times]})
    carried["share (the line)"] = (intercept + slope * carried["noise"]).clip(upper=1.0)
    carried["3 seeds in a row"] = carried["share (the line)"] ** 3
    print(f"line: share = {intercept:.3f} {slope:+.3f} x noise; carried to more products:")
    print(carried.to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
