"""Benchmark (issue 15): a direct, nearest-neighbour estimate of the minimum sufficient n, blended with the fit.

Reads the design-half extracts of `saturation_correction.py extract` (the default model's uncorrected
answers and the prefixes, design half of the LCDB datasets only), builds the prefix features of
`foretune.predictors.saturation.direct`, and cross-validates by dataset (the 5 folds of
`saturation_correction.cross_validate`, fixed by seed 0 before any result was looked at):

- the corrected fit alone (round 5's model; out-of-fold coefficients);
- the nearest-neighbour estimate alone, for a few neighbour counts;
- their blend in log space with one weight per group (the regime, or "3-5 sizes").

The CV does not apply the model's reach guard (`direct.REACH_QUANTILE`: nearly every design prefix
is within reach of the others by construction). `--write` stores the design table (`direct_table.csv.gz`), the neighbour count, the blend weights
and the blended answer's cross-validated error quantiles (the interval) into the package.

    nice -n 10 .venv/bin/python benchmarks/saturation_direct.py fit \
        --features /tmp/satfeat.csv /tmp/satfeat_rest.csv /tmp/satfeat_short.csv [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from saturation_correction import FOLDS, GENERATED, HIT, cross_validate, design_matrix, replace_generated  # noqa: E402
from saturation_unseen import EPSILON  # noqa: E402

from foretune.predictors.saturation import correction as corr  # noqa: E402
from foretune.predictors.saturation import direct  # noqa: E402
from foretune.predictors.saturation.points import noise_level  # noqa: E402

NEIGHBOUR_CHOICES = (10, 20, 40, 80, 160)
WEIGHT_CHOICES = (0.0, 0.25, 0.5, 0.75, 1.0)


def direct_features(table: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """(raw DIRECT_FEATURES per curve, group index, target log(truth / largest n), and the bounds of an
    answer in the same units: log(smallest n / largest n), log(max_n / largest n))."""
    rows, groups, target, floor, upper = [], [], [], [], []
    for row in table.itertuples():
        sizes = np.array(row.prefix_n.split(), float)
        y = np.array(row.prefix_y.split(), float)
        noise = noise_level(y, {s: np.array([v]) for s, v in zip(sizes, y, strict=True)})
        asymptote = row.asymptote if np.isfinite(row.asymptote) else row.at_max
        rows.append(
            direct.prefix_features(
                sizes,
                y,
                answer=row.ours,
                score_at_max=row.at_max,
                asymptote=asymptote,
                max_n=row.N,
                noise=noise,
                epsilon=EPSILON,
            )
        )
        groups.append(direct.GROUPS.index(corr.correction_group(row.regime, len(sizes))))
        target.append(np.log(row.truth / sizes[-1]))
        floor.append(np.log(sizes[0] / sizes[-1]))
        upper.append(np.log(row.N / sizes[-1]))
    return np.array(rows), np.array(groups), np.array(target), np.array(floor), np.array(upper)


def folds_of(table: pd.DataFrame) -> np.ndarray:
    """The dataset folds of `saturation_correction.cross_validate` (same seed, same order)."""
    datasets = np.unique(table["openmlid"])
    fold_of = dict(zip(datasets, np.random.default_rng(0).integers(0, FOLDS, len(datasets)), strict=True))
    return table["openmlid"].map(fold_of).to_numpy()


def out_of_fold_direct(x: np.ndarray, groups: np.ndarray, target: np.ndarray, fold: np.ndarray, k: int) -> np.ndarray:
    """The nearest-neighbour estimate of every curve from the other folds' curves (standardized on them)."""
    estimate = np.empty(len(target))
    for f in range(FOLDS):
        train, test = fold != f, np.nonzero(fold == f)[0]
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        z_train = (x[train] - mean) / scale
        names = np.array(direct.GROUPS, dtype=object)[groups]
        for i in test:
            value = direct.nearest_log_answer(z_train, names[train], target[train], (x[i] - mean) / scale, names[i], k)
            estimate[i] = np.nan if value is None else value
    return estimate


def hit_rate(estimate: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(estimate - target) <= HIT + 1e-9))


