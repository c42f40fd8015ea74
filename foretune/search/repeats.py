"""`early_stage.stop_repeats`: whether a running trial re-runs a finished one (plain numbers, no Ray, no Optuna).

A trial whose evaluations so far all equal a finished trial's (the objective and every other metric both
reported) replays a run already run to the end, e.g. the same config trained again by a deterministic trainer:
its final is known, so it can stop. At least `MIN_POINTS` evaluations must agree, and not all with one value: a
single equal score (an accuracy on a small eval set) or a flat start (accuracy at chance) is shared by unrelated
runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from foretune.predictors._base import Curve

MIN_POINTS = 2

Points = Mapping[float, Mapping[str, float]]  # fraction -> {"": the objective, other metric: value}


def curve_points(curve: Curve) -> dict[float, dict[str, float]]:
    """A finished run's evaluations as `Points`, fractions rounded like the evaluator's."""
    return {
        round(float(f), 9): {"": float(v)} | {n: float(a[i]) for n, a in curve.extras.items()}
        for i, (f, v) in enumerate(zip(curve.fractions, curve.values, strict=True))
    }


def same_evaluation(mine: Mapping[str, float], theirs: Mapping[str, float]) -> bool:
    """Whether two evaluations agree on the objective ("") and on every other metric both reported."""
    shared = mine.keys() & theirs.keys()
    return "" in shared and all(bool(np.isclose(mine[n], theirs[n], rtol=1e-9, atol=1e-12)) for n in shared)


def repeated_run(mine: Points, finished: Iterable[tuple[str, Points]]) -> str | None:
    """The id of the first finished run whose evaluations equal every one of `mine`; None if none (or too few)."""
    if len(mine) < MIN_POINTS or np.ptp([m[""] for m in mine.values()]) == 0:
        return None
    for run_id, theirs in finished:
        if all(f in theirs and same_evaluation(metrics, theirs[f]) for f, metrics in mine.items()):
            return run_id
    return None
