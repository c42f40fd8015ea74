"""What a sweep leaves behind: its points and tables as pandas frames, a summary, an Optuna study.

`write_outputs` writes the data files (points.csv, summary.json, the study journal); the command
(`foretune.cli.sweep_outputs`) renders the tables and the plot from the same frames.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foretune.keys import JOURNAL_NAME, Mode
from foretune.search.sweep.results import SweepPoint, SweepResult
from foretune.search.sweep.study import SweepStudy


def points_frame(points: Sequence[SweepPoint]) -> pd.DataFrame:
    """One row per run: n, seed, value (the score), predicted, fraction, seconds, cost, and its metrics."""
    return pd.DataFrame(
        [
            {
                "n": p.n,
                "seed": p.seed,
                "value": p.score,
                "predicted": p.predicted,
                "fraction": p.fraction,
                "seconds": round(p.seconds, 3),
                "cost": p.cost,
                **p.metrics,
            }
            for p in points
        ]
    )


def sizes_frame(result: SweepResult) -> pd.DataFrame:
    """One row per measured size: mean score, std, runs, fitted score and gain per doubling (NaN without a fit)."""
    by_n = points_frame(result.points).groupby("n")["value"].agg(["mean", "std", "count"]).reset_index()
    sat = result.saturation
    fitted = np.full(len(by_n), np.nan)
    gain = np.full(len(by_n), np.nan)
    if sat is not None:
        for i, n in enumerate(by_n["n"]):
            if n > 0:
                fitted[i], gain[i] = float(sat.predict([n])[0]), float(sat.gain_per_doubling([n])[0])
    return by_n.rename(columns={"count": "runs"}).assign(fitted=fitted, gain_per_doubling=gain)


def attributes_frame(result: SweepResult) -> pd.DataFrame:
    """One row per attribute fit, latest to saturate first: min useful n (None: beyond the horizon),
    its interval, and the gain per doubling at the attribute's largest n."""
    fits = sorted(result.attributes.items(), key=lambda kv: -(kv[1].min_useful_n or math.inf))
    rows = []
    for name, fit in fits:
        d = fit.to_dict()
        rows.append(
            {
                "attribute": name,
                "min_useful_n": d["min_useful_n"],
                "interval": d["min_useful_n_interval"],
                "gain_per_doubling": float(fit.gain_per_doubling([fit.n[-1]])[0]),
            }
        )
    # object columns: a size stays an int and "beyond the horizon" stays None (not NaN)
    frame = pd.DataFrame(rows, columns=["attribute", "min_useful_n", "interval", "gain_per_doubling"], dtype=object)
    return frame.astype({"gain_per_doubling": float})


def summary(result: SweepResult) -> dict[str, Any]:
    """The saturation fit's summary plus what the sweep did (sizes, compute, why it stopped, attributes)."""
    out: dict[str, Any] = result.saturation.to_dict() if result.saturation is not None else {}
    out.update(
        {
            "sizes": result.sizes,
            "measured_sizes": sorted({p.n for p in result.points}),
            "repeats": result.repeats,
            "cost_spent": result.cost_spent,
            "cost_full_grid": result.cost_full_grid,
            "compute_fraction": result.compute_fraction,
            "stopped_because": result.stopped_because,
            "cut_short": result.cut_short,
            "seconds": round(sum(p.seconds for p in result.points), 1),
            "attributes": {
                name: {k: v for k, v in fit.to_dict().items() if k != "points"}
                for name, fit in result.attributes.items()
            },
            "late_attributes": result.late_attributes(),
            "rare_attributes": result.rare_attributes,
        }
    )
    return out


def write_outputs(result: SweepResult, out: Path, *, study_name: str, mode: Mode) -> dict[str, Path]:
    """points.csv, summary.json and the study journal in `out` (created if needed; the runs it does not hold yet
    are added: `foretune sweep` records each as it ends)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"points": out / "points.csv", "summary": out / "summary.json", "study": out / JOURNAL_NAME}
    points_frame(result.points).to_csv(paths["points"], index=False)
    paths["summary"].write_text(json.dumps(summary(result), indent=2))
    SweepStudy(paths["study"], study_name=study_name, mode=mode, max_n=max(result.sizes)).record_missing(result.points)
    return paths
