"""The objective's own rules with a handful of finished runs, and their leave-one-out error: what a loss's line
must not err far more than (`_signal.best_signal`, `LINE_MARGIN`) to predict a score in their place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import Curve, final_value, snapshot_values
from foretune.predictors._loss_ratio import held_out_errors, logs_apply, pick
from foretune.predictors.calibration import held_out_deviations
from foretune.predictors.prior import prior_raw


def rule_error(train: Sequence[Curve], at: float) -> float:
    """Mean leave-one-out absolute error of the snapshot rule (early value + median change of the other
    runs) on the finished runs `train`."""
    changes = np.array([final_value(c) for c in train]) - snapshot_values(train, at)
    return float(np.mean(held_out_deviations(changes[np.isfinite(changes)])))


@dataclass(frozen=True)
class ObjectiveRules:
    """The objective's own rules with 3 to `min_finished` finished runs, as columns (snapshot rule, prior): their
    raw predictions of the finished runs (`on_train`) and of the judged runs (`judged`), the finished runs'
    `finals`, and whether a ratio form applies (`ratio_applies`: every value a positive loss)."""

    on_train: np.ndarray
    judged: np.ndarray
    finals: np.ndarray
    ratio_applies: bool

    @cached_property
    def picked(self) -> tuple[int, bool]:
        """`_loss_ratio.pick`'s (column, ratio) on the finished runs: read by `rules_error` and by `auto`'s rule
        for the same judgement, computed once."""
        return pick(self.on_train, self.finals, ratio_applies=self.ratio_applies)


def objective_rules(train: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode) -> ObjectiveRules | None:
    """`ObjectiveRules` where the shipped prior applies; None where it does not (the snapshot rule alone)."""
    raw = prior_raw(train, curves, at, mode=mode)
    if raw is None:
        return None
    finals = np.array([final_value(c) for c in train])
    on_train = np.column_stack([snapshot_values(train, at), raw[0]])
    judged = np.column_stack([snapshot_values(curves, at), raw[1]])
    return ObjectiveRules(on_train, judged, finals, logs_apply(on_train, judged, finals))


def rules_error(train: Sequence[Curve], at: float, rules: ObjectiveRules | None) -> float:
    """Mean leave-one-out absolute error of the objective's own rules on `train`, the smallest of: the snapshot
    rule; where `rules` are given (the shipped prior applies and is used), the recentred prior; and the ratio
    form `_loss_ratio.pick` would move the picked one by instead of a difference (a loss that falls by a factor
    from any level: against its difference's error a worse line would win and predict, and the ratio never
    would)."""
    rival = rule_error(train, at)
    if rules is None:
        return rival
    rival = min(rival, float(np.mean(held_out_deviations(rules.finals - rules.on_train[:, 1]))))
    column, ratio = rules.picked
    if ratio:
        rival = min(rival, float(np.mean(held_out_errors(rules.on_train, rules.finals, column=column, ratio=True))))
    return rival
