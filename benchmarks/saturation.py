"""Benchmark: how well does the saturation model find the minimum sufficient n on real curves?

Data: LCDB 1.0 (Mohr & van Rijn), accuracy learning curves of 20 sklearn learners on 248 OpenML
datasets against training-set size. Fetched once from PyPI into the git-ignored cache and read in
place from the sdist:

    .venv/bin/pip download --no-deps lcdb==0.1.0 -d benchmarks/.cache
    .venv/bin/python benchmarks/saturation.py [--limit 0] [--adaptive 300] [--bootstrap 30]

For each (dataset, learner) curve (validation accuracy averaged over LCDB's seeds per anchor):

- *truth*: the minimum sufficient n of the full curve = the smallest n (log-interpolated between
  anchors) where the isotonic (monotone non-decreasing) regression of the mean curve on all anchors
  comes within epsilon of its value at the largest anchor N. Isotonic smoothing is model-free (it
  does not favour any of our families) and removes the seed noise that would otherwise let a single
  lucky anchor decide the answer.
- *prefix prediction*: fit only the first anchors whose cumulative cost (sum of n) is <= 30% of the
  whole grid's, predict the minimum sufficient n for max_n = N; compare with the truth: fraction of
  curves within x1.5 and within x2. The reference is a plain inverse power law `a - b n^-c` fitted by
  ordinary least squares (scipy curve_fit) on the same anchors.
- *adaptive sweep*: `foretune.search.sweep.plan_adaptive` chooses anchors itself (a lookup into the
  LCDB curve stands in for training) and stops when its interval is tight; we report the share of
  the full grid's compute it used and its accuracy against the same truth.

Two epsilons: 0.01 absolute (one accuracy point, the CLI default) and 5% of the curve's total gain
(iso(N) - iso(first anchor)), which keeps flat curves from making the task trivially easy.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit, isotonic_regression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foretune.predictors.saturation import SaturationModel, first_crossing  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "lcdb-0.1.0.tar.gz"
MEMBER = "lcdb-0.1.0/lcdb/database-accuracy.csv"
PREFIX_COST = 0.30
MIN_PREFIX_POINTS = 6


def load_curves(score: str = "score_valid") -> pd.DataFrame:
    """One row per (openmlid, learner, size_train): mean score over seeds and the number of seeds."""
    if not CACHE.is_file():
        sys.exit(f"missing {CACHE}; run: .venv/bin/pip download --no-deps lcdb==0.1.0 -d benchmarks/.cache")
    with tarfile.open(CACHE) as tar:
        frame = pd.read_csv(tar.extractfile(MEMBER), usecols=["openmlid", "learner", "size_train", score])
    frame = frame.dropna(subset=[score])
    return (
        frame.groupby(["openmlid", "learner", "size_train"])[score]
        .agg(["mean", "count"])
        .reset_index()
        .rename(columns={"size_train": "n"})
    )


def true_min_sufficient(n: np.ndarray, y: np.ndarray, w: np.ndarray, eps: float) -> float:
    smooth = isotonic_regression(y, weights=w).x
    return float(first_crossing(n.astype(float), smooth, smooth[-1] - eps))


def prefix_length(n: np.ndarray) -> int:
    """How many first anchors cost at most PREFIX_COST of the whole grid (cost ~ sum of n)."""
    cost = np.cumsum(n) / np.sum(n)
    return int(np.searchsorted(cost, PREFIX_COST + 1e-12, side="right"))


def plain_ipl_min_sufficient(n: np.ndarray, y: np.ndarray, max_n: float, eps: float) -> float:
    """Reference: ordinary least squares of a - b n^-c on the prefix means, read like our model."""
    x = n / n[-1]
    f = lambda x, a, b, c: a - b * x ** (-c)  # noqa: E731
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (a, b, c), _ = curve_fit(f, x, y, p0=[y.max(), max(y.max() - y.min(), 1e-3) * 0.1, 0.5], maxfev=5000)
    except (RuntimeError, ValueError):
        return float(n[0])
    grid = np.geomspace(n[0], max_n, 800)
    values = f(grid / n[-1], a, b, c)
    if b < 0 or c < 0:  # a decreasing fit: the first anchor is already as good as it gets
        return float(n[0])
    crossing = first_crossing(grid, values, f(max_n / n[-1], a, b, c) - eps)
    return float(n[0]) if crossing is None else crossing


def within(pred: np.ndarray, truth: np.ndarray, factor: float) -> float:
    ratio = np.maximum(pred / truth, truth / pred)
    return float(np.mean(ratio <= factor + 1e-9))


def train_datasets(curves: pd.DataFrame) -> set:
    """The half of the datasets (by openmlid) the model's LCDB-learned settings were chosen on.

    The exponent prior, tail weight, family mix and interval calibration of the default model were
    chosen on curves of these datasets only (among the curves with a >= 6-anchor prefix); report on
    the others (`--half test`).
    """
    eligible = sorted(
        {
            d
            for (d, _), c in curves.groupby(["openmlid", "learner"])
            if MIN_PREFIX_POINTS <= prefix_length(c["n"].to_numpy(float)) < len(c)
        }
    )
    perm = np.random.default_rng(0).permutation(len(eligible))
    return {eligible[i] for i in perm[: len(eligible) // 2]}


# The version before the LCDB-learned prior (flat/pow3/pow4/MMF4, no prior, no tail weight,
# bootstrap-only intervals), kept as a reference column.
PREVIOUS = dict(
    families=("flat", "pow3", "pow4", "mmf4"), exponent_prior=None, tail_weight=0.0, calibrated=False, corrected=False
)


def evaluate_prefix(curves: pd.DataFrame, *, limit: int, bootstrap: int, half: str = "all") -> pd.DataFrame:
    rows = []
    groups = list(curves.groupby(["openmlid", "learner"], sort=True))
    if limit:
        rng = np.random.default_rng(0)
        groups = [groups[i] for i in sorted(rng.choice(len(groups), size=min(limit, len(groups)), replace=False))]
    if half != "all":
        train = train_datasets(curves)
        groups = [g for g in groups if (g[0][0] in train) == (half == "train")]
    start = time.time()
    for i, ((dataset, learner), curve) in enumerate(groups):
        n = curve["n"].to_numpy(float)
        y = curve["mean"].to_numpy(float)
        w = curve["count"].to_numpy(float)
        k = prefix_length(n)
        if k < MIN_PREFIX_POINTS or k >= len(n):
            continue
        smooth = isotonic_regression(y, weights=w).x
        gain = smooth[-1] - smooth[0]
        for eps_name, eps in (("abs 0.01", 0.01), ("5% of gain", 0.05 * gain)):
            if eps <= 0:
                continue
            truth = true_min_sufficient(n, y, w, eps)
            model = SaturationModel(epsilon=eps, n_bootstrap=bootstrap, seed=0)
            result = model.fit(n[:k], y[:k], max_n=n[-1]).result
            lo, hi = result.min_sufficient_n_interval
            previous = (
                SaturationModel(epsilon=eps, n_bootstrap=bootstrap, seed=0, **PREVIOUS)
                .fit(n[:k], y[:k], max_n=n[-1])
                .result
            )
            rows.append(
                {
                    "openmlid": dataset,
                    "learner": learner,
                    "epsilon": eps_name,
                    "eps": eps,
                    "N": n[-1],
                    "prefix_n": n[k - 1],
                    "prefix_points": k,
                    "gain": gain,
                    "truth": truth,
                    "ours": result.min_sufficient_n,
                    "ours_lo": lo,
                    "ours_hi": hi,
                    "noise_lo": result.min_sufficient_n_noise_interval[0],
                    "noise_hi": result.min_sufficient_n_noise_interval[1],
                    "previous": previous.min_sufficient_n,
                    "previous_lo": previous.min_sufficient_n_interval[0],
                    "previous_hi": previous.min_sufficient_n_interval[1],
                    "ipl": plain_ipl_min_sufficient(n[:k], y[:k], n[-1], eps),
                }
            )
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{len(groups)} curves, {time.time() - start:.0f}s", file=sys.stderr)
    return pd.DataFrame(rows)


def coverage(table: pd.DataFrame, lo: str, hi: str) -> tuple[float, float]:
    truth = table["truth"]
    covered = np.mean((table[lo] <= truth * 1.0001) & (truth <= table[hi] * 1.0001))
    return float(covered), float(np.median(table[hi] / table[lo]))


def summarize_prefix(table: pd.DataFrame) -> str:
    lines = [
        "| epsilon | curves | ours x1.5 | ours x2 | previous x1.5 | previous x2 | plain IPL x1.5 | plain IPL x2 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for eps_name, part in table.groupby("epsilon", sort=False):
        truth = part["truth"].to_numpy()
        cells = [f"{within(part[c].to_numpy(), truth, f):.1%}" for c in ("ours", "previous", "ipl") for f in (1.5, 2)]
        lines.append(f"| {eps_name} | {len(part)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| epsilon | truth inside prefix? | curves | ours x1.5 | previous x1.5 | plain IPL x1.5 |",
        "|---|---|---|---|---|---|",
    ]
    for (eps_name, inside), part in table.assign(inside=table["truth"] <= table["prefix_n"]).groupby(
        ["epsilon", "inside"], sort=False
    ):
        truth = part["truth"].to_numpy()
        cells = [f"{within(part[c].to_numpy(), truth, 1.5):.1%}" for c in ("ours", "previous", "ipl")]
        lines.append(f"| {eps_name} | {'inside' if inside else 'beyond'} | {len(part)} | " + " | ".join(cells) + " |")
    lines += ["", "| epsilon | 80% interval | truth inside | median width (hi/lo) |", "|---|---|---|---|"]
    for eps_name, part in table.groupby("epsilon", sort=False):
        for label, lo, hi in (
            ("ours, calibrated", "ours_lo", "ours_hi"),
            ("ours, bootstrap only", "noise_lo", "noise_hi"),
            ("previous (bootstrap)", "previous_lo", "previous_hi"),
        ):
            cov, width = coverage(part, lo, hi)
            lines.append(f"| {eps_name} | {label} | {cov:.1%} | {width:.2f} |")
    return "\n".join(lines)


def evaluate_adaptive(curves: pd.DataFrame, *, limit: int, bootstrap: int, half: str = "all") -> pd.DataFrame:
    """Run the adaptive sweep on recorded curves: a lookup of the LCDB mean stands in for training."""
    from foretune.search.sweep import SaturationSweep

    groups = list(curves.groupby(["openmlid", "learner"], sort=True))
    if half != "all":
        train = train_datasets(curves)
        groups = [g for g in groups if (g[0][0] in train) == (half == "train")]
    rng = np.random.default_rng(1)
    order = rng.permutation(len(groups))
    rows = []
    start = time.time()
    for index in order:
        if len(rows) >= limit:
            break
        (dataset, learner), curve = groups[index]
        n = curve["n"].to_numpy(float)
        y = curve["mean"].to_numpy(float)
        w = curve["count"].to_numpy(float)
        k = prefix_length(n)
        if k < MIN_PREFIX_POINTS or k >= len(n):
            continue  # the same curves as the prefix benchmark
        lookup = dict(zip(n.astype(int), y, strict=True))
        sweep = SaturationSweep(
            lambda size, seed: {"accuracy": lookup[size]},  # noqa: B023 (called only within this iteration)
            sizes=n.astype(int).tolist(),
            epsilon=0.01,
            target="min_sufficient_n",
            max_n=int(n[-1]),
            cost=float,
            n_bootstrap=bootstrap,
            attribute_prefix=None,
        )
        result = sweep.run()
        rows.append(
            {
                "openmlid": dataset,
                "learner": learner,
                "truth": true_min_sufficient(n, y, w, 0.01),
                "adaptive": result.saturation.min_sufficient_n,
                "compute": result.compute_fraction,
                "sizes_run": len({p.n for p in result.points}),
                "anchors": len(n),
                "stopped": result.stopped_because,
            }
        )
        if len(rows) % 25 == 0:
            print(f"  adaptive: {len(rows)}/{limit} curves, {time.time() - start:.0f}s", file=sys.stderr)
    return pd.DataFrame(rows)


def summarize_adaptive(table: pd.DataFrame) -> str:
    pred, truth = table["adaptive"].to_numpy(), table["truth"].to_numpy()
    tight = table["stopped"].str.contains("tight")
    return "\n".join(
        [
            "| curves | within x1.5 | within x2 | compute vs full grid: mean | median | stopped tight |",
            "|---|---|---|---|---|---|",
            f"| {len(table)} | {within(pred, truth, 1.5):.1%} | {within(pred, truth, 2):.1%} |"
            f" {table['compute'].mean():.1%} | {table['compute'].median():.1%} | {tight.mean():.1%} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="Evaluate a random subset of curves (0 = all).")
    parser.add_argument("--bootstrap", type=int, default=30, help="Bootstrap replicates per fit.")
    parser.add_argument(
        "--adaptive", type=int, default=100, help="Curves for the adaptive-sweep simulation (0 = skip)."
    )
    parser.add_argument(
        "--half",
        choices=("all", "train", "test"),
        default="test",
        help="Datasets to report on: the default model's settings were learned on 'train'.",
    )
    parser.add_argument("--out", type=Path, default=None, help="Write the per-curve tables here (CSV prefix).")
    args = parser.parse_args()

    start = time.time()
    curves = load_curves()
    print(
        f"loaded {curves.groupby(['openmlid', 'learner']).ngroups} curves in {time.time() - start:.0f}s",
        file=sys.stderr,
    )
    table = evaluate_prefix(curves, limit=args.limit, bootstrap=args.bootstrap, half=args.half)
    if args.out:
        table.to_csv(f"{args.out}-prefix.csv", index=False)
    print(summarize_prefix(table))
    if args.adaptive:
        adaptive = evaluate_adaptive(curves, limit=args.adaptive, bootstrap=args.bootstrap, half=args.half)
        if args.out:
            adaptive.to_csv(f"{args.out}-adaptive.csv", index=False)
        print()
        print(summarize_adaptive(adaptive))
    print(f"\n({time.time() - start:.0f}s)")


if __name__ == "__main__":
    main()
