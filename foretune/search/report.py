"""The ranking report of a study: a table of trials, CSV + markdown, and `best.yaml` (plots: `foretune.cli.plots`).

Early rank = rank by the score at the early fraction (what the seed paper ranks by); final rank =
rank by the final score among trials that ran to the end. A judged trial shows its predicted final and
80% interval when one was predicted (and, once complete, whether its final fell inside), else the basis
of its ranking ("ranked by early score; 1 finished run, no final predicted"), and its losses at the early
fraction (`early_eval_loss`, ...: stored with the trial, the signals the predictor saw). Each trial's costs
(`cost.*`) are columns. A study with several objectives also gets `pareto.csv`: its Pareto front, the
knee marked; `final` and the ranks are then about the first objective, and `best.yaml` is the knee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from foretune.config import EarlyStageConfig, space_key_path
from foretune.keys import (
    CONFIG_ATTR,
    COST_PREFIX,
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FRACTION_ATTR,
    EARLY_SCORE_ATTR,
    ERROR_ATTR,
    FRACTION_REACHED_ATTR,
    HISTORY_STUDIES_ATTR,
    INTERRUPTED_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
    TEST_ATTR_PREFIX,
    TEST_FOLDS_ATTR,
    ZERO_SHOT_ATTR,
)
from foretune.predictors._base import Curve
from foretune.predictors.judged_order import HELD
from foretune.predictors.metric_copies import repeated_losses
from foretune.predictors.metric_names import is_loss
from foretune.search.audit import audit_lines, audited_best_line
from foretune.search.estimate_vs_actual import estimate_vs_actual
from foretune.search.final_noise import audited_lead_line, noise_lines
from foretune.search.held_out_report import held_out_section, scored_trials_line, unscored_best_line
from foretune.search.hindsight import hindsight_lines, spearman_text
from foretune.search.pareto import front_ranks, knee_index
from foretune.search.report_table import early_loss_columns, markdown_table, trials_markdown
from foretune.search.storage import trial_curve


@dataclass
class Report:
    table: pd.DataFrame
    best: dict | None  # {"number", "value", "params"} of the best complete trial
    files: dict[str, Path]
    metric: str
    mode: str
    zero_shot: dict | None = None  # the untuned model's test scores, when the search measured them
    summary: list[str] = field(default_factory=list)  # how the early-stage verdict did (`verdict_summary`)
    pareto: pd.DataFrame | None = None  # several objectives: complete trials, their front rank, the knee


def _mode(study: optuna.Study, objective: int = 0) -> str:
    return "max" if study.directions[objective] == optuna.study.StudyDirection.MAXIMIZE else "min"


def _rank(values: pd.Series, mode: str) -> pd.Series:
    return values.rank(ascending=(mode == "min"), method="min").astype("Int64")


def _study_early_fraction(study: optuna.Study) -> float:
    """The early fraction of the study's config (the config default for a study foretune did not start)."""
    default = EarlyStageConfig.model_fields["fraction"].default
    return float(study.user_attrs.get(CONFIG_ATTR, {}).get("early_stage", {}).get("fraction", default))


def _reached(trial: FrozenTrial, curve: Curve) -> float:
    """The share of its budget a trial used, where it did not record it: all of it once complete (a trial
    that reported no curve used its whole budget too), else as far as its curve goes."""
    if trial.state == TrialState.COMPLETE:
        return 1.0
    return float(curve.fractions[-1]) if len(curve.fractions) else 0.0


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial (interrupted-and-retried trials left out)."""
    study_fraction = _study_early_fraction(study)
    mode = _mode(study)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(INTERRUPTED_ATTR) or trial.state in (TrialState.WAITING,):
            continue
        attrs = trial.user_attrs
        curve = trial_curve(trial)
        early = attrs.get(EARLY_SCORE_ATTR)
        if early is None and len(curve.values):  # not judged (another scheduler): its score at the early fraction
            seen = curve.upto(float(attrs.get(EARLY_FRACTION_ATTR, study_fraction)))
            early = float(seen.values[-1]) if len(seen.values) else None
        final = trial.values[0] if trial.state == TrialState.COMPLETE and trial.values else None
        at = float(attrs.get(EARLY_FRACTION_ATTR, study_fraction))
        predicted = attrs.get(PREDICTED_FINAL_ATTR)
        lower, upper = attrs.get(PREDICTED_LOWER_ATTR), attrs.get(PREDICTED_UPPER_ATTR)
        inside = None if final is None or lower is None or upper is None else bool(lower <= final <= upper)
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name,
                "final": final,
                "predicted_final": predicted,
                "estimate": final if final is not None else predicted,
                "early_score": early,
                "predicted_lower": lower,
                "predicted_upper": upper,
                "final_in_interval": inside,
                "early_basis": attrs.get(EARLY_BASIS_ATTR),
                "fraction_reached": attrs.get(FRACTION_REACHED_ATTR, _reached(trial, curve)),
                "early_decision": attrs.get(EARLY_DECISION_ATTR),
                "error": attrs.get(ERROR_ATTR),
                **early_losses(curve, at),
                **{f"param.{k}": v for k, v in trial.params.items()},
                **{k: v for k, v in attrs.items() if k.startswith(TEST_ATTR_PREFIX)},
                **{k: v for k, v in attrs.items() if k.startswith(COST_PREFIX)},
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


def early_losses(curve: Curve, at: float) -> dict[str, float]:
    """`early_<name>`: each loss the trial reported (eval loss, train loss), at its last evaluation up to `at`."""
    seen = curve.upto(at)
    out = {}
    for name, series in sorted(seen.extras.items()):
        finite = series[np.isfinite(series)]
        if is_loss(name) and len(finite):
            out[f"early_{name}"] = float(finite[-1])
    return out


def best_trial(study: optuna.Study) -> dict | None:
    """The best complete trial; with several objectives, the knee of the Pareto front."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    if not complete:
        return None
    if len(study.directions) > 1:
        front = pareto_table(study)
        best = next(t for t in complete if t.number == int(front.loc[front["knee"], "trial"].iloc[0]))
    else:
        best = (max if _mode(study) == "max" else min)(complete, key=lambda t: t.values[0])
    test = {k.removeprefix(TEST_ATTR_PREFIX): v for k, v in best.user_attrs.items() if k.startswith(TEST_ATTR_PREFIX)}
    return {"number": best.number, "value": best.values[0], "params": dict(best.params), "test": test}


