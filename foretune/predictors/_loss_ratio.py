"""A loss's change after `at`: a difference, or a ratio where that is clearly better on the finished runs.

With 3 to `min_finished` finished runs `auto` moves the snapshot rule (the early value) or the prior's
prediction by the finished runs' median error, as a difference: on the design sets runs high early mostly stay
high (round 19 measured a ratio everywhere and rejected it: vlm's cold-5 error grew by 60%). But a loss that
falls tenfold from any level (the README's stand-in train function: runs at 0.1-0.4 ending at 0.01-0.04),
moved by the median difference of runs that fell from 0.2 and 0.4, lands below 0 for a run at 0.1: it read
"predicted final 0 [0, 0.30]". So for a loss whose every value is positive, the rule that ranks is picked by
its difference's leave-one-out error as before, then its ratio form replaces the difference where its error is
clearly smaller (`RATIO_MARGIN`): the ranking never changes, only the scale of the predicted finals. The
interval is cut from held-out deviations taken under the rule and form picked without each run.
"""

from __future__ import annotations

import numpy as np

from foretune.keys import MAD_TO_STD

# The ratio replaces the difference only where its leave-one-out mean squared error is below this share of the
# difference's (its typical error under half). Picked wherever it erred less, it cost the design sets' vlm 5-6%
# of cold-3/5 error and the LoRA even ids 2-5%; at 0.25 their errors move by 1% at most, and a tenfold fall
# is still caught (benchmarks/results/verdict.md, round 25).
RATIO_MARGIN = 0.25


def logs_apply(*arrays: np.ndarray) -> bool:
    """Whether every finite value of `arrays` is positive (a loss: its ratio form is defined), with one at least."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool((values > 0).all())


def _space(values: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ratio, np.log(np.where(ratio, values, 1.0)), values)


def _back(values: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(ratio, np.exp(np.where(ratio, values, 0.0)), values)


def moved(raw: np.ndarray, finals: np.ndarray, targets: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """`targets` (runs x columns, the columns' raw predictions) moved by the median error of `raw` on `finals`
    per column: a difference, or a log ratio where `ratio`; in the metric's units."""
    errors = _space(finals[:, None], ratio) - _space(raw, ratio)
    return _back(_space(targets, ratio) + np.median(errors, axis=0), ratio)


def out_of_sample(raw: np.ndarray, finals: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Each finished run's prediction from the others: its raw value per column moved by the *other* runs'
    mean error (a difference, or a log ratio where `ratio`), in the metric's units."""
    errors = _space(finals[:, None], ratio) - _space(raw, ratio)
    return _back(_space(raw, ratio) + others_mean(errors), ratio)


def others_mean(errors: np.ndarray) -> np.ndarray:
    """Per run and column, the mean of the *other* runs' errors (runs x columns): a leave-one-out offset."""
    return (errors.sum(axis=0) - errors) / max(len(errors) - 1, 1)


def form_errors(raw: np.ndarray, finals: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Robust mean squared leave-one-out error of each column (`out_of_sample`; `clipped_mean_squares`). With
    no ratio column it is `_auto.offset_errors` of shifted columns."""
    return clipped_mean_squares(finals[:, None] - out_of_sample(raw, finals, ratio))


def clipped_mean_squares(errors: np.ndarray) -> np.ndarray:
    """Mean squared error per column, each error clipped at 3 robust std (MAD) pooled over all columns, so that
    one diverged run does not decide a choice and no column is favoured for having its own wild errors cut."""
    mad = MAD_TO_STD * np.median(np.abs(errors - np.median(errors)))
    limit = 3 * mad if mad > 0 else np.inf
    return (np.clip(errors, -limit, limit) ** 2).mean(axis=0)


def pick(raw: np.ndarray, finals: np.ndarray, *, ratio_applies: bool) -> tuple[int, bool]:
    """(column, as a ratio): the column whose difference errs least (`form_errors`: the rule that ranks), then,
    where `ratio_applies`, its ratio form if that errs less (the scale it predicts on; the ranking stays)."""
    column = int(np.argmin(form_errors(raw, finals, np.zeros(raw.shape[1], dtype=bool))))
    if not ratio_applies:
        return column, False
    errors = form_errors(raw[:, [column, column]], finals, np.array([False, True]))
    return column, bool(errors[1] < RATIO_MARGIN * errors[0])


def _predicted_without(raw: np.ndarray, finals: np.ndarray, i: int, column: int, ratio: bool) -> float:
    """Run `i`'s final predicted from the other runs: its raw value in `column` moved by their median error (a
    difference, or a log ratio where `ratio`)."""
    others = np.arange(len(finals)) != i
    return float(moved(raw[others][:, [column]], finals[others], raw[[i]][:, [column]], np.array([ratio]))[0, 0])


def held_out_errors(raw: np.ndarray, finals: np.ndarray, *, column: int, ratio: bool) -> np.ndarray:
    """Per finished run, |its final - its prediction from the others| under one rule (`column`) and form: that
    rule's leave-one-out error in the metric's units."""
    return np.array([abs(finals[i] - _predicted_without(raw, finals, i, column, ratio)) for i in range(len(finals))])


def chosen_deviations(raw: np.ndarray, finals: np.ndarray, *, ratio_applies: bool) -> np.ndarray:
    """Per finished run, |its final - its prediction from the others| under the column and form `pick` chooses
    *without* it, moved by the others' median error: the held-out deviation of choosing a rule and a form on the
    runs the interval is cut from. With no ratio it is round 6's: |its residual - the median of the others'|.
    The picked rule's own deviations would be optimistic."""
    out = np.empty(len(finals))
    for i in range(len(finals)):
        others = np.arange(len(finals)) != i
        column, ratio = pick(raw[others], finals[others], ratio_applies=ratio_applies)
        out[i] = abs(finals[i] - _predicted_without(raw, finals, i, column, ratio))
    return out