def choose_blend(corrected, nearest, target, groups, upper, floor) -> tuple[dict[str, float], np.ndarray]:
    """One weight per group (best cross-validated "within x1.5"; ties: the smaller) and the blended answers."""
    weights, blended = {}, corrected.copy()
    for g, name in enumerate(direct.GROUPS):
        part = groups == g
        scores = []
        for w in WEIGHT_CHOICES:
            value = np.clip((1 - w) * corrected[part] + w * nearest[part], floor[part], upper[part])
            scores.append(hit_rate(value, target[part]))
        weights[name] = WEIGHT_CHOICES[int(np.argmax(scores))]
        w = weights[name]
        blended[part] = np.clip((1 - w) * corrected[part] + w * nearest[part], floor[part], upper[part])
        shown = ", ".join(f"{w:g}: {score:.1%}" for w, score in zip(WEIGHT_CHOICES, scores, strict=True))
        print(f"  {name}: {part.sum()} curves, within x1.5 by weight {shown}")
    return weights, blended


def generated_text(k: int, weights: dict[str, float], residual: np.ndarray, groups: np.ndarray, curves: int) -> str:
    quant = "\n".join(
        f"    {json.dumps(name)}: np.array([{', '.join(f'{v:.3f}' for v in np.quantile(residual[groups == g], direct.RESIDUAL_LEVELS))}]),"
        for g, name in enumerate(direct.GROUPS)
    )
    levels = ", ".join(f"{v:g}" for v in direct.RESIDUAL_LEVELS)
    blend = "\n".join(f"    {json.dumps(name)}: {w:g}," for name, w in weights.items())
    return (
        f"{GENERATED[0]} `benchmarks/saturation_direct.py fit` " + "-" * 41 + "\n"
        f'FITTED_ON = "LCDB 1.0 design half, {curves} curves (5-fold CV by dataset)"\n'
        f"NEIGHBOURS = {k}\n"
        f"BLEND_WEIGHTS: dict[str, float] = {{\n{blend}\n}}\n"
        f"RESIDUAL_LEVELS = np.array([{levels}])\n"
        f"RESIDUAL_QUANTILES: dict[str, np.ndarray] = {{\n{quant}\n}}\n"
    )


def write(table_x, groups, target, text) -> None:
    columns = ["group", "target", *direct.DIRECT_FEATURES]
    frame = pd.DataFrame(np.column_stack([groups, target, table_x]), columns=columns)
    frame["group"] = frame["group"].astype(int)
    frame.to_csv(direct.TABLE, index=False, float_format="%.4f")
    path = Path(direct.__file__)
    replace_generated(path, text)
    print(f"wrote {direct.TABLE} and {path}")


def fit(features: list[Path], save: bool) -> None:
    table = pd.concat([pd.read_csv(path) for path in features], ignore_index=True)
    table = table[table["ours"].notna()].reset_index(drop=True)
    x, groups, target, floor, upper = direct_features(table)
    fold = folds_of(table)
    a, t, _ = design_matrix(table)
    corrected = target - cross_validate(table, a, t)
    print(f"{len(table)} design curves; corrected fit (CV): {hit_rate(corrected, target):.1%} within x1.5")
    best_k, nearest = None, None
    for k in NEIGHBOUR_CHOICES:
        estimate = np.clip(out_of_fold_direct(x, groups, target, fold, k), floor, upper)
        print(f"  nearest {k}: {hit_rate(estimate, target):.1%} within x1.5")
        if nearest is None or hit_rate(estimate, target) > hit_rate(nearest, target):
            best_k, nearest = k, estimate
    weights, blended = choose_blend(corrected, nearest, target, groups, upper, floor)
    residual = target - blended
    print(f"blend (CV, weights chosen on the same folds): {hit_rate(blended, target):.1%} within x1.5")
    for g, name in enumerate(direct.GROUPS):
        part = groups == g
        lo, hi = np.quantile(residual[part], [0.1, 0.9])
        print(
            f"  {name}: {part.sum()} curves, corrected {hit_rate(corrected[part], target[part]):.1%},"
            f" nearest {hit_rate(nearest[part], target[part]):.1%}, blend {hit_rate(blended[part], target[part]):.1%},"
            f" 80% band x[{np.exp(lo):.2f}, {np.exp(hi):.2f}]"
        )
    text = generated_text(best_k, weights, residual, groups, len(table))
    print(text)
    if save:
        write(x, groups, target, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fi = sub.add_parser("fit", help="Cross-validate the nearest-neighbour estimate and its blend; --write stores it.")
    fi.add_argument("--features", type=Path, nargs="+", required=True, help="Extracts (design half only).")
    fi.add_argument("--write", action="store_true", help="Write the table and the blend into the package.")
    args = parser.parse_args()
    fit(args.features, args.write)


if __name__ == "__main__":
    main()
