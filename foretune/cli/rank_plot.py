"""`foretune rank --plot` and `rank-eval --plot`: a ranking, and how each predictor did, as pictures.

`rank`: left, every ranked run's curve up to --at (the best --top in colour, the others faint) over the finished
runs' whole curves (--fit, grey); right, the best `MAX_ROWS` runs by rank, each with its predicted final and 80%
interval and its value at --at. Where no final was predicted (too few finished runs) the right panel shows the
early values the runs are ranked by and says so: never a number the predictor did not make. `rank-eval`: per
predictor, predicted final against final (`evaluation_figure`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from foretune.cli.plots import pyplot
from foretune.errors import ForetuneError
from foretune.predictors import Curve
from foretune.predictors._learned import extra_features
from foretune.predictors.evaluation import Scored

MAX_ROWS = 30  # more than this many rows no longer read as a list
FORMATS = (".png", ".svg", ".pdf")


def check_plot_path(path: Path) -> None:
    """One clear error before any work for a --plot path matplotlib cannot write."""
    from foretune.folders import check_output_folder

    if path.is_dir():
        raise ForetuneError(f"--plot {path}: that is a folder; give an image file, e.g. --plot {path / 'ranking.png'}")
    if path.suffix.lower() not in FORMATS:
        raise ForetuneError(f"--plot {path}: give a file ending in {', '.join(FORMATS)}, e.g. --plot ranking.png")
    check_output_folder(path.parent, "--plot")


def ranking_figure(
    table: pd.DataFrame,
    runs: Sequence[Curve],
    finished: Sequence[Curve],
    *,
    at: float,
    metric: str,
    top: int,
    basis: str,
    ranked_by: str | None = None,
):
    """The figure (`ranking_table`'s rows, best first; `runs` the ranked runs' curves up to `at`). `ranked_by`: the
    loss that ranked the runs where no final was predicted (`Prediction.follows`): its values at `at` are drawn."""
    plt = pyplot()
    fig, (curves_ax, rows_ax) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    for i, curve in enumerate(finished):
        label = "finished runs (--fit)" if i == 0 else None
        curves_ax.plot(curve.fractions, curve.values, color="0.75", linewidth=0.8, label=label)
    by_trial = {str(c.trial): c for c in runs}
    best = [str(t) for t in table["trial"].head(top)]
    colours = dict(zip(best, plt.get_cmap("tab10")(np.arange(len(best)) % 10), strict=True))
    for trial, curve in by_trial.items():
        if trial not in colours:
            curves_ax.plot(curve.fractions, curve.values, color="tan", alpha=0.6, linewidth=0.8)
    for rank, trial in enumerate(best, start=1):  # the best last, so drawn on top
        curve = by_trial[trial]
        curves_ax.plot(
            curve.fractions, curve.values, marker="o", markersize=3, color=colours[trial], label=f"#{rank}: {trial}"
        )
    curves_ax.axvline(at, color="black", linestyle=":", linewidth=1, label=f"--at {at:g}")
    title = "curves up to --at, finished runs whole" if finished else "curves up to --at"
    curves_ax.set(xlabel="budget fraction", ylabel=metric, xlim=(0, 1.02 if finished else 1.1 * at), title=title)
    curves_ax.legend(fontsize=7, loc="best")

    shown = table.head(MAX_ROWS)
    y = -np.arange(len(shown))  # rank 1 at the top
    if ranked_by is not None:  # what ordered the rows, not the score beside it
        early = extra_features([by_trial[str(t)] for t in shown["trial"]], at, [ranked_by])[:, 0]
        rows_ax.plot(early, y, "o", markerfacecolor="none", color="0.4", label=f"{ranked_by} at {at:g} (ranks them)")
    else:
        rows_ax.plot(shown["early_value"], y, "o", markerfacecolor="none", color="0.4", label=f"value at {at:g}")
    predicted = shown["predicted_final"].notna().to_numpy()
    if predicted.any():
        made = shown[predicted]
        xerr = np.vstack([made["predicted_final"] - made["lower"], made["upper"] - made["predicted_final"]]).clip(0)
        rows_ax.errorbar(
            made["predicted_final"], y[predicted], xerr=xerr, fmt="o", color="tab:blue", ecolor="lightsteelblue",
            label="predicted final, 80% interval",
        )  # fmt: skip
        for trial, value, height in zip(made["trial"].astype(str), made["predicted_final"], y[predicted], strict=True):
            if trial in colours:  # the best --top in their curves' colours
                rows_ax.plot(value, height, "o", color=colours[trial], zorder=3)
    rows_ax.set_yticks(y, [f"#{r}: {t}" for r, t in zip(shown["rank"], shown["trial"], strict=True)], fontsize=7)
    more = f"the best {len(shown)} of {len(table)}" if len(table) > len(shown) else f"{len(table)} runs"
    rows_ax.set(xlabel=ranked_by or metric, title=f"ranked at {at:g}: {more}")
    rows_ax.legend(fontsize=7, loc="best")
    fig.suptitle(basis, fontsize=9)
    fig.tight_layout()
    return fig


def evaluation_figure(scored: dict[str, Scored], finals: np.ndarray, *, at: float, metric: str):
    """`rank-eval --plot`: per predictor, each complete run's final predicted at `at` (with its 80% interval; red
    where the final fell outside) against the final; a predictor that predicted no final gets its panel's words only."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scored), figsize=(4 * len(scored), 4.2), squeeze=False)
    low, high = float(np.min(finals)), float(np.max(finals))
    for ax, (label, result) in zip(axes[0], scored.items(), strict=True):
        shown, spearman = result.shown, result.scores["spearman"]
        ax.set(xlabel=f"final {metric}", ylabel=f"predicted final at {at:g}")
        if not shown.predicted:  # the panel's words only: no number it did not predict
            ax.set_title(f"{label}: Spearman {spearman:.2f}, ranking only", fontsize=9)
            ax.set_axis_off()
            words = textwrap.fill(shown.basis, 40)
            ax.text(0.5, 0.5, words, ha="center", va="center", fontsize=8, transform=ax.transAxes)
            continue
        inside = (shown.lower <= finals) & (finals <= shown.upper)
        for keep, colour, what in ((inside, "tab:blue", "inside"), (~inside, "tab:red", "outside")):
            if keep.any():
                yerr = np.vstack([shown.mean[keep] - shown.lower[keep], shown.upper[keep] - shown.mean[keep]])
                ax.errorbar(finals[keep], shown.mean[keep], yerr=yerr.clip(0), fmt="o", markersize=4, color=colour,
                            ecolor=colour, alpha=0.6, label=f"final {what} its 80% interval")  # fmt: skip
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, linestyle="--")
        ax.set_title(f"{label}: Spearman {spearman:.2f}, {int(inside.sum())} of {len(finals)} inside", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def write_figure(path: Path, fig) -> None:
    """Save `fig` to `path` (its suffix picks the format) and free it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
