"""The PNGs the commands write: a fine-tune's curve (`train`), a study's curves and predictions (`search`, `report`).

matplotlib is imported inside the functions so that `foretune --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from foretune.keys import CONFIG_ATTR, INTERRUPTED_ATTR
from foretune.search.audit import AUDIT
from foretune.search.final_noise import final_ranges
from foretune.search.report import Report
from foretune.search.storage import trial_curve

STATE_COLOURS = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange", "FAIL": "tab:red", "RUNNING": "tab:gray"}


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curve(curve: pd.DataFrame, path: Path, *, title: str) -> None:
    """curve.png of `foretune train`: the validation scores (left) and the losses (right) by budget fraction."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for metric in ("accuracy", "exact_match", "f1"):
        if metric in curve:
            left.plot(curve["fraction"], curve[metric], marker="o", label=metric)
    left.set(xlabel="budget fraction", ylabel="score (validation)", ylim=(0, 1), title=title)
    left.legend()
    for metric in ("eval_loss", "train_loss"):
        if metric in curve:
            right.plot(curve["fraction"], curve[metric], marker="o", label=metric)
    right.set(xlabel="budget fraction", ylabel="loss", title="loss")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_report(study: optuna.Study, report: Report, run_dir: Path) -> None:
    """Write curves.png and predicted_vs_final.png next to the report's tables and list them in
    `report.files` before best.yaml (the order `foretune report` prints)."""
    best_yaml = report.files.pop("best_yaml", None)
    report.files["curves_png"] = run_dir / "curves.png"
    plot_learning_curves(study, report.best, report.files["curves_png"], metric=report.metric)
    report.files["predicted_png"] = run_dir / "predicted_vs_final.png"
    ranges = final_ranges(study)
    plot_predicted_vs_final(report.table, report.files["predicted_png"], metric=report.metric, final_ranges=ranges)
    if report.pareto is not None and len(report.pareto):
        report.files["pareto_png"] = run_dir / "pareto.png"
        names = list(study.metric_names or [])
        plot_pareto(report.pareto, report.files["pareto_png"], names=names, title=study.study_name)
    if best_yaml is not None:
        report.files["best_yaml"] = best_yaml


def plot_learning_curves(study: optuna.Study, best: dict | None, path: Path, *, metric: str) -> None:
    """Every trial's curve coloured by its outcome, the best one thick and green, the early stage dotted."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labelled = set()
    for trial in study.get_trials(deepcopy=False):
        curve = trial_curve(trial)
        if trial.user_attrs.get(INTERRUPTED_ATTR) or not len(curve.values):
            continue
        state = trial.state.name
        is_best = best is not None and trial.number == best["number"]
        ax.plot(
            curve.fractions,
            curve.values,
            marker="o",
            markersize=2.5,
            linewidth=2.5 if is_best else 1.0,
            color="tab:green" if is_best else STATE_COLOURS.get(state, "tab:gray"),
            alpha=1.0 if is_best else 0.7,
            label=("best" if is_best else state.lower()) if (is_best or state not in labelled) else None,
        )
        labelled.add(state)
    config = study.user_attrs.get(CONFIG_ATTR, {})
    early = config.get("early_stage", {}).get("fraction")
    if early:
        ax.axvline(early, color="black", linestyle=":", linewidth=1, label=f"early stage ({early:.0%})")
    ax.set_xlabel("budget fraction")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves by outcome — {study.study_name}")
    if labelled:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no trial has reported yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_predicted_vs_final(
    table: pd.DataFrame, path: Path, *, metric: str, final_ranges: pd.DataFrame | None = None
) -> None:
    """Complete trials: the final predicted at the early stage (with its interval) against the real final (with,
    where `final_ranges` has the trial, the middle 90% of its final on resampled validation items:
    `final_noise.final_ranges`); pruned trials, which have no final, as horizontal lines at their predicted final.
    Only predictions that were made: a trial ranked by its early score alone (no final predicted) is left out."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    if table.empty:  # no trial has started (a search stopped before its first): an empty frame has no columns
        table = pd.DataFrame(columns=["state", "predicted_final", "final"])
    judged = table.dropna(subset=["predicted_final"])
    complete = judged[judged["state"] == "COMPLETE"]
    resampled = False
    if len(complete):
        audited = complete.get("early_decision", pd.Series(index=complete.index, dtype=object)) == AUDIT
        groups = (
            (complete[~audited], "complete: predicted at early stage vs final", ("o", "tab:blue", "lightsteelblue")),
            (complete[audited], "audited: the verdict would have pruned it", ("s", "tab:green", "palegreen")),
        )
        for shown, label, (marker, color, bar) in groups:
            if shown.empty:
                continue
            yerr = None
            if shown["predicted_lower"].notna().all():
                yerr = np.vstack(
                    [
                        shown["predicted_final"] - shown["predicted_lower"].astype(float),
                        shown["predicted_upper"].astype(float) - shown["predicted_final"],
                    ]
                ).clip(min=0)
            xerr = None  # the final's own spread on resampled validation items, where its draws were stored
            if final_ranges is not None and shown["trial"].isin(final_ranges.index).all():
                ranges = final_ranges.loc[shown["trial"]]
                final = shown["final"].to_numpy(dtype=float)
                xerr = np.vstack([final - ranges["low"].to_numpy(), ranges["high"].to_numpy() - final]).clip(min=0)
                resampled = True
            ax.errorbar(
                shown["final"],
                shown["predicted_final"],
                xerr=xerr,
                yerr=yerr,
                fmt=marker,
                color=color,
                ecolor=bar,
                label=label,
            )
        lo = float(np.nanmin([complete["final"].min(), complete["predicted_final"].min()]))
        hi = float(np.nanmax([complete["final"].max(), complete["predicted_final"].max()]))
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, linestyle="--", label="perfect prediction")
    pruned = judged[judged["state"] == "PRUNED"]
    for value in pruned["predicted_final"]:
        ax.axhline(value, color="tab:orange", alpha=0.3, linewidth=1)
    if len(pruned):
        ax.plot([], [], color="tab:orange", alpha=0.5, label="pruned: predicted final (no final)")
    ax.set_xlabel(f"final {metric}" + ("\n(bars: 90% of it on resampled validation items)" if resampled else ""))
    ax.set_ylabel(f"predicted final {metric} (bars: 80% interval)")
    ax.set_title("Early-stage prediction vs final")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no final predicted yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_pareto(pareto: pd.DataFrame, path: Path, *, names: list[str], title: str) -> None:
    """pareto.png: complete trials by the first two objectives, the front joined up, the knee circled;
    colours name the searched model when the space searched `model.name`."""
    plt = pyplot()
    x_name, y_name = names[1], names[0]  # cost across, score up
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    groups = pareto.groupby("param.model.name") if "param.model.name" in pareto else [("trials", pareto)]
    for label, group in groups:
        ax.scatter(group[x_name], group[y_name], s=28, alpha=0.8, label=str(label).rsplit("/", 1)[-1])
    front = pareto[pareto["front_rank"] == 1].sort_values(x_name)
    ax.plot(front[x_name], front[y_name], color="black", linewidth=1, label="Pareto front")
    knee = pareto[pareto["knee"]]
    ax.scatter(knee[x_name], knee[y_name], s=160, facecolors="none", edgecolors="tab:red", linewidths=2, label="knee")
    ax.set(xlabel=x_name, ylabel=y_name, title=f"Pareto front — {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
