"""The ranking report of a study: a table of trials, CSV + markdown + PNG plots, and `best.yaml`.

Early rank = rank by the score at the early fraction (what the seed paper ranks by); final rank =
rank by the final score among trials that ran to the end. A pruned trial shows its predicted final.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from foretune.errors import ForetuneError
from foretune.search.storage import INTERRUPTED_ATTR, trial_curve

CONFIG_ATTR = "foretune_config"
ZERO_SHOT_ATTR = "zero_shot_test"  # the untuned model's test scores (study user attribute)


@dataclass
class Report:
    table: pd.DataFrame
    best: dict | None  # {"number", "value", "params"} of the best complete trial
    files: dict[str, Path]
    metric: str
    mode: str
    zero_shot: dict | None = None  # the untuned model's test scores, when the search measured them


def _mode(study: optuna.Study) -> str:
    return "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"


def _rank(values: pd.Series, mode: str) -> pd.Series:
    return values.rank(ascending=(mode == "min"), method="min").astype("Int64")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (interrupted-and-retried trials left out)."""
    config = study.user_attrs.get(CONFIG_ATTR, {})
    early_fraction = float(config.get("early_stage", {}).get("fraction", 0.2))
    mode = _mode(study)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(INTERRUPTED_ATTR) or trial.state in (TrialState.WAITING,):
            continue
        attrs = trial.user_attrs
        curve = trial_curve(trial)
        early = attrs.get("early_score")
        if early is None and len(curve.values):
            seen = curve.upto(early_fraction)
            early = float(seen.values[-1]) if len(seen.values) else None
        final = trial.value if trial.state == TrialState.COMPLETE else None
        predicted = attrs.get("predicted_final")
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "final": final,
                "predicted_final": predicted,
                "estimate": final if final is not None else predicted,
                "early_score": early,
                "predicted_lower": attrs.get("predicted_lower"),
                "predicted_upper": attrs.get("predicted_upper"),
                "fraction_reached": attrs.get("fraction_reached", float(curve.fractions[-1]) if len(curve.fractions) else 0.0),
                "early_decision": attrs.get("early_decision"),
                "error": attrs.get("error"),
                **{f"param.{k}": v for k, v in trial.params.items()},
                **{k: v for k, v in attrs.items() if k.startswith("test_")},
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for column in ("final", "predicted_final", "estimate", "early_score"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    table.insert(2, "early_rank", _rank(table["early_score"], mode))
    table.insert(3, "final_rank", _rank(table["final"], mode))
    order = table["estimate"].rank(ascending=(mode == "min"), method="first").fillna(len(table) + 1)
    return table.assign(_o=order).sort_values(["_o", "trial"]).drop(columns="_o").reset_index(drop=True)


def best_trial(study: optuna.Study) -> dict | None:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not complete:
        return None
    pick = max if _mode(study) == "max" else min
    best = pick(complete, key=lambda t: t.value)
    test = {k.removeprefix("test_"): v for k, v in best.user_attrs.items() if k.startswith("test_")}
    return {"number": best.number, "value": best.value, "params": dict(best.params), "test": test}


def best_config_yaml(study: optuna.Study, best: dict) -> str:
    from foretune.config import validate_config

    config = validate_config(study.user_attrs.get(CONFIG_ATTR, {}), "(stored with the study)")
    tuned = config.with_overrides({f"train.{k}": v for k, v in best["params"].items()}, where="best trial")
    header = (
        f"# Best trial {best['number']} of study '{study.study_name}': {config.search.metric} = {best['value']:.6g}\n"
        f"# Ready to train: foretune train best.yaml\n"
    )
    return header + tuned.to_yaml()


def _markdown(table: pd.DataFrame, study: optuna.Study, best: dict | None, metric: str, mode: str) -> str:
    counts = table["state"].value_counts().to_dict() if not table.empty else {}
    lines = [
        f"# Study `{study.study_name}`",
        "",
        f"Metric: `{metric}` ({'higher' if mode == 'max' else 'lower'} is better). Trials: "
        + ", ".join(f"{n} {s.lower()}" for s, n in counts.items()),
        "",
    ]
    if best:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        lines += [f"Best: trial {best['number']}, {metric} = {best['value']:.6g} ({params}); config in `best.yaml`.", ""]
        zero_shot = study.user_attrs.get(ZERO_SHOT_ATTR) or {}
        if best.get("test") and zero_shot:
            lines += ["| held-out test (generated answers) | zero-shot | best trial |", "|---|---|---|"]
            lines += [f"| {k} | {zero_shot.get(k, float('nan')):.4f} | {v:.4f} |" for k, v in best["test"].items()
                      if k in ("accuracy", "exact_match", "null_fp_rate", "f1")]
            lines += [""]
    complete = table[table["state"] == "COMPLETE"] if not table.empty else table
    if len(complete) >= 3:
        from scipy.stats import spearmanr

        rho = spearmanr(complete["early_rank"].astype(float), complete["final_rank"].astype(float)).statistic
        lines += [f"Spearman (early rank vs final rank, complete trials): {rho:.2f}", ""]
    shown = table.drop(columns=[c for c in ("error",) if c in table and table[c].isna().all()])
    lines.append(markdown_table(shown))
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table (no `tabulate` dependency)."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _plots(study: optuna.Study, table: pd.DataFrame, run_dir: Path, metric: str) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    colours = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange", "FAIL": "tab:red", "RUNNING": "tab:gray"}
    best = best_trial(study)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labelled = set()
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(INTERRUPTED_ATTR) or not trial.intermediate_values:
            continue
        curve = trial_curve(trial)
        state = trial.state.name
        is_best = best is not None and trial.number == best["number"]
        ax.plot(
            curve.fractions,
            curve.values,
            marker="o",
            markersize=2.5,
            linewidth=2.5 if is_best else 1.0,
            color="tab:green" if is_best else colours.get(state, "tab:gray"),
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
    ax.legend()
    fig.tight_layout()
    files["curves_png"] = run_dir / "curves.png"
    fig.savefig(files["curves_png"], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    judged = table.dropna(subset=["predicted_final"]) if not table.empty else table
    complete = judged[judged["state"] == "COMPLETE"]
    if len(complete):
        yerr = None
        if complete["predicted_lower"].notna().all():
            yerr = np.vstack(
                [
                    complete["predicted_final"] - complete["predicted_lower"].astype(float),
                    complete["predicted_upper"].astype(float) - complete["predicted_final"],
                ]
            ).clip(min=0)
        ax.errorbar(complete["final"], complete["predicted_final"], yerr=yerr, fmt="o", color="tab:blue",
                    ecolor="lightsteelblue", label="complete: predicted at early stage vs final")
        lo = float(np.nanmin([complete["final"].min(), complete["predicted_final"].min()]))
        hi = float(np.nanmax([complete["final"].max(), complete["predicted_final"].max()]))
        ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, linestyle="--", label="perfect prediction")
    pruned = judged[judged["state"] == "PRUNED"]
    for value in pruned["predicted_final"]:
        ax.axhline(value, color="tab:orange", alpha=0.3, linewidth=1)
    if len(pruned):
        ax.plot([], [], color="tab:orange", alpha=0.5, label="pruned: predicted final (no final)")
    ax.set_xlabel(f"final {metric}")
    ax.set_ylabel(f"predicted final {metric}")
    ax.set_title("Early-stage prediction vs final")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no trial judged yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    files["predicted_png"] = run_dir / "predicted_vs_final.png"
    fig.savefig(files["predicted_png"], dpi=120)
    plt.close(fig)
    return files


def build_report(study: optuna.Study, run_dir: str | Path) -> Report:
    """Write trials.csv, report.md, curves.png, predicted_vs_final.png and best.yaml into `run_dir`."""
    run_dir = Path(run_dir)
    config = study.user_attrs.get(CONFIG_ATTR, {})
    metric = config.get("search", {}).get("metric", "value")
    mode = _mode(study)
    table = trials_table(study)
    best = best_trial(study)
    best_yaml = best_config_yaml(study, best) if best and config else None
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {"csv": run_dir / "trials.csv", "markdown": run_dir / "report.md"}
    table.to_csv(files["csv"], index=False)
    files["markdown"].write_text(_markdown(table, study, best, metric, mode))
    files.update(_plots(study, table, run_dir, metric))
    if best_yaml:
        files["best_yaml"] = run_dir / "best.yaml"
        files["best_yaml"].write_text(best_yaml)
    return Report(table, best, files, metric, mode, study.user_attrs.get(ZERO_SHOT_ATTR))


def load_study_for_report(target: str | Path | None, *, storage: str | None, study_name: str | None):
    """`foretune report RUN_DIR` or `--storage URL --study NAME` -> (study, folder to write into)."""
    from foretune.search.storage import JOURNAL_NAME, find_study_name, open_storage, redact

    if storage is None:
        if target is None:
            raise ForetuneError("give a run folder (e.g. runs/search-foretune) or --storage URL")
        path = Path(target)
        journal = path / JOURNAL_NAME if path.is_dir() else path
        if not journal.is_file():
            raise ForetuneError(f"no study found at {path} (expected the journal file {journal}; or pass --storage URL)")
        storage, out = str(journal), journal.parent
    else:
        out = Path(target) if target is not None else Path("runs") / "report"
    opened = open_storage(storage, must_exist=True)
    name = find_study_name(opened, study_name, where=redact(storage))
    return optuna.load_study(study_name=name, storage=opened), out


def print_report(report: Report, console, *, limit: int = 30) -> None:
    """The ranking as a terminal table: narrow columns, the hyperparameters folded into one."""
    from rich.table import Table

    def cell(value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return "-"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = Table(title=f"trials ({report.metric}, {'higher' if report.mode == 'max' else 'lower'} is better)")
    columns = {"trial": "trial", "state": "state", "early_rank": "rank early", "final_rank": "rank final",
               "early_score": "early", "predicted_final": "predicted", "final": "final"}
    for label in columns.values():
        table.add_column(label, justify="right", no_wrap=True)
    params = [c for c in report.table.columns if c.startswith("param.")]
    table.add_column("hyperparameters", overflow="fold", min_width=28)
    for _, row in report.table.head(limit).iterrows():
        folded = " ".join(f"{c.removeprefix('param.')}={cell(row.get(c))}" for c in params)
        table.add_row(*(cell(row.get(c)) for c in columns), folded)
    console.print(table)
    if report.best:
        console.print(f"best: trial {report.best['number']}, {report.metric} = {report.best['value']:.6g}")
        test = report.best.get("test") or {}
        if test and report.zero_shot:
            console.print(
                "held-out test split (generated answers): "
                + ", ".join(f"{k} {report.zero_shot.get(k, float('nan')):.3f} zero-shot -> {test[k]:.3f} fine-tuned"
                            for k in ("accuracy", "exact_match") if k in test),
                highlight=False,
            )
    for label, path in report.files.items():
        console.print(f"  {label}: {path}", highlight=False)
