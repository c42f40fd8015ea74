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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class AuditFigures:
    """What the audited trials of one study show (`audit_figures`)."""

    audited: list  # trial numbers of the audited trials, sorted
    complete: int  # how many of them reached their final
    pruned: int  # stop verdicts that stopped their trial
    checked: int  # audited finals with a predicted interval
    inside: int  # ... inside it
    best_kept: float | None  # best final of the trials the verdict let run (None: none completed)
    beat: list  # audited trials whose final beat `best_kept`, sorted


def _best_complete(frame: pd.DataFrame, mode: str) -> pd.Series | None:
    """The row of `frame`'s complete trial with the best final (None: none has one)."""
    done = frame[(frame["state"] == "COMPLETE") & frame["final"].notna()]
    if done.empty:
        return None
    finals = done["final"].astype(float)
    return done.loc[finals.idxmax() if mode == "max" else finals.idxmin()]


def best_kept_trial(table: pd.DataFrame, mode: str) -> pd.Series | None:
    """The row of the best complete trial the verdict let run to the end (None: none completed)."""
    return _best_complete(table[table["early_decision"].isin(KEPT_DECISIONS)], mode)


def best_kept_final(table: pd.DataFrame, mode: str) -> float | None:
    """The best final of the trials the verdict let run to the end (None: none completed)."""
    kept = best_kept_trial(table, mode)
    return None if kept is None else float(kept["final"])


def audited_best(table: pd.DataFrame, mode: str) -> tuple[pd.Series, pd.Series | None] | None:
    """(the best complete trial's row, the best kept trial's row or None) when the best final is an audited trial's
    (the verdict would have stopped it); None otherwise."""
    if table.empty or "early_decision" not in table:
        return None
    best = _best_complete(table, mode)
    if best is None or best["early_decision"] != AUDIT:
        return None
    return best, best_kept_trial(table, mode)


def audit_figures(table: pd.DataFrame, mode: str) -> AuditFigures:
    """The audit's figures from a study's trials table (report's `trials_table`: trial, state, early_decision,
    final, final_in_interval)."""
    decisions = table["early_decision"]
    audited = table[decisions == AUDIT]
    done = audited[audited["state"] == "COMPLETE"]
    checked = done["final_in_interval"].dropna()
    best_kept = best_kept_final(table, mode)
    finals = done["final"].astype(float)
    beat = [] if best_kept is None else done[(finals > best_kept) if mode == "max" else (finals < best_kept)]["trial"]
    return AuditFigures(
        audited=sorted(audited["trial"]),
        complete=len(done),
        pruned=int(((decisions == "pruned") & (table["state"] == "PRUNED")).sum()),
        checked=len(checked),
        inside=int(checked.astype(bool).sum()),
        best_kept=best_kept,
        beat=sorted(beat),
    )


def audit_lines(table: pd.DataFrame, mode: str, every: int) -> list[str]:
    """What the audited trials (report's `trials_table`) say about the verdict, in sentences ([] with no audit)."""
    if not every or table.empty or "early_decision" not in table:
        return []
    f = audit_figures(table, mode)
    if not f.audited:
        return [f"Audit (one in every {every} pruning verdicts): none drawn yet among {f.pruned} pruning verdict(s)."]
    lines = [
        f"Audit: {len(f.audited)} of {len(f.audited) + f.pruned} pruning verdicts overridden (one in every {every}, "
        f"drawn at random), trial(s) {', '.join(map(str, f.audited))} run to the end to check the verdict."
    ]
    if f.complete < len(f.audited):
        missing = len(f.audited) - f.complete
        lines.append(f"Audit: {missing} audited trial(s) have no final yet (running, failed or stopped).")
    if not f.complete:
        return lines
    if f.checked:
        lines.append(f"Audit: {f.inside} of {f.checked} audited finals inside their 80% interval.")
    else:
        lines.append("Audit: no audited trial had a predicted final (each was ranked with no final predicted).")
    if f.best_kept is None:
        lines.append("Audit: no trial the verdict kept has completed; nothing to compare the audited finals with.")
    elif not f.beat:
        lines.append(f"Audit: no audited final beat the best final of the trials the verdict kept ({f.best_kept:.4g}).")
    else:
        lines.append(
            f"Audit: the verdict would have stopped trial(s) {', '.join(map(str, f.beat))}, whose final(s) beat the "
            f"best of the trials it kept ({f.best_kept:.4g})."
        )
    return lines


def audited_best_line(table: pd.DataFrame, mode: str) -> str | None:
    """The line "Best configuration kept: no" when the best final is an audited trial's (the verdict would have
    stopped it), with how far from it the best kept trial ended (on 48 products a "no" can be 0.002 of accuracy:
    the user judges whether that matters); None otherwise."""
    found = audited_best(table, mode)
    if found is None:
        return None
    best, kept = found
    behind = ""
    if kept is not None:
        best_kept = float(kept["final"])
        gap, side = abs(float(best["final"]) - best_kept), "lower" if mode == "max" else "higher"
        behind = f"; the best of the trials it kept ended at {best_kept:.4g}, {gap:.2g} {side}"
    return (
        f"Best configuration kept: no (the best final, trial {best['trial']}'s {float(best['final']):.4g}, is an "
        f"audited trial's: the verdict would have stopped it{behind})."
    )
