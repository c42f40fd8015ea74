"""Joint model x data: one saturation fit per model, and whether the model behind now catches up with more data.

`foretune sweep --models a,b` runs the same sweep (same data, sizes and test split) once per model;
this module compares the fits. "Now" is the fitted score at the largest size every model measured;
the model best there leads, and each other model's asymptote interval is set against the leader's:
above it (it overtakes with more data), below it (it never gets there), or overlapping (cannot tell).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from foretune.keys import Mode
from foretune.search.sweep.results import SweepResult

COLUMNS = [
    "model",
    "asymptote",
    "asymptote_low",
    "asymptote_high",
    "min_useful_n",
    "min_useful_n_low",
    "min_useful_n_high",
    "score_now",
    "regime",
]


def model_folder_name(model: str, taken: set[str]) -> str:
    """A folder name for a model's outputs: its last path part, made safe, unique among `taken`."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.rstrip("/")).name or model).strip("-.") or "model"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def common_n(results: Mapping[str, SweepResult]) -> float | None:
    """The size at which models are compared now: the largest n > 0 every fitted model measured
    (else the smallest of their largest measured sizes)."""
    fits = [r.saturation for r in results.values() if r.saturation is not None]
    if not fits:
        return None
    shared = set.intersection(*({float(n) for n in fit.n} for fit in fits))
    return max(shared) if shared else min(float(fit.n[-1]) for fit in fits)


def models_frame(results: Mapping[str, SweepResult]) -> pd.DataFrame:
    """One row per model: asymptote and minimum useful n with their intervals, the fitted score now, the regime
    (NaN / None where a model has no fit: too few sizes measured)."""
    at = common_n(results)
    rows = []
    for model, result in results.items():
        fit = result.saturation
        if fit is None:
            rows.append({"model": model, "regime": "no fit (too few sizes measured)"})
            continue
        useful_lo, useful_hi = fit.min_useful_n_interval
        # --bootstrap 0: the asymptote's band is the point repeated, not an interval (NaN: none computed)
        asymptote_lo, asymptote_hi = fit.asymptote_interval if fit.n_bootstrap > 0 else (math.nan, math.nan)
        rows.append(
            {
                "model": model,
                "asymptote": fit.asymptote,
                "asymptote_low": asymptote_lo,
                "asymptote_high": asymptote_hi,
                "min_useful_n": fit.min_useful_n,
                "min_useful_n_low": useful_lo,
                "min_useful_n_high": useful_hi,
                "score_now": float(fit.predict([at])[0]) if at is not None else math.nan,
                "regime": fit.regime,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def with_band(value: float, low: float, high: float, *, digits: int = 3) -> str:
    """`value [low, high]`; `value (no interval)` where none was computed (--bootstrap 0); '-' without a value."""
    if math.isnan(value):
        return "-"
    if math.isnan(low):
        return f"{value:.{digits}f} (no interval)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _asymptote(row: Mapping[str, Any]) -> str:
    return with_band(row["asymptote"], row["asymptote_low"], row["asymptote_high"])


def catch_up_answer(results: Mapping[str, SweepResult], mode: Mode) -> str:
    """Does the model behind now reach the leader with more data? One sentence per model behind, from the fits."""
    frame = models_frame(results)
    missing = frame[frame["asymptote"].isna()]["model"].tolist()
    fitted = frame.dropna(subset=["asymptote"])
    if len(fitted) < 2:
        return "Cannot tell: fewer than two models have a fit" + (
            f" ({', '.join(missing)} measured too few sizes)." if missing else "."
        )
    at = common_n(results)
    sign = 1.0 if mode == "max" else -1.0
    ordered = fitted.assign(_key=-sign * fitted["score_now"]).sort_values("_key")
    leader = ordered.iloc[0]
    better = "higher" if mode == "max" else "lower"
    sentences = []
    for _, behind in ordered.iloc[1:].iterrows():
        question = f"Does {behind['model']} (behind {leader['model']} at n = {at:,.0f}) reach it with more data?"
        lo, hi = sorted((behind["asymptote_low"], behind["asymptote_high"]))
        leader_lo, leader_hi = sorted((leader["asymptote_low"], leader["asymptote_high"]))
        if math.isnan(lo) or math.isnan(leader_lo):  # two points say nothing of how far apart they could be
            verdict = (
                f"Cannot tell: no interval (the sweep ran without bootstrap replicates, --bootstrap 0): asymptotes "
                f"{behind['model']} {behind['asymptote']:.3f}, {leader['model']} {leader['asymptote']:.3f}; "
                "run it with --bootstrap 100 to compare them."
            )
        elif hi < leader_lo or lo > leader_hi:
            ahead = (lo > leader_hi) == (mode == "max")
            verdict = (
                f"Yes: its asymptote {_asymptote(behind)} is {better} than {leader['model']}'s {_asymptote(leader)}."
                if ahead
                else f"No: it levels off at {_asymptote(behind)}, short of {leader['model']}'s {_asymptote(leader)}."
            )
        else:
            verdict = (
                f"Cannot tell: intervals overlap ({behind['model']} {_asymptote(behind)}, "
                f"{leader['model']} {_asymptote(leader)}); measure larger sizes or more repeats."
            )
        sentences.append(f"{question} {verdict}")
    if missing:
        sentences.append(f"{', '.join(missing)}: no fit (too few sizes measured).")
    return " ".join(sentences)


def models_summary(results: Mapping[str, SweepResult], mode: Mode, folders: Mapping[str, str]) -> dict[str, Any]:
    """models.json: one entry per model (its fit's answers and its output folder) and the answer sentence."""
    frame = models_frame(results)
    models = {}
    for row in frame.to_dict(orient="records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        models[row["model"]] = {**clean, "folder": folders.get(row["model"])}
    return {"compared_at_n": common_n(results), "models": models, "answer": catch_up_answer(results, mode)}
