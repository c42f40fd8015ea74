"""Learn the cold-start prior shipped in the package (`foretune/predictors/prior_scan_bench.json`).

Offline, from public learning curves read in place (never copied into the repo):
`../shared/data/learning-curves/scan-bench/` (from the PyPI package scan-bench 0.2.3,
https://pypi.org/project/scan-bench/): `llm.csv` (MIT) and `vlm.csv` (CC BY-SA 4.0).

Design / report split (fixed before the prior was fitted or any cold-start result looked at):
- DESIGN (the prior learns from them, choices may look at them): every complete run of `llm.csv`;
  the complete runs of `vlm.csv` with `total_epochs` in `DESIGN_VLM_EPOCHS` (2-7).
- REPORT-ONLY: `vlm.csv` runs with `total_epochs` 8, 9, 10 (10 is the one vlm pool with two points
  before 0.2), `tests/data/replay_curves.csv`, and the odd trial ids of `benchmarks/data/lora_curves.csv`.

Examples: each design run cut at each of its own evaluation points up to `MAX_FRACTION` (so a
5-epoch run gives cuts at 0.2 and 0.4); features `foretune.predictors.prior.shape_features`
(the same code the package runs), target log(final loss / loss at the cut). Each source (llm,
vlm) weighs the same in total and each run the same within its source. "fraction" model: each
source's least-squares slope, the smallest kept (`agreed`); "fraction+power": least squares on the
sources whose two-point slopes are signal (`slope_noise` <= `MAX_NOISE`). Residual 10% / 90%
quantiles per fraction bin give the 80% band.

Reproduce (under a minute): .venv/bin/python benchmarks/learn_prior.py
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from foretune.predictors import Curve
from foretune.predictors._base import final_value
from foretune.predictors.prior import FEATURE_SETS, FEATURES, PRIOR_FILE, loss_space, shape_features

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "learning-curves" / "scan-bench"
OUT = ROOT / "foretune" / "predictors" / PRIOR_FILE
DESIGN_VLM_EPOCHS = (2, 3, 4, 5, 6, 7)
MAX_FRACTION = 0.5  # cuts later than this are not "early"
BINS = (0.15, 0.3, MAX_FRACTION)  # residual bands per fraction of the cut
LEVEL = 0.8
# Set before fitting, halfway between the design sources' slope noise (vlm about 0.5, llm about 1.6).
MAX_NOISE = 1.0


def examples(curves: Sequence[Curve], *, mode: str, source: str) -> pd.DataFrame:
    """One row per (run, cut): the prior's features at the cut, the target and the run's weight."""
    rows = []
    for curve in curves:
        finite = np.isfinite(curve.values)
        if not finite.any() or curve.fractions[-1] < 0.999:
            continue
        final = loss_space(np.array([final_value(curve)]), mode)
        cuts = [f for f in curve.fractions[finite] if f <= MAX_FRACTION + 1e-9]
        for cut in cuts:
            shaped = shape_features([curve], float(cut), mode=mode)
            if shaped is None or final is None:
                continue
            features, early = shaped
            target = float(np.log(final[0] / early[0]))
            rows.append(
                {
                    "source": source,
                    "trial": curve.trial,
                    **dict(zip(FEATURES, features[0], strict=True)),
                    "target": target,
                }
            )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["weight"] = 1.0 / frame.groupby("trial")["trial"].transform("size") / frame["trial"].nunique()
    return frame


def fit_model(
    frame: pd.DataFrame, features: Sequence[str], *, coef: Sequence[float] | None = None, bins: Sequence[float] = BINS
) -> dict:
    """Weighted least squares of `target` on `features` (rows where all are present) or, with `coef`
    given, only the intercept (the weighted median residual); and the residuals' 10% / 90%
    quantiles per fraction bin (a bin with < 10 rows borrows the pooled ones)."""
    data = frame.dropna(subset=list(features))
    if len(data) < len(features) + 2:
        raise ValueError(f"too few examples ({len(data)}) to fit features {list(features)}")
    values = data[list(features)].to_numpy(float)
    weight = data["weight"].to_numpy(float)
    y = data["target"].to_numpy(float)
    if coef is None:
        X = np.column_stack([np.ones(len(data)), values]) * np.sqrt(weight)[:, None]
        coef = np.linalg.lstsq(X, y * np.sqrt(weight), rcond=None)[0][1:]
    coef = np.asarray(coef, dtype=float)
    intercept = float(_weighted_quantiles(y - values @ coef, weight, (0.5,))[0])
    residual = y - intercept - values @ coef
    tail = (1 - LEVEL) / 2
    fraction = np.exp(data["log_fraction"].to_numpy(float))
    pooled = _weighted_quantiles(residual, weight, (tail, 1 - tail))
    band_low, band_high, lower_edge = [], [], 0.0
    for edge in bins:
        inside = (fraction > lower_edge + 1e-9) & (fraction <= edge + 1e-9)
        q = _weighted_quantiles(residual[inside], weight[inside], (tail, 1 - tail)) if inside.sum() >= 10 else pooled
        band_low.append(float(q[0]))
        band_high.append(float(q[1]))
        lower_edge = edge
    return {
        "features": list(features),
        "intercept": intercept,
        "coef": [float(b) for b in coef],
        "low": [float(v) for v in np.quantile(values, 0.01, axis=0)],
        "high": [float(v) for v in np.quantile(values, 0.99, axis=0)],
        "bins": list(bins),
        "band_low": band_low,
        "band_high": band_high,
        "examples": int(len(data)),
    }


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: Sequence[float]) -> np.ndarray:
    return np.quantile(values, q, weights=weights / weights.sum(), method="inverted_cdf")


def agreed(coefs: Sequence[Sequence[float]]) -> list[float]:
    """Per coefficient, the smallest in size where every source agrees on its sign, else 0: the prior
    moves a run only as far as every source says it should."""
    table = np.asarray(coefs, dtype=float)
    same_sign = (np.sign(table) == np.sign(table[0])).all(axis=0)
    return [float(c) for c in np.where(same_sign, np.sign(table[0]) * np.abs(table).min(axis=0), 0.0)]


def slope_noise(frame: pd.DataFrame) -> float:
    """std / |mean| of the power-law extrapolations of a source's two-point cuts (see `prior.feature_set`)."""
    power = frame["power"].dropna()
    return float(power.std() / abs(power.mean())) if len(power) > 1 and power.mean() != 0 else float("inf")


