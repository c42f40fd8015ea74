"""Benchmark: what cutting sweep runs early (EarlyCut) saves, and what it costs in accuracy.

No public data set has both axes a sweep needs (score against sample size n AND each run's curve
against its training budget), so the runs here are simulated: the final score follows a power law
in n (random a, b, c per sweep) and each run's validation curve approaches it as c_run - a_run f^-alpha
(random alpha per run) plus evaluation noise; the held-out score is the validation value plus a fixed
offset plus noise of its own (another sample of products; what a seed changes). The same sweep is
run with and without the cut, on the same simulated runs; epsilon 0.01, tolerance 0.005 (the CLI
defaults), capped by the sweep at the measurement noise around its fitted curve.

    .venv/bin/python benchmarks/sweep_early_cut.py [--sweeps 20] [--predictor late-gain]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from foretune.search.report import markdown_table  # noqa: E402
from foretune.search.sweep import EarlyCut, SaturationSweep, geometric_sizes  # noqa: E402
from foretune.trainers.reporters import Decision  # noqa: E402

FRACTIONS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
SIZES = geometric_sizes(12_800, start=50)


def simulated_runs(sweep_seed: int, curve_noise: float, held_out_noise: float):
    rng = np.random.default_rng(sweep_seed)
    a, b, c = rng.uniform(0.8, 0.95), rng.uniform(1.0, 4.0), rng.uniform(0.3, 0.8)

    def final(n: int) -> float:
        return a - b * n**-c if n > 0 else 0.2

    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        run = np.random.default_rng([sweep_seed, n, seed])
        alpha, start_gap = run.uniform(0.3, 1.0), run.uniform(0.05, 0.3)
        value = final(n)
        for fraction in FRACTIONS if n > 0 else ():
            value = (
                final(n)
                - start_gap * final(n) * (fraction**-alpha - 1) / (0.1**-alpha - 1)
                + run.normal(0, curve_noise)
            )
            if reporter is not None and reporter.report(fraction, 0, {"accuracy": value}) == Decision.STOP:
                break
        return {"accuracy": value - 0.02 + run.normal(0, held_out_noise)}

    # Minimum useful n of the true curve: b n^-c = epsilon (0.01).
    return train_and_score, final, (b / 0.01) ** (1 / c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=20)
    parser.add_argument("--predictor", default="late-gain", help="EarlyCut's predictor (late-gain, snapshot, ...).")
    args = parser.parse_args()
    rows = []
    for noise, held_out in ((0.001, 0.001), (0.001, 0.005), (0.003, 0.005), (0.01, 0.01)):
        for adaptive in (False, True):
            for s in range(args.sweeps):
                task, final, truth = simulated_runs(s, noise, held_out)
                common = dict(
                    sizes=SIZES, adaptive=adaptive, n_bootstrap=30, seed=s, attribute_prefix=None, bounds=(0.0, 1.0)
                )
                whole = SaturationSweep(task, **common).run()
                cut = SaturationSweep(
                    task, early_cut=EarlyCut(metric="accuracy", tolerance=0.005, predictor=args.predictor), **common
                ).run()
                errors = [abs(p.score - (final(p.n) - 0.02)) for p in cut.points if p.predicted]
                u_whole, u_cut = whole.saturation.min_useful_n or np.inf, cut.saturation.min_useful_n or np.inf
                rows.append(
                    {
                        "curve_noise": noise,
                        "held_out_noise": held_out,
                        "mode": "adaptive" if adaptive else "grid",
                        "compute_whole": whole.compute_fraction,
                        "compute_cut": cut.compute_fraction,
                        "cut_share": cut.cut_short / max(sum(p.n > 0 for p in cut.points), 1),
                        "max_error": max(errors) if errors else np.nan,
                        "whole_ok": max(u_whole / truth, truth / u_whole) <= 1.5,
                        "cut_ok": max(u_cut / truth, truth / u_cut) <= 1.5,
                    }
                )
    table = pd.DataFrame(rows)
    summary = (
        table.groupby(["curve_noise", "held_out_noise", "mode"])
        .agg(
            sweeps=("compute_cut", "size"),
            compute_whole=("compute_whole", "mean"),
            compute_cut=("compute_cut", "mean"),
            runs_cut=("cut_share", "mean"),
            worst_predicted_final_error=("max_error", "max"),
            useful_n_x1_5_whole=("whole_ok", "mean"),
            useful_n_x1_5_cut=("cut_ok", "mean"),
        )
        .reset_index()
    )
    print(markdown_table(summary.map(lambda v: f"{v:.3f}" if isinstance(v, float) else v)))


if __name__ == "__main__":
    main()
