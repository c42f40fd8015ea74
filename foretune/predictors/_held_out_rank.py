"""A score ranked by its held-out loss while no final can be predicted: `auto`'s cold start for a score (mode "max").

With 0 or 1 finished runs there is no line from any metric to the final, nor an error to weigh one by, and with 2
none where the two runs ended in the other order than their losses at 20% (a line of the wrong slope: two runs
whose losses lay close, ordered by noise), so `auto` ranks the runs with no final predicted. Which early value ranks
them: a score (an accuracy over a few dozen validation items, a zero-shot recall) is coarse at 20% of a run, often
flat at its floor, while the held-out loss every run reports beside it (eval loss, val loss:
`metric_names.is_held_out`) is continuous and already orders the runs. On every curve set of the repo with a score
and a held-out loss, 20 draws of up to 50 runs each, the held-out loss at 20% ranked the score's finals better than
the score at 20% (Spearman; `benchmarks/results/verdict.md`, round 45): LoRA accuracy design ids 0.821 -> 0.910
(`lora_curves.csv`) and -0.120 -> 0.968 (`lora_curves_job.csv`); the error of scan-bench's OpenCLIP runs on the 5-7
epoch design-config pools +0.004 to +0.029 (ImageNet), +0.051 to +0.161 (CIFAR-10). From 2 finished runs a line
with the right slope takes over (`_signal.best_signal`), its direction checked on them; here it is assumed: a lower
held-out loss, a better score (with 2 runs that disagree, 1 pair against every set above). A line that only ranks
(`Signal.rank_only`) orders by the loss itself too, and so does a study of 3-7 finished runs whose held-out loss has
no line while a judged run's lies far outside theirs (`_signal.unplaced_by_finished`, round 59). A loss objective
(mode "min") keeps its own early value: it is as fine as another loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foretune.predictors._base import Curve, Prediction
from foretune.predictors._learned import extra_features, extra_names
from foretune.predictors.metric_copies import loss_preference
from foretune.predictors.metric_names import is_held_out, is_loss, is_test


def held_out_loss(curves: Sequence[Curve]) -> str | None:
    """The held-out loss every one of `curves` reports (a validation loss before a test loss, then the name a user
    reads: `loss_preference`), or None."""
    names = [n for n in extra_names(curves, distinct=False) if is_loss(n) and is_held_out(n)]
    return min(names, key=lambda n: (is_test(n), loss_preference(n))) if names else None


def loss_order(curves: Sequence[Curve], at: float, metric: str) -> np.ndarray:
    """Values that order `curves` as `metric` at `at` does, lower loss first for a score (mode "max"): minus the
    loss (NaN for a run with none by `at`). In no metric's units: a ranking's."""
    return -extra_features(curves, at, [metric])[:, 0]


def loss_ranking(curves: Sequence[Curve], at: float, metric: str, *, basis: str, finished: int) -> Prediction:
    """`curves` ranked by `metric` at `at` (`loss_order`), no final predicted, `basis` saying why: the one form of a
    ranking by a loss (here, and a line's tail that only ranks: `_signal.signal_prediction`)."""
    order = loss_order(curves, at, metric)
    return Prediction(
        order, order.copy(), order.copy(), predicted=False, basis=basis, finished_used=finished, follows=metric
    )


def held_out_ranking(
    curves: Sequence[Curve], at: float, *, finished: int, basis: str | None = None
) -> Prediction | None:
    """`curves` ranked by their held-out loss at `at` (`loss_ranking`); None where no held-out loss is reported by
    every run by `at` (a run with none, not yet logged or gone NaN, cannot be placed by it: as for a loss's line,
    `_signal.line_signal`, the early score then ranks them all). `basis`: why, where not too few finished runs."""
    metric = held_out_loss(curves)
    if metric is None:
        return None
    runs = "run" if finished == 1 else "runs"
    if basis is None:
        basis = f"ranked by {metric} at {at:.0%}, finer than the score there; {finished} finished {runs}, "
        basis += "no final predicted"
    ranking = loss_ranking(curves, at, metric, basis=basis, finished=finished)
    return ranking if np.isfinite(ranking.mean).all() else None
