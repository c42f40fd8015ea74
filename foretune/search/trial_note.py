"""The early-stage verdict as the trial's note in optuna-dashboard (markdown at the top of its trial page).

The verdict's user attributes are there too, but the dashboard lists them below the costs and the stored curves,
where a reader scrolls past them; the note says it in words: what the trial was judged on, what was predicted
(or that nothing was, and why), what was decided, and after its end whether the final fell inside its interval.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import optuna

from foretune.keys import (
    EARLY_BASIS_ATTR,
    EARLY_DECISION_ATTR,
    EARLY_FRACTION_ATTR,
    EARLY_JUDGED_WITH_ATTR,
    EARLY_RANK_ATTR,
    EARLY_SCORE_ATTR,
    JUDGED_FRACTION_ATTR,
    PARETO_DOMINATED_BY_ATTR,
    PARETO_PREDICTED_ATTR,
    PREDICTED_FINAL_ATTR,
    PREDICTED_LOWER_ATTR,
    PREDICTED_UPPER_ATTR,
    REPEAT_OF_ATTR,
)
from foretune.search.audit import AUDIT

log = logging.getLogger(__name__)

# Each decision, in the tense of a trial that runs (its note is written when it is judged) or has ended.
DECISIONS = {
    "grace": "{ran} to its end: one of the first trials, which every later verdict learns from",
    "kept": "kept: the rule {let} it continue",
    "observed": "{ran} to its end: pruning is off, the verdict {was} only recorded",
    AUDIT: "**audited**: the verdict {would_stop} it; it {ran} to its end anyway, to check the verdict",
}
_VERBS = {  # name in DECISIONS: (running, ended)
    "ran": ("runs", "ran"),
    "let": ("lets", "let"),
    "was": ("is", "was"),
    "would_stop": ("would stop", "would have stopped"),
}


def decision_text(decision: str, *, running: bool) -> str:
    """`DECISIONS[decision]` in the present tense for a running trial, in the past for one that ended."""
    return DECISIONS[decision].format(**{name: forms[0 if running else 1] for name, forms in _VERBS.items()})


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def verdict_note(
    verdict: Mapping[str, Any], metric: str, *, reached: float, final: float | None, running: bool = False
) -> str | None:
    """The note of a judged trial (None for one never judged): `verdict` is its early-stage user attributes,
    `reached` the budget fraction it ran to, `final` its objective's final (None when it has none); `running`
    for a trial that goes on after the verdict (its note is written again when it ends)."""
    if EARLY_SCORE_ATTR not in verdict:
        return None
    at = float(verdict.get(EARLY_FRACTION_ATTR, 0.0))
    lines = [
        f"**Judged at {at:.0%} of its budget** among {verdict.get(EARLY_JUDGED_WITH_ATTR, '?')} trials: {metric} "
        f"{_number(verdict[EARLY_SCORE_ATTR])}, early rank {verdict.get(EARLY_RANK_ATTR, '?')}."
    ]
    predicted = verdict.get(PREDICTED_FINAL_ATTR)
    low, high = verdict.get(PREDICTED_LOWER_ATTR), verdict.get(PREDICTED_UPPER_ATTR)
    basis = verdict.get(EARLY_BASIS_ATTR, "")
    if predicted is None:
        lines.append(f"No final predicted ({basis}).")
    else:
        lines.append(
            f"Predicted final: **{_number(predicted)}**, 80% interval [{_number(low)}, {_number(high)}] ({basis})."
        )
    judged_on = verdict.get(PARETO_PREDICTED_ATTR)
    if isinstance(judged_on, Mapping) and judged_on:  # several objectives: the verdict compared all of them
        values = ", ".join(f"{name} {_number(value)}" for name, value in judged_on.items())
        lines.append(
            f"Judged on every objective (Pareto dominance), predicted {values}: dominated by "
            f"{verdict.get(PARETO_DOMINATED_BY_ATTR, '?')} judged trial(s)."
        )
    decision = verdict.get(EARLY_DECISION_ATTR)
    if verdict.get(REPEAT_OF_ATTR) is not None:
        lines.append(
            f"Stopped as a repeat of trial {verdict[REPEAT_OF_ATTR]} (the same config, the same evaluations so far): "
            "its final is told."
        )
    elif decision == "pruned":
        stopped = float(verdict.get(JUDGED_FRACTION_ATTR, reached))
        lines.append(f"Decision: **pruned**, stopped at {stopped:.0%} of its budget.")
    elif decision in DECISIONS:
        lines.append(f"Decision: {decision_text(decision, running=running)}.")
    if running:
        lines.append(
            f"Running (at {reached:.0%} of its budget when this was written); its final is added when it ends."
        )
    if final is not None and math.isfinite(final) and reached >= 1.0 - 1e-9:
        if predicted is None:
            lines.append(f"Final: {_number(final)}.")
        else:
            side = "inside" if low <= final <= high else ("above" if final > high else "below")
            lines.append(f"Final: {_number(final)}, **{side}** its 80% interval.")
    return "\n\n".join(lines)


def write_verdict_note(trial: optuna.Trial, body: str | None) -> None:
    """Save `body` as the trial's optuna-dashboard note; a note that cannot be written costs only the note."""
    if body is None:
        return
    from optuna_dashboard import save_note

    try:
        save_note(trial, body)
    except Exception as error:  # noqa: BLE001 - the trial itself is already told; keep the search going
        log.warning("could not write trial %s's dashboard note: %s", trial.number, error)
