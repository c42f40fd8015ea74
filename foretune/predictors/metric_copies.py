"""Which reported losses are one quantity under two names: read once.

A trainer may report its eval loss beside its perplexity (`eval_ppl` = exp(eval loss)), the same values under a
second name (`val_nll` beside `val_loss`), the loss in other units (bits, `eval_bpb` = the loss over ln 2 times a
fixed tokens-per-byte ratio, beside nats; a sum over a fixed number of tokens beside the mean; fairseq's `valid_ppl`,
2 ** `valid_nll_loss`), a power of it (a regression's `eval_rmse`, the square root of its MSE `eval_loss`; round 40)
or a copy of a loss objective. Each copy was its own feature of `learned`, candidate line and blend member of `auto`:
the quantity weighed twice, and which copy's line was taken changed with noise as runs finished
(benchmarks/results/verdict.md, rounds 38-40). On the log scale `learned` and the loss lines read a loss
on, each of these is the loss again (a constant apart, or a constant times it).

Copies are decided on finished runs: their whole curves tell a copy from a loss that agrees with another at a
judged run's one or two points at 20% (rounded logs), and a constant ratio needs several points to mean anything
(any two numbers have one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foretune.predictors._base import Curve
from foretune.predictors.metric_names import base_words, is_held_out, is_loss

# Distinct values a constant ratio must hold over before two losses count as one in other units: any two numbers
# have a ratio, and finished runs of a coarse set (llm: 2 points a run) give a few.
MIN_POINTS_FOR_A_RATIO = 3
RTOL = 1e-5  # float32 precision: two columns computed from one evaluation, logged as floats


def common_names(curves: Sequence[Curve]) -> list[str]:
    """The extra metrics every one of `curves` reports, sorted."""
    common = set(curves[0].extras) if curves else set()
    for curve in curves[1:]:
        common &= set(curve.extras)
    return sorted(common)


def repeated_losses(curves: Sequence[Curve]) -> list[str]:
    """The losses every one of `curves` reports that are copies of another loss or of the objective
    (`distinct_metrics`)."""
    common = common_names(curves)
    return sorted(set(common) - set(distinct_metrics(curves, common)))


def distinct_metrics(curves: Sequence[Curve], names: Sequence[str]) -> list[str]:
    """`names` (sorted) less each loss (`metric_names.is_loss`) that repeats another, or the objective, in every run
    of `curves`: the same values (`nll` beside `val_loss`), a constant times them (`val_bpb` beside `val_loss`), a
    power of them (`val_rmse` beside an MSE `val_loss`) or exp of a constant times them (`val_ppl` beside `val_loss`
    or `val_bpb`). Of the copies a held-out name is kept (the verdict prefers a held-out loss by its name), then one
    named "...loss", and the log scale (the loss, not its perplexity). Only losses: other metrics that agree on a few
    runs (coarse sub-scores early) may differ on the next."""
    losses = sorted((n for n in names if is_loss(n)), key=loss_preference)
    if not losses:
        return sorted(names)
    series = {name: np.concatenate([c.extras[name] for c in curves]) for name in losses}
    objective = np.concatenate([c.values for c in curves])
    kept: list[str] = []
    for name in losses:
        loss = series[name]
        if _copy(loss, objective) or _exp_scaled(objective, loss):
            continue  # the objective again, in other units, its perplexity or its loss: the early curve carries it
        its_perplexity = next((k for k in kept if _exp_scaled(series[k], loss)), None)  # a kept exp(c x name)
        if its_perplexity is not None:
            if is_held_out(name) or not is_held_out(its_perplexity):  # the log scale (the loss), a held-out name first
                kept[kept.index(its_perplexity)] = name
        elif not any(_copy(loss, series[k]) for k in kept):
            kept.append(name)
    return sorted([n for n in names if not is_loss(n)] + kept)


def loss_preference(name: str) -> tuple[bool, bool, str]:
    """Held-out first, then a name ending in "loss" (`val_loss` or `val_loss_epoch` before `val_bpb`: the unit most
    users read)."""
    return not is_held_out(name), not "".join(base_words(name)).endswith("loss"), name


def _copy(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` is `b` in other units (`_scaled`), a power of it (`_powered`) or its perplexity (`_exp_scaled`)."""
    return _scaled(a, b) or _powered(a, b) or _exp_scaled(a, b)


def _scaled(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` is `b` (`_same`), or a positive constant times `b` at `MIN_POINTS_FOR_A_RATIO` or more distinct values."""
    if _same(a, b):
        return True
    both = np.isfinite(a) & np.isfinite(b) & (b != 0)
    if len(np.unique(b[both])) < MIN_POINTS_FOR_A_RATIO:
        return False
    ratio = float(np.median(a[both] / b[both]))
    return ratio > 0 and _same(a, ratio * b)


def _exp_scaled(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` is exp(`b`) (a perplexity of the loss `b`), or exp of a positive constant times `b` (`a` = 2 ** bits)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if _same(a, np.exp(b)):
            return True
        finite = np.isfinite(a)
        return bool(finite.any() and (a[finite] > 0).all()) and _scaled(np.log(a), b)


def _powered(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` is a positive power of `b` (both positive): log `a` a constant times log `b` at `MIN_POINTS_FOR_A_RATIO`
    or more distinct values; a root mean squared error beside its mean squared error. Compared in log space to
    `RTOL` absolute (a relative error in `a`), so values near 1 (logs near 0) hold to the same precision."""
    finite = np.isfinite(a) & np.isfinite(b)
    aligned = bool((np.isnan(a) == np.isnan(b)).all())
    if not aligned or not finite.any() or (a[finite] <= 0).any() or (b[finite] <= 0).any():
        return False
    log_a, log_b = np.log(a[finite]), np.log(b[finite])
    telling = np.abs(log_b) > 1e-3  # a value near 1 says nothing of the power
    if len(np.unique(log_b[telling])) < MIN_POINTS_FOR_A_RATIO:
        return False
    power = float(np.median(log_a[telling] / log_b[telling]))
    return power > 0 and bool(np.allclose(log_a, power * log_b, rtol=0, atol=RTOL * (1 + power)))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` equals `b` (to float32 precision) wherever both are finite, reported at the same points, and some value."""
    both = np.isfinite(a) & np.isfinite(b)
    aligned = bool((np.isnan(a) == np.isnan(b)).all())
    return aligned and bool(both.any()) and bool(np.allclose(a[both], b[both], rtol=RTOL, atol=0))