def learn(frames: dict[str, pd.DataFrame], *, max_noise: float = MAX_NOISE) -> dict[str, dict]:
    """The "fraction" model (coefficients every source agrees on; its band wide enough for each source)
    and the "fraction+power" model (fit on the sources whose slopes are signal, not noise)."""
    frames = {name: f.assign(weight=f["weight"] / f["weight"].sum()) for name, f in frames.items()}
    pooled = pd.concat(frames.values(), ignore_index=True)
    single = FEATURE_SETS["fraction"]
    coef = agreed([fit_model(f, single)["coef"] for f in frames.values()])
    shared = fit_model(pooled, single, coef=coef)
    # The band must hold for each source, not only for their mixture: each bin's widest source band.
    for frame in frames.values():
        own = fit_model(frame, single, coef=coef)
        shift = own["intercept"] - shared["intercept"]
        shared["band_low"] = [min(a, b + shift) for a, b in zip(shared["band_low"], own["band_low"], strict=True)]
        shared["band_high"] = [max(a, b + shift) for a, b in zip(shared["band_high"], own["band_high"], strict=True)]
    clean = [f for f in frames.values() if slope_noise(f) <= max_noise]
    if not clean:
        raise ValueError(f"no source has slopes with noise <= {max_noise}: nothing to learn the power model from")
    return {
        "fraction": shared,
        "fraction+power": fit_model(pd.concat(clean, ignore_index=True), FEATURE_SETS["fraction+power"]),
    }


# --- reading the design part of scan-bench ---------------------------------------------------------


def _curves(frame: pd.DataFrame, fraction: str, value: str) -> list[Curve]:
    out = []
    for key, rows in frame.sort_values(["config_id", fraction]).groupby("config_id", sort=True):
        out.append(Curve(rows[fraction].to_numpy(float), rows[value].to_numpy(float), {}, int(key)))
    return out


def design_curves() -> dict[str, list[Curve]]:
    """The design runs: all of llm.csv, vlm.csv's runs with total_epochs in DESIGN_VLM_EPOCHS."""
    vlm = pd.read_csv(DATA / "vlm.csv", usecols=["config_id", "total_epochs", "training_progress", "val_loss"])
    vlm = vlm[vlm["total_epochs"].isin(DESIGN_VLM_EPOCHS)].replace([np.inf, -np.inf], np.nan)
    llm = pd.read_csv(DATA / "llm.csv", usecols=["config_id", "step_fraction", "valid_loss"], low_memory=False)
    return {
        "vlm": _curves(vlm, "training_progress", "val_loss"),
        "llm": _curves(llm, "step_fraction", "valid_loss"),
    }


def provenance(frames: dict[str, pd.DataFrame]) -> dict:
    return {
        "made_by": "benchmarks/learn_prior.py (foretune), " + date.today().isoformat(),
        "sources": {
            "llm.csv": "scan-bench 0.2.3 (https://pypi.org/project/scan-bench/), licence MIT; "
            f"all complete runs, valid_loss; {frames['llm']['trial'].nunique()} runs",
            "vlm.csv": "scan-bench 0.2.3 (https://pypi.org/project/scan-bench/), licence CC BY-SA 4.0 "
            "(https://creativecommons.org/licenses/by-sa/4.0/); complete runs with total_epochs "
            f"{', '.join(map(str, DESIGN_VLM_EPOCHS))}, val_loss; {frames['vlm']['trial'].nunique()} runs",
        },
        "changes": "no curve is included: only least-squares coefficients, feature ranges and residual quantiles "
        "computed from the design runs listed above",
        "licence": "this file (not the rest of foretune) is licensed CC BY-SA 4.0 "
        "(https://creativecommons.org/licenses/by-sa/4.0/): it is treated as material adapted from vlm.csv "
        "(CC BY-SA 4.0, ScAn-Bench, scan-bench 0.2.3 on PyPI), so it keeps that licence and this attribution; "
        "llm.csv (MIT, same package) is credited too, though no copy or substantial portion of it is included",
        "report_only": "vlm.csv total_epochs 8-10, tests/data/replay_curves.csv, benchmarks/data/lora_curves.csv odd trials",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    frames = {name: examples(curves, mode="min", source=name) for name, curves in design_curves().items()}
    noise = {name: round(slope_noise(frame), 3) for name, frame in frames.items()}
    prior = {
        "provenance": {**provenance(frames), "slope_noise": noise},
        "max_noise": MAX_NOISE,
        "models": learn(frames),
    }
    args.out.write_text(json.dumps(prior, indent=1) + "\n")
    for name, model in prior["models"].items():
        print(
            name,
            model["examples"],
            "examples; coef",
            np.round(model["coef"], 3),
            "band",
            model["band_low"],
            model["band_high"],
        )


if __name__ == "__main__":
    main()