def objective_names(study: optuna.Study) -> list[str]:
    return list(study.metric_names or [f"objective_{i}" for i in range(len(study.directions))])


def pareto_table(study: optuna.Study) -> pd.DataFrame:
    """Complete trials by their objective values: `front_rank` (1 = the Pareto front) and the front's `knee`."""
    names = objective_names(study)
    modes = [_mode(study, i) for i in range(len(names))]
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    rows = [
        {"trial": t.number, **dict(zip(names, t.values, strict=True)), **{f"param.{k}": v for k, v in t.params.items()}}
        for t in complete
    ]
    table = pd.DataFrame(rows, columns=["trial", *names] if not rows else None)
    points = table[names].to_numpy(dtype=float)
    table["front_rank"] = front_ranks(points, modes)
    table["knee"] = False
    on_front = np.flatnonzero(table["front_rank"].to_numpy() == 1)
    knee = knee_index(points[on_front], modes)
    if knee is not None:
        table.loc[on_front[knee], "knee"] = True
    ascending = modes[0] == "min"
    return table.sort_values(["front_rank", names[0]], ascending=[True, ascending]).reset_index(drop=True)


def best_config_yaml(study: optuna.Study, best: dict) -> str:
    from foretune.config import validate_config

    config = validate_config(study.user_attrs.get(CONFIG_ATTR, {}), "(stored with the study)")
    if config.search.trainable is not None:  # a user's function: its best parameters, under its own names
        import yaml

        metric = f"{config.search.metric} = {best['value']:.6g}"
        title = f"# Best trial {best['number']} of study '{study.study_name}': {metric}\n"
        return f"{title}# params of {config.search.trainable}\n" + yaml.safe_dump(best["params"], sort_keys=False)
    tuned = config.with_overrides({space_key_path(k): v for k, v in best["params"].items()}, where="best trial")
    header = (
        f"# Best trial {best['number']} of study '{study.study_name}': {config.search.metric} = {best['value']:.6g}\n"
        f"# Ready to train: foretune train best.yaml\n"
    )
    return header + tuned.to_yaml()


def _markdown(
    table: pd.DataFrame, study: optuna.Study, best: dict | None, metric: str, summary: list[str], *, best_yaml: bool
) -> str:
    mode = _mode(study)
    counts = table["state"].value_counts().to_dict() if not table.empty else {}
    lines = [
        f"# Study `{study.study_name}`",
        "",
        f"Metric: `{metric}` ({'higher' if mode == 'max' else 'lower'} is better). Trials: "
        + (", ".join(f"{n} {s.lower()}" for s, n in counts.items()) or "none finished or running yet"),
        "",
    ]
    if best:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items())
        best_line = f"Best: trial {best['number']}, {metric} = {best['value']:.6g}" + (f" ({params})" if params else "")
        # best.yaml is the study's config with the best parameters: a study run without foretune has none
        best_line += "; config in `best.yaml`." if best_yaml else "."
        lines += [best_line, ""]
        zero_shot = study.user_attrs.get(ZERO_SHOT_ATTR) or {}
        if best.get("test") and zero_shot:  # with 95% intervals, the small-test note and the test folds
            lines += held_out_section(best["test"], zero_shot, study.user_attrs.get(TEST_FOLDS_ATTR), metric)
            lines += [sentence, ""] if (sentence := scored_trials_line(table)) else []
        elif zero_shot:  # the search scored the test split, but not this trial
            lines += [unscored_best_line(best["number"]), ""]
    lines += [f"- {line}" for line in summary] + [""]
    if not table.empty:
        lines.append(trials_markdown(table, metric))
    return "\n".join(lines) + "\n"


