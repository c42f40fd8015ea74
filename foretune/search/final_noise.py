"""How far the validation items decide the finals' order: each complete trial's final re-scored on paired
resamples of its validation items (`bootstrap.paired_draws`, stored on the trial by the searcher).

A final is a task metric on a few dozen validation items. Two configurations whose finals differ by less than
the items' luck are not told apart by the search's own measurement, and no early verdict can be held to order
them. The draws are paired (draw b of every trial is scored on the same resampled items), so re-ranking the
finals draw by draw says what the report's rank agreement and its best final would be on other items of the
same kind. The objective is the task's metric, a task.metric_fn's or the eval loss (its per-item losses
resampled); your own training code's where it gives its final's items (`FunctionReporter.final_items`). Trials
without draws (replayed curves, your code without its items, a metric too slow for 200 draws) are left out, and
with fewer than 3 of them the report says nothing of the noise (a search of your code that gave no items at all:
one line on how to give them).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from foretune.keys import CONFIG_ATTR, FINAL_DRAWS_KEY, FINAL_ITEMS_KEY, INTERRUPTED_ATTR
from foretune.predictors.metrics import spearman
from foretune.search.audit import audited_best

MIN_TRIALS = 3
RANGE = 0.9  # the share of draws a range spans


def final_draws(study: optuna.Study) -> tuple[pd.DataFrame, str | None]:
    """(draws x complete trials, the items' "<count>:<fingerprint>"): the trials scored on the items that most
    complete trials share (draws of runs scored on other items are not paired with theirs)."""
    stored = [
        (t.number, t.user_attrs.get(FINAL_DRAWS_KEY), t.user_attrs.get(FINAL_ITEMS_KEY))
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and not t.user_attrs.get(INTERRUPTED_ATTR)
    ]
    stored = [(n, d, i) for n, d, i in stored if isinstance(d, list) and d and isinstance(i, str)]
    if not stored:
        return pd.DataFrame(), None
    (items, length), _ = Counter((i, len(d)) for _, d, i in stored).most_common(1)[0]
    return pd.DataFrame({n: d for n, d, i in stored if i == items and len(d) == length}, dtype=float), items


def final_ranges(study: optuna.Study) -> pd.DataFrame:
    """Per complete trial with paired draws (index: trial number): `low` and `high`, the middle `RANGE` of its
    final over the resampled validation items (the horizontal bars of predicted_vs_final.png)."""
    draws, _ = final_draws(study)
    if draws.empty:
        return pd.DataFrame(columns=["low", "high"], dtype=float)
    return draws.quantile([0.5 * (1 - RANGE), 0.5 * (1 + RANGE)]).T.set_axis(["low", "high"], axis=1)


def noise_figures(study: optuna.Study, table: pd.DataFrame, mode: str) -> dict | None:
    """The finals against their items' noise (None with fewer than 3 trials' paired draws): `n_items`, `draws`,
    `trials`; `noise` (the median over trials of a final's standard deviation over the draws) and `spread` (the
    finals' own); the best final and the next (`best`, `next`: trial numbers; `best_final`, `next_final`) and
    `lead`, the share of draws where the best is ahead (a tie counts half); where 3 of them have a predicted final,
    `predicted` (how many) and the `agreement` range of Spearman(predicted final, final on the draw) over the middle
    `RANGE` of the draws."""
    draws, items = final_draws(study)
    if draws.shape[1] < MIN_TRIALS or items is None or table.empty:
        return None
    complete = table[table["state"] == TrialState.COMPLETE.name].set_index("trial")
    finals = complete["final"].astype(float).reindex(draws.columns)
    order = finals.sort_values(ascending=mode == "min").index
    figures = {
        "n_items": int(items.split(":", 1)[0]),
        "draws": len(draws),
        "trials": draws.shape[1],
        "noise": float(draws.std(ddof=1).median()),
        "spread": float(finals.std(ddof=1)),
        "best": int(order[0]),
        "next": int(order[1]),
        "best_final": float(finals[order[0]]),
        "next_final": float(finals[order[1]]),
        "lead": _lead(draws[order[0]], draws[order[1]], mode),
    }
    predicted, rhos = _agreement(draws, complete)
    if len(rhos):
        low, high = np.percentile(rhos, [50 * (1 - RANGE), 50 * (1 + RANGE)])
        figures |= {"predicted": predicted, "agreement": (float(low), float(high)), "agreement_draws": len(rhos)}
    return figures


def agreement_draws(study: optuna.Study, table: pd.DataFrame) -> np.ndarray:
    """Spearman(predicted final, final on the draw), one per paired draw, over the complete trials with a
    predicted final and draws; empty with fewer than 3 of them (what `noise_figures`' `agreement` spans)."""
    draws, _ = final_draws(study)
    if draws.empty or table.empty:
        return np.array([])
    return _agreement(draws, table[table["state"] == TrialState.COMPLETE.name].set_index("trial"))[1]


def _agreement(draws: pd.DataFrame, complete: pd.DataFrame) -> tuple[int, np.ndarray]:
    """(how many trials were predicted, the finite per-draw Spearman values; empty below 3 trials)."""
    predicted = complete["predicted_final"].astype(float).reindex(draws.columns).dropna()
    if len(predicted) < MIN_TRIALS:
        return len(predicted), np.array([])
    rhos = np.array([spearman(predicted.to_numpy(), row) for row in draws[predicted.index].to_numpy()])
    return len(predicted), rhos[np.isfinite(rhos)]


def _lead(first: pd.Series, second: pd.Series, mode: str) -> float:
    """The share of paired draws where `first` is ahead of `second` (a tie counts half)."""
    ahead = (first > second) if mode == "max" else (first < second)
    return float(ahead.mean() + 0.5 * (first == second).mean())


def audited_lead_line(study: optuna.Study, table: pd.DataFrame, mode: str) -> str | None:
    """Where the best final is an audited trial's ("Best configuration kept: no"), how often it stays ahead of the
    best trial the verdict kept on the resampled validation items; None otherwise, or without their paired draws."""
    found = audited_best(table, mode)
    if found is None or found[1] is None:
        return None
    best, best_kept = found
    draws, _ = final_draws(study)
    if not {best["trial"], best_kept["trial"]} <= set(draws.columns):
        return None
    lead = _lead(draws[best["trial"]], draws[best_kept["trial"]], mode)
    return (
        f"On {len(draws)} resamples of the validation items the audited trial {best['trial']} stays ahead of the best"
        f" kept trial {best_kept['trial']} in {lead:.0%} of them (50% would be a coin toss)."
    )


def noise_lines(study: optuna.Study, table: pd.DataFrame, mode: str) -> list[str]:
    """`noise_figures` in sentences; with fewer than 3 trials' paired draws none, but for a search of your own code
    whose complete trials gave no items: the one line that says how to give them."""
    f = noise_figures(study, table, mode)
    if f is None:
        return _without_items_line(study, table)
    lines = [
        f"Validation noise: each final is scored on {f['n_items']} validation items; on {f['draws']} resamples of"
        f" them a final moves by {f['noise']:.3g} (median standard deviation over {f['trials']} complete trials),"
        f" against {f['spread']:.3g} between the finals.",
        f"Best final (trial {f['best']}, {f['best_final']:.4g}) ahead of the next (trial {f['next']},"
        f" {f['next_final']:.4g}) in {f['lead']:.0%} of the resamples.",
    ]
    if "agreement" in f:
        low, high = f["agreement"]
        lines.append(
            f"Predicted final vs final on resampled validation items ({f['predicted']} trials): Spearman"
            f" {low:.2f} to {high:.2f} in {RANGE:.0%} of {f['agreement_draws']} draws."
        )
    return lines


def _without_items_line(study: optuna.Study, table: pd.DataFrame) -> list[str]:
    """Where your own training code completed 3 trials and gave none of their finals' items: how it could (the
    noise lines say how far the validation items decide the finals' order)."""
    searched = (study.user_attrs.get(CONFIG_ATTR) or {}).get("search") or {}
    complete = 0 if table.empty else int((table["state"] == TrialState.COMPLETE.name).sum())
    if not searched.get("trainable") or complete < MIN_TRIALS or not final_draws(study)[0].empty:
        return []
    return [
        "Validation noise: not measured, no final came with its validation items; give each item's value of the"
        " metric with `reporter.final_items(metric, values)` and the report says how far the items decide the"
        " finals' order."
    ]
