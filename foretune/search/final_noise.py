"""How far the validation items decide the finals' order: each complete trial's final re-scored on paired
resamples of its validation items (`bootstrap.paired_draws`, stored on the trial by the searcher).

A final is a task metric on a few dozen validation items. Two configurations whose finals differ by less than
the items' luck are not told apart by the search's own measurement, and no early verdict can be held to order
them. The draws are paired (draw b of every trial is scored on the same resampled items), so re-ranking the
finals draw by draw says what the report's rank agreement and its best final would be on other items of the
same kind. Trials without draws (a trainer that keeps no predictions, a metric the task does not score) are
left out, and with fewer than 3 of them the report says nothing of the noise.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from foretune.keys import FINAL_DRAWS_KEY, FINAL_ITEMS_KEY, INTERRUPTED_ATTR
from foretune.predictors.metrics import spearman

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


def noise_lines(study: optuna.Study, table: pd.DataFrame, mode: str) -> list[str]:
    """The finals' spread against the items' noise, the best final's lead over the next on resampled items, and
    the range of the predicted finals' rank agreement over the draws (empty with fewer than 3 trials' draws)."""
    draws, items = final_draws(study)
    if draws.shape[1] < MIN_TRIALS or items is None or table.empty:
        return []
    complete = table[table["state"] == TrialState.COMPLETE.name].set_index("trial")
    finals = complete["final"].astype(float).reindex(draws.columns)
    n_items = items.split(":", 1)[0]
    noise = float(draws.std(ddof=1).median())
    lines = [
        f"Validation noise: each final is scored on {n_items} validation items; on {len(draws)} resamples of them"
        f" a final moves by {noise:.3g} (median standard deviation over {draws.shape[1]} complete trials), against"
        f" {finals.std(ddof=1):.3g} between the finals."
    ]
    order = finals.sort_values(ascending=mode == "min").index
    best, runner_up = draws[order[0]], draws[order[1]]
    ahead = (best > runner_up) if mode == "max" else (best < runner_up)
    lead = float(ahead.mean() + 0.5 * (best == runner_up).mean())  # a tie counts half
    lines.append(
        f"Best final (trial {order[0]}, {finals[order[0]]:.4g}) ahead of the next (trial {order[1]},"
        f" {finals[order[1]]:.4g}) in {lead:.0%} of the resamples."
    )
    predicted = complete["predicted_final"].astype(float).reindex(draws.columns).dropna()
    if len(predicted) >= MIN_TRIALS:
        paired = draws[predicted.index].to_numpy()
        rhos = np.array([spearman(predicted.to_numpy(), row) for row in paired])
        rhos = rhos[np.isfinite(rhos)]
        if len(rhos):
            low, high = np.percentile(rhos, [50 * (1 - RANGE), 50 * (1 + RANGE)])
            lines.append(
                f"Predicted final vs final on resampled validation items ({len(predicted)} trials): Spearman"
                f" {low:.2f} to {high:.2f} in {RANGE:.0%} of {len(rhos)} draws."
            )
    return lines
