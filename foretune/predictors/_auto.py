"""`auto`: from `min_finished` finished runs, `learned` (and for a score objective each loss's line) blended
by how well each did on the study's finished runs; with fewer, the prior, a loss line or the snapshot rule.

Each candidate predicts every finished run from its points before `at` (the `learned` one by
leave-one-out: refit without the run it predicts, so its score is honest). The ranking rules `snapshot`
and `curve` are measured too but weigh 0 there (round 9): `learned` reads their inputs (the early value,
the `curve` gain) as features, with its shrinkage toward the early value already chosen by leave-one-out,
and blending it with them again shrank it by weights measured on 10-25 runs. The blend weights are
pseudo Bayesian model averaging of those out-of-sample errors; ``combine="best"`` keeps only the
candidate with the least error instead. The interval is split-conformal on the blend's own
out-of-sample errors (`calibration`). With fewer than `min_finished` finished runs the blend cannot
be measured: it is `cold_start` (`snapshot` by default: with a handful of runs, extrapolating each
curve ranked worse than the early score on unseen curves), moved by the finished runs' median change
after `at`; below 3 finished runs it only ranks by the early score and predicts no final (a score: by the held-out
loss every run reports, where there is one: `_held_out_rank`; from 3, a score's held-out loss ranks too where the
finished runs give it no line and a judged run's lies far outside theirs: `_signal.unplaced_by_finished`).

The prior shipped in the package (`prior`, learned from public curves; losses only) comes first
where it applies: with 0 finished runs it predicts; with 1-2 only if every finished run's final lies
inside its 80% band (else the early score ranks), then moved toward their own change after `at`
(`prior_shifted`); with 3 to `min_finished` it is moved by its median
error on them and used where its error is smaller than the snapshot rule's; either is moved by a ratio instead
of a difference where that errs far less on the finished runs (`_loss_ratio`). The basis says which.

With 2 to `min_finished` finished runs, a loss every run reports by `at` (eval loss, train loss:
`Curve.extras`) predicts the final instead, by a line fit on the finished runs with the right slope,
with 2-3 runs wherever it exists, from 4 unless its leave-one-out error is much larger than the
snapshot rule's (`_signal`); `weights_` then reads
{"signal:<metric>": 1.0} and the basis names the metric. From `min_finished` runs, for a score objective
(mode "max") with a loss every finished run also reports at its end, the score is predicted through that loss's
predicted final (`_final_line`: the loss's own final predicted by `learned`, mapped by a line to the score)
unless that errs far more than `learned` on the finished runs; else (or with no such loss) each loss's line from
its early value is a candidate of the blend beside `learned` (`loss_lines`). The
blend's interval is cut from deviations each taken under the blend weighed without that run
(`blend_deviations`).

Runs of earlier studies (`Curve.history`, from `search.history`) count as finished runs for every fit, but
only the study's own runs are exchangeable with the runs it judges: from `MIN_FINISHED` of its own, the
blend's interval is cut from their out-of-sample residuals alone and its predictions move by their median
(another study's finals can sit on another level; `calibration.calibrated_on_own_runs`, as for `_final_line`);
with fewer, the runs are ranked and no final is predicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from foretune.keys import Mode
from foretune.predictors._base import (
    Curve,
    Prediction,
    Predictor,
    check_at,
    snapshot_values,
)
from foretune.predictors._curve import CurvePredictor
from foretune.predictors._final_line import final_line_prediction
from foretune.predictors._held_out_rank import held_out_ranking
from foretune.predictors._learned import LearnedPredictor
from foretune.predictors._loss_ratio import (
    chosen_deviations,
    clipped_mean_squares,
    moved,
    others_mean,
)
from foretune.predictors._objective_rules import ObjectiveRules, objective_rules
from foretune.predictors._signal import (
    Signal,
    best_signal,
    line_signal,
    shared_losses,
    signal_prediction,
    unplaced_basis,
    unplaced_by_finished,
)
from foretune.predictors._snapshot import SnapshotPredictor
from foretune.predictors.calibration import MIN_FINISHED, calibrated, calibrated_on_own_runs, predicted_basis
from foretune.predictors.prior import prior_agrees, prior_predict, prior_shifted, recentre

CANDIDATES = ("snapshot", "curve", "learned")
# Which candidates are ranking rules rather than models of the final value: they get an offset.
_SHIFT = np.array([True, True, False])
RULES = ("snapshot", "curve")  # measured, but weigh 0 in the blend (`AutoPredictor._blend`)
# What `_prior_or_snapshot`'s basis names when the change is moved as a ratio (`_loss_ratio`).
RATIO_LABELS = {
    "snapshot": "snapshot (change as a ratio)",
    "prior": "a prior learned from public curves, recentred as a ratio",
}


def history_basis(history: int, own: int) -> str:
    """What a ranking learned from earlier studies' runs, with too few of the study's own, was based on."""
    runs = "run" if own == 1 else "runs"
    return (
        f"ranked by auto from {history} runs of earlier studies; {own} finished {runs} of this study, "
        f"no final predicted (from {MIN_FINISHED})"
    )


def loss_lines(train: Sequence[Curve], curves: Sequence[Curve], at: float, *, mode: Mode) -> list[Signal]:
    """From `min_finished` runs, for a score objective (mode "max"): each loss every run reports by `at`
    as a line to the objective's final (`_signal.line_signal`), a candidate of the blend beside the three.
    An accuracy is coarse at the early fraction, and the blend of the three alone ranked the LoRA design
    ids' accuracy at 0.677 against the rule's 0.763 with 10 finished runs (0.823 with the lines:
    benchmarks/results/verdict.md). A loss objective keeps the three: its own early value is as fine as
    another loss's (the LoRA eval-loss design ids tied with and without the lines)."""
    if mode != "max":
        return []
    names = shared_losses(train, curves)
    lines = (line_signal(name, train, curves, at, mode=mode) for name in names)
    return [line for line in lines if line is not None]


