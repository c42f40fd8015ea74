"""Benchmark (issue 15): the minimum sufficient n on LCDB curves the design never saw.

Protocol of the issue: per (dataset, learner) curve of LCDB 1.0 (validation accuracy, mean over seeds),
the estimator sees only the anchors whose cumulative cost (sum of n) is <= 30% of the whole grid's and
is told the full data size (`max_n` = largest anchor). Truth: the smallest anchor from which every
larger anchor scores within 0.01 of the mean of the two largest. Score: share of curves whose answer
is within x1.5 of the truth; coverage of the 80% interval; curves without an answer (every curve
with >= 3 anchors in its prefix must get one).

Sets (fixed before any result was looked at):

- `train`: curves of the design half of the datasets (`saturation.train_datasets`, seed 0), which
  the model's settings were chosen on; `test`: the other half (report once);
- `draw`: `--count` curves drawn with `--seed` (default 2026) from all LCDB curves with >= 3 prefix
  anchors, whatever their dataset (published in round 3; it has been looked at since);
- `fresh` (round 4, fixed 2026-12-01 21:40 UTC before any tuning): `--count` curves drawn with `--seed`
  (4242) from the curves of datasets NOT in the design half that are in neither the `test` set
  (seed 7, 200 curves) nor the `draw` set (seed 2026, 200 curves): round 4's figure (looked at since);
- `fresh5` (round 5, fixed 2026-12-02 00:25 UTC before any tuning): `--count` curves drawn with `--seed`
  (5150) the same way, also outside the `fresh` set (seed 4242, 200 curves): round 5's figure (looked at since);
- `fresh6` (round 6, fixed 2026-12-02 03:40 UTC before any tuning): `--count` curves drawn with `--seed`
  (6161) the same way, also outside the `fresh5` set (seed 5150, 200 curves). All 20 LCDB learners
  were used while designing (the design half holds every learner), so the separation is by curve as
  in round 5: no curve of it was ever scored, and no curve of its datasets was ever trained on;
- `fresh7` (round 7, fixed 2026-12-02 06:37 UTC before any tuning): `--count` curves drawn with `--seed`
  (7171) the same way, also outside the `fresh6` set (seed 6161, 200 curves);
- `fresh8` (round 9, fixed 2026-12-04 15:45 UTC before the set-aside change was scored on it): `--count`
  curves drawn with `--seed` (8181) the same way, also outside the `fresh7` set (seed 7171, 200 curves).

    nice -n 10 .venv/bin/python benchmarks/saturation_unseen.py --set draw --count 200 --out /tmp/unseen
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saturation import load_curves, plain_ipl_min_sufficient, prefix_length, train_datasets, within  # noqa: E402

from foretune.errors import ForetuneError  # noqa: E402
from foretune.predictors.saturation import SaturationModel, decision  # noqa: E402

EPSILON = 0.01
MIN_ANCHORS = 3
# The published fresh sets, in order, with the seed each was drawn with.
FRESH_SETS = {"fresh": 4242, "fresh5": 5150, "fresh6": 6161, "fresh7": 7171, "fresh8": 8181}


def issue_truth(n: np.ndarray, y: np.ndarray, eps: float = EPSILON) -> float:
    """Smallest anchor from which every larger anchor is within eps of the mean of the two largest."""
    reference = float(np.mean(y[-2:]))
    close = np.abs(y - reference) <= eps + 1e-12
    # The last anchor where a later (or that) anchor is off, plus one; suffix of all-close anchors.
    off = np.nonzero(~close)[0]
    return float(n[0] if len(off) == 0 else n[min(off[-1] + 1, len(n) - 1)])


def eligible_curves(curves: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """(key, curve) of every curve whose 30% prefix has >= 3 anchors and is shorter than the curve."""
    out = []
    for key, curve in curves.groupby(["openmlid", "learner"], sort=True):
        k = prefix_length(curve["n"].to_numpy(float))
        if MIN_ANCHORS <= k < len(curve):
            out.append((key, curve))
    return out


def choose(curves: pd.DataFrame, which: str, count: int, seed: int) -> list[tuple[tuple, pd.DataFrame]]:
    groups = eligible_curves(curves)
    if which in FRESH_SETS:
        train = train_datasets(curves)
        seen = choose(curves, "test", 200, 7) + choose(curves, "draw", 200, 2026)
        # Every earlier fresh set (200 curves each, seeds fixed when it was published) is left out of later ones.
        for earlier, earlier_seed in list(FRESH_SETS.items())[: list(FRESH_SETS).index(which)]:
            seen += choose(curves, earlier, 200, earlier_seed)
        looked_at = {key for key, _ in seen}
        groups = [g for g in groups if g[0][0] not in train and g[0] not in looked_at]
        picks = np.random.default_rng(seed).choice(len(groups), size=min(count, len(groups)), replace=False)
        return [groups[i] for i in sorted(picks)]
    if which == "draw":
        picks = np.random.default_rng(seed).choice(len(groups), size=min(count, len(groups)), replace=False)
        return [groups[i] for i in sorted(picks)]
    train = train_datasets(curves)
    groups = [g for g in groups if (g[0][0] in train) == (which == "train")]
    if count and count < len(groups):
        picks = np.random.default_rng(seed).choice(len(groups), size=count, replace=False)
        groups = [groups[i] for i in sorted(picks)]
    return groups


def evaluate(groups, *, bootstrap: int, corrected: bool = True) -> pd.DataFrame:
    rows = []
    start = time.time()
    for i, ((dataset, learner), curve) in enumerate(groups):
        n, y = curve["n"].to_numpy(float), curve["mean"].to_numpy(float)
        k = prefix_length(n)
        row = {"openmlid": dataset, "learner": learner, "N": n[-1], "prefix_points": k, "prefix_n": n[k - 1]}
        row["truth"] = issue_truth(n, y)
        try:
            result = SaturationModel(epsilon=EPSILON, n_bootstrap=bootstrap, seed=0, corrected=corrected).fit(
                n[:k], y[:k], max_n=n[-1]
            )
            r = result.result
            lo, hi = r.min_sufficient_n_interval
            row |= {"ours": r.min_sufficient_n, "lo": lo, "hi": hi, "regime": r.regime}
        except ForetuneError as error:
            row |= {"ours": np.nan, "lo": np.nan, "hi": np.nan, "regime": f"no answer: {error}"}
        row["ipl"] = plain_ipl_min_sufficient(n[:k], y[:k], n[-1], EPSILON)
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(groups)} curves, {time.time() - start:.0f}s", file=sys.stderr)
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame) -> str:
    answered = table["ours"].notna()
    truth = table["truth"].to_numpy()
    ours = table["ours"].fillna(0).to_numpy()
    covered = (table["lo"] <= truth * 1.0001) & (truth <= table["hi"] * 1.0001)
    lines = [
        "| curves | no answer | ours x1.5 | ours x2 | plain IPL x1.5 | 80% interval covers | median hi/lo |",
        "|---|---|---|---|---|---|---|",
        f"| {len(table)} | {int((~answered).sum())} | {within(np.maximum(ours, 1e-9), truth, 1.5):.1%} |"
        f" {within(np.maximum(ours, 1e-9), truth, 2):.1%} | {within(table['ipl'].to_numpy(), truth, 1.5):.1%} |"
        f" {covered.mean():.1%} | {np.median(table['hi'] / table['lo']):.2f} |",
        "",
        "| regime | curves | ours x1.5 | plain IPL x1.5 | interval covers |",
        "|---|---|---|---|---|",
    ]
    for regime, part in table.groupby("regime"):
        t = part["truth"].to_numpy()
        cov = ((part["lo"] <= t * 1.0001) & (t <= part["hi"] * 1.0001)).mean()
        lines.append(
            f"| {regime} | {len(part)} | {within(part['ours'].fillna(1e-9).to_numpy(), t, 1.5):.1%} |"
            f" {within(part['ipl'].to_numpy(), t, 1.5):.1%} | {cov:.1%} |"
        )
    lines += ["", "| prefix anchors | curves | ours x1.5 | plain IPL x1.5 |", "|---|---|---|---|"]
    for k, part in table.groupby(np.minimum(table["prefix_points"], 6)):
        t = part["truth"].to_numpy()
        label = f"{k}" if k < 6 else ">= 6"
        lines.append(
            f"| {label} | {len(part)} | {within(part['ours'].fillna(1e-9).to_numpy(), t, 1.5):.1%} |"
            f" {within(part['ipl'].to_numpy(), t, 1.5):.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="which", choices=("train", "test", "draw", *FRESH_SETS), default="draw")
    parser.add_argument("--count", type=int, default=200, help="Curves to draw (0 = the whole half).")
    parser.add_argument(
        "--seed",
        type=int,
        default=2026,
        help="Seed of the draw (fresh: 4242, fresh5: 5150, fresh6: 6161, fresh7: 7171, fresh8: 8181).",
    )
    parser.add_argument("--bootstrap", type=int, default=30, help="Bootstrap replicates per fit.")
    parser.add_argument(
        "--uncorrected", action="store_true", help="Reference: the answer read off the fit, no LCDB-learned correction."
    )
    parser.add_argument(
        "--reference-decision",
        choices=("off", "group"),
        default=None,
        help="Reference runs only: show the median answer (off, round 6's) or decide on the group's errors.",
    )
    parser.add_argument("--out", type=Path, default=None, help="Write the per-curve table to this CSV.")
    args = parser.parse_args()
    start = time.time()
    if args.reference_decision == "off":
        decision.DECIDE.clear()  # in this process only: the answers of round 6
    elif args.reference_decision == "group":
        decision.DECISION_NEIGHBOURS = 0  # the whole group's errors, not the nearest curves'
    table = evaluate(
        choose(load_curves(), args.which, args.count, args.seed),
        bootstrap=args.bootstrap,
        corrected=not args.uncorrected,
    )
    if args.out:
        table.to_csv(args.out, index=False)
    print(summarize(table))
    print(f"\n({args.which}, seed {args.seed}, {time.time() - start:.0f}s)")


if __name__ == "__main__":
    main()