def verdict_summary(table: pd.DataFrame, mode: str, study: optuna.Study) -> list[str]:
    """How the early-stage verdict did, in sentences: rank agreement, interval coverage, compute
    saved, whether the best configuration was kept, and what the predictions rested on."""
    if table.empty:
        return ["No trials yet."]
    lines = _agreement_lines(table[table["state"] == "COMPLETE"], _copies(study)) + hindsight_lines(study, mode)
    lines += noise_lines(study, table, mode)
    judged = table["final_in_interval"].dropna()
    if len(judged):
        inside = int(judged.astype(bool).sum())
        lines.append(f"80% intervals: {inside} of {len(judged)} finals inside ({inside / len(judged):.0%}).")
    else:
        lines.append("80% intervals: none to check (no complete trial had a predicted final).")
    spent, budgets = compute_spent(table)
    if budgets:
        lines.append(
            f"Compute: {spent:.2f} of {budgets} full trial budgets ({spent / budgets:.0%} of running every"
            f" trial to the end; pruning saved {1 - spent / budgets:.0%})."
        )
    lines.append(audited_best_line(table, mode) or _best_kept_line(table, mode))
    lines += [line] if (line := audited_lead_line(study, table, mode)) else []
    early = (study.user_attrs.get(CONFIG_ATTR) or {}).get("early_stage") or {}
    lines += audit_lines(table, mode, int(early.get("audit_every") or 0))
    unpredicted = table["early_basis"].dropna()
    unpredicted = unpredicted[unpredicted.str.contains("no final predicted")]
    cold = unpredicted.str.startswith("ranked by early score")
    if cold.any():
        lines.append(
            f"{cold.sum()} trial(s) were ranked by their early score alone (too few finished runs to predict)."
        )
    for basis, count in unpredicted[~cold].value_counts(sort=False).items():  # another signal ranked, no number
        lines.append(f"{count} trial(s): {basis}.")
    held = int(table["early_basis"].dropna().str.contains(HELD, regex=False).sum())
    if held:
        lines.append(
            f"{held} predicted final(s) held between those of the trials judged before, in the order of the early"
            " held-out loss (each one's basis gives its fit's own value)."
        )
    history = study.user_attrs.get(HISTORY_STUDIES_ATTR)
    if history:
        lines.append("Finished runs of earlier studies used by the predictor: " + ", ".join(map(str, history)) + ".")
    return lines


def compute_spent(table: pd.DataFrame) -> tuple[float, int]:
    """(trial budgets spent, trials) over the complete and pruned trials: what pruning saved is measured on
    them (a running trial has not spent its share yet; a failed one would not have reached its end either way)."""
    ended = table[table["state"].isin([TrialState.COMPLETE.name, TrialState.PRUNED.name])]
    return float(pd.to_numeric(ended["fraction_reached"], errors="coerce").fillna(0.0).sum()), len(ended)