def offset_errors(predictions: np.ndarray, finals: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Robust mean squared error of each candidate column, after a leave-one-out constant offset
    for the columns where `shift` is True.

    A ranking rule like `snapshot` is not meant to hit the final value, only to order runs; the
    offset (learned from the other runs) lets it be measured on the same footing as a model.
    Errors are clipped at 3 robust std (MAD, pooled over candidates so that none is favoured for
    having its own wild errors cut short) so that one diverged run does not decide the choice.
    """
    residuals = finals[:, None] - predictions
    return clipped_mean_squares(residuals - others_mean(residuals) * shift)


def stack_weights(predictions: np.ndarray, finals: np.ndarray, shift: np.ndarray, *, combine: str) -> np.ndarray:
    """Weights (summing to 1) of the candidate columns of `predictions` for predicting `finals`.

    "best": all weight on the least error. "blend": pseudo Bayesian model averaging (Yao et al.
    2018): weight ~ exp(leave-one-out log-likelihood) = error^(-n/2) under a Gaussian, so a
    candidate 10% worse on 30 runs keeps about a fifth of the best one's weight.
    """
    errors = np.maximum(offset_errors(predictions, finals, shift), 1e-300)
    weights = np.zeros(predictions.shape[1])
    if combine == "best":
        weights[int(np.argmin(errors))] = 1.0
        return weights
    loglik = -0.5 * len(finals) * np.log(errors)
    weights = np.exp(loglik - loglik.max())
    return weights / weights.sum()


def blend_fit(
    predictions: np.ndarray, finals: np.ndarray, shift: np.ndarray, *, combine: str, active: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The blend fit on these rows: each candidate column's weight (`stack_weights` over the `active`
    columns, 0 elsewhere) and offset. The ranking rules (`shift`) are moved by their mean error on the
    finished runs, so the blend predicts final values on one scale whichever candidates it picks (a
    study compares predictions made at different times, from different fits); a model with its own
    intercept (`learned`, a loss line) is not: shifting it too would only add noise. One helper for the
    blend and for its held-out deviations (`blend_deviations`), so the two cannot drift apart."""
    active = np.ones(predictions.shape[1], dtype=bool) if active is None else active
    weights = np.zeros(predictions.shape[1])
    weights[active] = stack_weights(predictions[:, active], finals, shift[active], combine=combine)
    offsets = (finals[:, None] - predictions).mean(axis=0) * shift
    return weights, offsets


def blended(values: np.ndarray, weights: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The blend of the candidate columns of `values` under `blend_fit`'s weights and offsets."""
    used = weights > 0  # an unused candidate must not spread its NaN into the blend
    return (values[:, used] + offsets[used]) @ weights[used]


class AutoPredictor(Predictor):
    """The default: picks or blends the other predictors by their measured accuracy on finished runs.

    Args:
        mode: "max" if larger values are better (accuracy), "min" if smaller are (loss).
        min_finished: below this many finished runs (with a point before `at`), use `cold_start`.
        combine: "blend" (stacked weights) or "best" (the single most accurate candidate).
        cold_start: the predictor to use when there is too little to measure a blend on.
        use_prior: below `min_finished` finished runs, use the prior shipped in the package (`prior`,
            learned from public curves) where it applies and the finished runs agree (module doc).
    """

    name = "auto"

    def __init__(
        self,
        *,
        mode: Mode = "max",
        min_finished: int = 8,
        combine: Literal["blend", "best"] = "blend",
        cold_start: Literal["curve", "snapshot"] = "snapshot",
        use_prior: bool = True,
    ) -> None:
        super().__init__(mode=mode)
        if combine not in ("blend", "best"):
            raise ValueError(f"combine must be 'blend' or 'best', got {combine!r}")
        if cold_start not in ("curve", "snapshot"):
            raise ValueError(f"cold_start must be 'curve' or 'snapshot', got {cold_start!r}")
        self.combine = combine
        self.cold_start = cold_start
        self.use_prior = bool(use_prior)
        self._learned = LearnedPredictor(mode=mode, min_finished=min_finished)
        self._curve = CurvePredictor(mode=mode)
        self._snapshot = SnapshotPredictor(mode=mode)
        self.weights_: dict[str, float] = {}
        self._loss_models: dict[tuple[str, float], LearnedPredictor] = {}  # `_final_line`'s, per fit

    def fit(self, curves: Sequence[Curve]) -> AutoPredictor:
        for predictor in (self._learned, self._curve, self._snapshot):
            predictor.fit(curves)
        self._loss_models = {}
        return self

    def _prior(self, train: Sequence[Curve], curves: Sequence[Curve], at: float) -> Prediction | None:
        """The shipped prior's prediction, where it applies and the finished runs (0-2) agree with it;
        moved toward their own change when there are some (`prior_shifted`)."""
        if train and not prior_agrees(train, at, mode=self.mode, curves=curves):
            return None
        if train:
            prediction = prior_shifted(train, curves, at, mode=self.mode)
        else:
            prediction = prior_predict(curves, at, mode=self.mode)
        if prediction is not None:
            self.weights_ = {"prior": 1.0}
        return prediction

    def _prior_or_snapshot(
        self, train: Sequence[Curve], curves: Sequence[Curve], at: float, rules: ObjectiveRules | None
    ) -> Prediction:
        """3 to `min_finished` finished runs: the recentred prior where its error on them (after a
        leave-one-out offset, as for the snapshot rule) is smaller, else the snapshot rule; moved by a difference,
        or for a positive loss by a ratio where that errs far less (`_loss_ratio`). The interval is cut from
        `chosen_deviations`: the choice looked at the same runs. `rules`: `objective_rules` (None: the prior
        does not apply)."""
        if rules is None:
            self.weights_ = {"snapshot": 1.0}
            return self._snapshot.predict(curves, at)
        on_train, judged, finals = rules.on_train, rules.judged, rules.finals
        column, ratio = rules.picked
        deviations = chosen_deviations(on_train, finals, ratio_applies=rules.ratio_applies)
        name = ("snapshot", "prior")[column]
        self.weights_ = {name: 1.0}
        if ratio:
            return self._moved_by_ratio(name, on_train[:, column], finals, judged[:, column], curves, at, deviations)
        if name == "prior":
            return recentre((on_train[:, 1], judged[:, 1]), train, curves, at, mode=self.mode, deviations=deviations)
        return self._snapshot.predict_from(train, curves, at, deviations=deviations)

    def _moved_by_ratio(
        self,
        name: str,
        on_train: np.ndarray,
        finals: np.ndarray,
        judged: np.ndarray,
        curves: Sequence[Curve],
        at: float,
        deviations: np.ndarray,
    ) -> Prediction:
        """`judged` (the rule's or the prior's raw predictions) times the finished runs' median ratio of final
        to raw, with a conformal interval in the metric's units from the held-out `deviations`."""
        factor = moved(on_train[:, None], finals, np.ones((1, 1)), np.array([True]))[0, 0]  # median final / raw
        residuals = finals - on_train * factor
        return calibrated(
            curves,
            judged * factor,
            residuals - np.median(residuals),
            at=at,
            mode=self.mode,
            basis=predicted_basis(RATIO_LABELS[name], len(finals)),
            recenter=False,
            deviations=deviations,
        )

    def predict(self, curves: Sequence[Curve], at: float = 0.2) -> Prediction:
        at = check_at(at)
        train = self._learned.trainable(at)
        prediction = self._predict(train, curves, at)
        own = sum(not c.history for c in train)
        if own < len(train) and own < MIN_FINISHED and prediction.predicted:
            # Runs of earlier studies order this study's runs (they share its task, model and metric), but
            # their finals can sit on another level (other products, another budget: on scan-bench's vlm
            # design pools, 40 runs of another pool as history covered 41-64% of finals with no run of the
            # study's own; benchmarks/cross_study.py, verdict.md round 14): no final before the study has its
            # own to calibrate on.
            return replace(
                prediction,
                lower=prediction.mean.copy(),
                upper=prediction.mean.copy(),
                predicted=False,
                basis=history_basis(len(train) - own, own),
                finished_used=len(train),
                plausible=None,
            )
        return prediction

    def _predict(self, train: Sequence[Curve], curves: Sequence[Curve], at: float) -> Prediction:
        if len(train) < MIN_FINISHED and self.use_prior:
            prediction = self._prior(train, curves, at)
            if prediction is not None:
                return prediction
        if len(train) < self._learned.min_finished:
            signal = rules = None
            if self.cold_start == "snapshot":
                # The objective's own rules, computed once: `best_signal` weighs a loss's line against them
                # and, where no line wins, they predict.
                if self.use_prior and len(train) >= MIN_FINISHED:
                    rules = objective_rules(train, curves, at, mode=self.mode)
                signal = best_signal(train, curves, at, mode=self.mode, rules=rules)
            if signal is not None:  # another metric ranks the finished runs clearly better than the objective
                self.weights_ = {f"signal:{signal.metric}": 1.0}
                return signal_prediction(signal, curves, at, mode=self.mode, finished=len(train))
            by_loss = self.cold_start == "snapshot" and self.mode == "max"  # a score's held-out loss may rank
            unplaced = None
            if by_loss and len(train) >= MIN_FINISHED:
                unplaced = unplaced_by_finished(train, curves, at, mode=self.mode)
            if by_loss and (len(train) < MIN_FINISHED or unplaced):
                # No line (none yet, or of the wrong slope) and no final: a score's held-out loss ranks; from 3
                # runs only where a judged run's lies far outside theirs (`unplaced_by_finished`).
                basis = None if unplaced is None else unplaced_basis(unplaced, at, len(train))
                ranking = held_out_ranking(curves, at, finished=len(train), basis=basis)
                if ranking is not None:
                    self.weights_ = {f"rank:{ranking.follows}": 1.0}
                    return ranking
            # Too few runs to measure a blend: the cold-start predictor, which moves its values by
            # the finished runs' median change after `at` (or, below 3 runs, only ranks).
            self.weights_ = {self.cold_start: 1.0}
            fallback = self._curve if self.cold_start == "curve" else self._snapshot
            if self.use_prior and self.cold_start == "snapshot" and len(train) >= MIN_FINISHED:
                return self._prior_or_snapshot(train, curves, at, rules)
            return fallback.predict(curves, at)

        return self._blend(train, curves, at)

    def _blend(self, train: Sequence[Curve], curves: Sequence[Curve], at: float) -> Prediction:
        """`min_finished` runs or more: the candidates weighed by their out-of-sample error on `train`."""
        finals, learned_oos = self._learned.out_of_sample(at)
        through_final = final_line_prediction(
            train,
            curves,
            at,
            mode=self.mode,
            min_finished=self._learned.min_finished,
            learned_error=float(np.mean(np.abs(finals - learned_oos))),
            models=self._loss_models,
        )
        if through_final is not None:  # a score that follows a loss: through that loss's predicted final
            line, prediction = through_final
            self.weights_ = {f"signal:{line.metric}": 1.0}
            return prediction
        names = list(CANDIDATES)
        out_of_sample = [snapshot_values(train, at), self._curve.point(train, at)[0], learned_oos]
        learned = self._learned.predict(curves, at).mean
        candidates = [snapshot_values(curves, at), self._curve.point(curves, at)[0], learned]
        shift = list(_SHIFT)
        for signal in loss_lines(train, curves, at, mode=self.mode):
            names.append(f"signal:{signal.metric}")
            out_of_sample.append(finals - signal.residuals)  # its residuals are leave-one-out already
            candidates.append(signal.predictions)
            shift.append(False)
        out_of_sample, candidates, shift = np.column_stack(out_of_sample), np.column_stack(candidates), np.array(shift)
        # The ranking rules weigh 0: `learned` already reads the early value and the `curve` gain, its penalty
        # chosen by leave-one-out; re-blending them shrank it again by weights measured on 10-25 runs (LoRA
        # eval-loss design ids, warm: 0.953 -> 0.964; benchmarks/results/verdict.md, round 9).
        active = np.array([name not in RULES for name in names])
        weights, offsets = blend_fit(out_of_sample, finals, shift, combine=self.combine, active=active)
        self.weights_ = dict(zip(names, weights.round(4).tolist(), strict=True))
        residuals = finals - blended(out_of_sample, weights, offsets)
        raw, basis = blended(candidates, weights, offsets), predicted_basis(self.name, len(train))
        with_history = calibrated_on_own_runs(curves, raw, residuals, train, at=at, mode=self.mode, basis=basis)
        if with_history is not None:
            return with_history
        # The weights were chosen on the same runs the band is cut from: each run's deviation is taken
        # under the blend weighed without it (as `chosen_deviations` does with 3-7 runs).
        deviations = blend_deviations(out_of_sample[:, active], finals, shift[active], combine=self.combine)
        return calibrated(
            curves, raw, residuals, at=at, mode=self.mode, basis=basis, recenter=False, deviations=deviations
        )


def blend_deviations(predictions: np.ndarray, finals: np.ndarray, shift: np.ndarray, *, combine: str) -> np.ndarray:
    """Per finished run, |its residual - the median of the others'| under the blend weighed and offset
    *without* it: the held-out deviation of a blend chosen on the runs its interval is cut from (the LoRA
    accuracy design ids' warm coverage 0.815 → 0.875; `calibration.conformal_band` uses these below
    `ASYMMETRIC_FROM` runs)."""
    n = len(finals)
    out = np.empty(n)
    for i in range(n):
        others = np.arange(n) != i
        weights, offsets = blend_fit(predictions[others], finals[others], shift, combine=combine)
        residuals = finals - blended(predictions, weights, offsets)
        out[i] = abs(residuals[i] - np.median(residuals[others]))
    return out
