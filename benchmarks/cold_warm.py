"""Cold and warm starts on any curve set, paired against the snapshot rule (issue 10, item 6).

Protocol: for each of `repeats` draws (fixed seeds), a pool's complete runs are shuffled and at most
`size` of them taken (a study). Scenario "cold-k" (k = 0, 2, 5): the first k runs are the
study's finished runs; every other run is judged from its points at fraction <= `at` by a predictor
fit on those k. Scenario "warm": half the runs finished, the other half judged. Each predictor is
scored on the judged runs against their true finals: Spearman, top-5 overlap, whether the best run is
kept when the predicted top 20% continue, MAE and 80% interval coverage (both only where a final was
predicted: with fewer than 3 finished runs the predictors rank by the early score and predict none).
The snapshot rule (rank by the score at `at`) is the baseline; differences are paired per draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from foretune.predictors import Curve, get_predictor, metrics
from foretune.predictors._base import final_value, observed
from foretune.predictors.calibration import clip_to_bounds, curves_range
from foretune.search.report import markdown_table

SCENARIOS = {"cold-0": 0, "cold-2": 2, "cold-5": 5, "warm": None}


def complete_runs(curves: Sequence[Curve], at: float) -> list[Curve]:
    """Runs that reached fraction 1 with a finite final and have a finite point at <= `at`."""
    return [
        c
        for c in curves
        if len(c.fractions) and c.fractions[-1] >= 0.999 and np.isfinite(final_value(c)) and len(observed(c, at)[1])
    ]


def score(
    name: str, finished: list[Curve], judged: list[Curve], *, at: float, mode: str, metric: str | None = None
) -> dict[str, float]:
    """One predictor fit on `finished`, judging `judged` from their points at <= `at`."""
    prediction = (
        get_predictor(name, mode=mode, metric=metric).fit(finished).predict([c.upto(at) for c in judged], at=at)
    )
    # Predictions are clipped into the metric's range as `foretune rank` and the search read it from the values and
    # the `metric`'s name (an accuracy to [0, 1], a loss to 0 and up, since round 41); the range is read from the
    # finished runs and the judged runs' early points only, never their finals.
    seen = [*finished, *(c.upto(at) for c in judged)]
    prediction = clip_to_bounds(prediction, curves_range(seen, mode=mode, metric=metric))
    finals = np.array([final_value(c) for c in judged])
    row = metrics.evaluate(prediction, finals, mode=mode, k=5, q=0.2)
    if not prediction.predicted:  # no final was predicted: nothing to measure an error or a coverage on
        row["mae"] = row["coverage"] = float("nan")
    return {**row, "predicted": float(prediction.predicted)}


def run(
    pools: dict[str, list[Curve]],
    *,
    mode: str,
    at: float,
    repeats: int,
    size: int,
    seed: int,
    predictors: Sequence[str] = ("snapshot", "auto"),
    metric: str | None = None,
) -> pd.DataFrame:
    """Metrics per (pool, draw, scenario, predictor)."""
    rows = []
    for p, (pool, curves) in enumerate(pools.items()):
        runs = complete_runs(curves, at)
        for r in range(repeats):
            rng = np.random.default_rng([seed, p, r])
            study = [runs[i] for i in rng.permutation(len(runs))[: min(size, len(runs))]]
            for scenario, k in SCENARIOS.items():
                k = len(study) // 2 if k is None else k
                finished, judged = study[:k], study[k:]
                if len(judged) < 3:  # too few runs left to rank
                    continue
                for name in predictors:
                    row = score(name, finished, judged, at=at, mode=mode, metric=metric)
                    rows.append(
                        {"pool": pool, "draw": r, "scenario": scenario, "finished": k, "predictor": name, **row}
                    )
    return pd.DataFrame(rows)


def table(frame: pd.DataFrame, *, challenger: str = "auto", baseline: str = "snapshot") -> pd.DataFrame:
    """Per scenario: both predictors' means, the paired Spearman difference and the better/worse/tied draws."""
    out = []
    for scenario in SCENARIOS:
        data = frame[frame.scenario == scenario]
        if data.empty:
            continue
        wide = data.pivot_table(index=["pool", "draw"], columns="predictor", values=list(metrics.METRICS))
        diff = wide[("spearman", challenger)] - wide[("spearman", baseline)]
        row = {"scenario": scenario, "finished": f"{data['finished'].mean():.0f}", "judged draws": len(wide)}
        for metric, label in (("spearman", "Spearman"), ("top_k", "top-5"), ("best_survives", "best kept")):
            row[label] = f"{wide[(metric, baseline)].mean():.3f} → {wide[(metric, challenger)].mean():.3f}"
        row["Δ Spearman ± s.e."] = f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f}"
        row["better/worse/tied"] = f"{(diff > 1e-12).sum()}/{(diff < -1e-12).sum()}/{(diff.abs() <= 1e-12).sum()}"
        for metric, label in (("mae", "MAE"), ("coverage", "80% coverage")):
            cells = []
            for name in (baseline, challenger):
                values = wide[(metric, name)] if (metric, name) in wide else pd.Series(dtype=float)
                cells.append("n/a" if values.isna().all() else f"{values.mean():.3f}")
            row[label] = " → ".join(cells)
        out.append(row)
    return pd.DataFrame(out)


def markdown(frame: pd.DataFrame, title: str) -> str:
    return f"### {title}\n\nCells: snapshot rule → auto (means over draws).\n\n{markdown_table(table(frame))}\n"