def _copies(study: optuna.Study) -> list[str]:
    """The losses the complete trials report that are another loss's (or the objective's) values, a multiple, power
    or exp of them (`metric_copies`): their early ranks are that loss's, so the report gives them no line of their
    own."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    return repeated_losses([trial_curve(t) for t in complete]) if len(complete) >= 3 else []


def _agreement_lines(complete: pd.DataFrame, copies: list[str]) -> list[str]:
    """Early rank vs final rank, and predicted final vs final, over the complete trials (3 needed)."""
    if len(complete) < 3:
        return [f"Early-vs-final rank agreement: not measured ({len(complete)} complete trials, 3 needed)."]
    ranks = complete[["early_rank", "final_rank"]].astype(float).dropna()
    if len(ranks) >= 3:
        agreement = spearman_text(ranks["early_rank"], ranks["final_rank"], "the early scores")
        lines = [f"Early rank vs final rank over {len(ranks)} complete trials: {agreement}."]
    else:  # complete trials that reported no curve (a study not run by foretune) have no early score
        lines = [
            f"Early-vs-final rank agreement: not measured ({len(ranks)} of {len(complete)} complete trials have an"
            " early score, 3 needed)."
        ]
    for column in [c for c in early_loss_columns(complete) if c.removeprefix("early_") not in copies]:
        losses = complete[[column, "final_rank"]].astype(float).dropna()
        if len(losses) >= 3:  # a lower loss ranks first, as the final rank does
            agreement = spearman_text(losses[column], losses["final_rank"], "its values")
            lines.append(f"{column.removeprefix('early_')} at the early fraction vs final rank: {agreement}.")
    if shown := [c for c in copies if f"early_{c}" in complete.columns]:
        same = "another loss's values, a multiple, power or exp of them (the same ranks), read once"
        lines.append(f"{', '.join(shown)}: {same}.")
    made = complete.dropna(subset=["predicted_final"])
    if len(made) >= 3:
        agreement = spearman_text(made["predicted_final"], made["final"], "the predicted finals")
        lines.append(f"Predicted final vs final over {len(made)} complete trials: {agreement}.")
    else:
        lines.append(
            f"Predicted final vs final: not measured ({len(made)} complete trial(s) had a predicted final, 3 needed)."
        )
    return lines


def _best_kept_line(table: pd.DataFrame, mode: str) -> str:
    """Whether the best configuration was kept. Stopped trials never reach a final, so this is at most
    "likely": when every stopped trial's 80% interval lies on the wrong side of the best final."""
    stopped = table[table["state"] == "PRUNED"]
    finals = table["final"].dropna()
    if finals.empty and stopped.empty:
        return "Best configuration kept: no configuration yet (no trial reached its final)."
    if stopped.empty:
        return "Best configuration kept: yes, no trial was stopped early."
    unknown = f"Best configuration kept: unknown ({len(stopped)} stopped trial(s) never reached their final"
    bounds = stopped["predicted_upper" if mode == "max" else "predicted_lower"].astype(float)
    if finals.empty or bounds.isna().any():
        without = int(bounds.isna().sum())
        return unknown + (f"; {without} of them had no predicted interval)." if without else ").")
    best = float(finals.max() if mode == "max" else finals.min())
    reach = float(bounds.max() if mode == "max" else bounds.min())
    if (reach < best) if mode == "max" else (reach > best):
        side = "below" if mode == "max" else "above"
        return (
            f"Best configuration kept: likely, not verified (every stopped trial's 80% interval lies {side} the best"
            f" final {best:.4g}; the closest bound is {reach:.4g})."
        )
    return unknown + f"; a stopped trial's 80% interval reaches {reach:.4g}, past the best final {best:.4g})."


def build_report(study: optuna.Study, run_dir: str | Path) -> Report:
    """Write trials.csv, report.md and best.yaml into `run_dir` (the commands add the plots: `foretune.cli.plots`)."""
    run_dir = Path(run_dir)
    config = study.user_attrs.get(CONFIG_ATTR, {})
    metric = config.get("search", {}).get("metric") or (study.metric_names or ["value"])[0]
    mode = _mode(study)
    table = trials_table(study)
    best = best_trial(study)
    best_yaml = best_config_yaml(study, best) if best and config else None
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {"csv": run_dir / "trials.csv", "markdown": run_dir / "report.md"}
    table.to_csv(files["csv"], index=False)
    verdict = verdict_summary(table, mode, study)  # once: its hindsight check refits the predictor per trial
    markdown = _markdown(table, study, best, metric, verdict, best_yaml=best_yaml is not None)
    pareto = pareto_table(study) if len(study.directions) > 1 else None
    if pareto is not None:
        files["pareto_csv"] = run_dir / "pareto.csv"
        pareto[pareto["front_rank"] == 1].drop(columns="front_rank").to_csv(files["pareto_csv"], index=False)
        markdown += "\n" + pareto_markdown(pareto, objective_names(study), best_yaml=best_yaml is not None)
    estimated = estimate_vs_actual(study, run_dir)  # when `foretune estimate --out RUN_DIR` saved estimate.json
    if estimated:
        markdown += "\n## Estimate vs actual\n\n" + "".join(f"- {line}\n" for line in estimated)
    files["markdown"].write_text(markdown)
    if best_yaml:
        files["best_yaml"] = run_dir / "best.yaml"
        files["best_yaml"].write_text(best_yaml)
    summary = verdict + estimated
    report = Report(table, best, files, metric, mode, study.user_attrs.get(ZERO_SHOT_ATTR), summary)
    report.pareto = pareto
    return report


def pareto_markdown(pareto: pd.DataFrame, names: list[str], *, best_yaml: bool = True) -> str:
    """The front as a markdown section (the knee is the configuration in best.yaml, when one is written)."""
    front = pareto[pareto["front_rank"] == 1].drop(columns="front_rank")
    lines = [
        f"## Pareto front ({', '.join(names)})",
        "",
        f"{len(front)} of {len(pareto)} complete trials are on the front (no other complete trial is at least as "
        "good in every objective and better in one). The knee (closest to the ideal corner, each objective scaled "
        "over the front) is " + ("the configuration in `best.yaml`." if best_yaml else "the best trial."),
        "",
        markdown_table(front),
    ]
    return "\n".join(lines) + "\n"
