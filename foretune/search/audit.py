"""`early_stage.audit_every`: a sample of the pruning verdicts is overridden, so the study checks its own verdict.

A pruned trial never reaches its final, so a search that prunes cannot say from its own trials whether the
verdict was right: the trials it kept are the ones it liked, and those that ran to the end unjudged (grace trials)
had no prediction. With `audit_every: k`, one in every k verdicts that would stop a trial is overridden and the
trial runs to its end anyway (decision `audit`), chosen by systematic sampling: the first at random among the
first k verdicts (seeded by the search seed), then every k-th. Each verdict is equally likely to be audited
whatever the trial looks like, so the audited trials are a fair sample of what the verdict stops: their finals
say whether the 80% intervals held, whether the predicted ranks held, and whether the verdict stopped a trial
that would have beaten every trial it kept. They also fit the predictor like any finished run, where otherwise
only the runs the verdict liked would. The cost: about 1/k of the budgets pruning saved. `audit_every: 1`
overrides every verdict: the pruning-off twin of a search, every trial predicted and run to its end.

Plain numbers and pandas (no Ray, no Optuna).
"""

from __future__ import annotations

import random

import pandas as pd

AUDIT = "audit"  # the early decision of an audited trial (it would have been pruned)
KEPT_DECISIONS = ("grace", "kept", "observed")  # trials that ran to the end because the verdict let them


class AuditDraw:
    """Which pruning verdicts are overridden: one in every `every`, the first at random (systematic sampling)."""

    def __init__(self, every: int, seed: int) -> None:
        if every < 1:
            raise ValueError(f"audit_every must be >= 1, got {every}")
        self.every = every
        self._offset = random.Random(f"foretune-audit:{seed}").randrange(every)
        self._verdicts = 0

    def overrides(self) -> bool:
        """Called once per verdict that would stop a trial: whether this one is audited instead."""
        chosen = self._verdicts % self.every == self._offset
        self._verdicts += 1
        return chosen


def audit_lines(table: pd.DataFrame, mode: str, every: int) -> list[str]:
    """What the audited trials (report's `trials_table`) say about the verdict, in sentences ([] with no audit)."""
    if not every or table.empty or "early_decision" not in table:
        return []
    decisions = table["early_decision"]
    audited = table[decisions == AUDIT]
    pruned = int(((decisions == "pruned") & (table["state"] == "PRUNED")).sum())
    if audited.empty:
        return [f"Audit (one in every {every} pruning verdicts): none drawn yet among {pruned} pruning verdict(s)."]
    done = audited[audited["state"] == "COMPLETE"]
    names = ", ".join(str(n) for n in sorted(audited["trial"]))
    lines = [
        f"Audit: {len(audited)} of {len(audited) + pruned} pruning verdicts overridden (one in every {every}, drawn "
        f"at random), trial(s) {names} run to the end to check the verdict."
    ]
    if len(done) < len(audited):
        lines.append(
            f"Audit: {len(audited) - len(done)} audited trial(s) have no final yet (running, failed or stopped)."
        )
    if done.empty:
        return lines
    checked = done["final_in_interval"].dropna()
    if len(checked):
        inside = int(checked.astype(bool).sum())
        lines.append(f"Audit: {inside} of {len(checked)} audited finals inside their 80% interval.")
    else:
        lines.append("Audit: no audited trial had a predicted final (they were ranked by early score).")
    kept = table[(table["state"] == "COMPLETE") & decisions.isin(KEPT_DECISIONS)]["final"].dropna().astype(float)
    if kept.empty:
        lines.append("Audit: no trial the verdict kept has completed; nothing to compare the audited finals with.")
        return lines
    best_kept = float(kept.max() if mode == "max" else kept.min())
    finals = done["final"].astype(float)
    beat = done[(finals > best_kept) if mode == "max" else (finals < best_kept)]
    if beat.empty:
        lines.append(f"Audit: no audited final beat the best final of the trials the verdict kept ({best_kept:.4g}).")
    else:
        lines.append(
            f"Audit: the verdict would have stopped trial(s) {', '.join(str(n) for n in sorted(beat['trial']))}, whose "
            f"final(s) beat the best of the trials it kept ({best_kept:.4g})."
        )
    return lines


def audited_best_line(table: pd.DataFrame, mode: str) -> str | None:
    """The line "Best configuration kept: no" when the best final is an audited trial's (the verdict would have
    stopped it); None otherwise."""
    if table.empty or "early_decision" not in table:
        return None
    complete = table[(table["state"] == "COMPLETE") & table["final"].notna()]
    if complete.empty:
        return None
    finals = complete["final"].astype(float)
    best = complete.loc[finals.idxmax() if mode == "max" else finals.idxmin()]
    if best["early_decision"] != AUDIT:
        return None
    return (
        f"Best configuration kept: no (the best final, trial {best['trial']}'s {float(best['final']):.4g}, is an "
        "audited trial's: the verdict would have stopped it)."
    )
