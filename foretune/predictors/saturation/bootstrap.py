"""The bootstrap of a saturation fit: resampled means, each refitted, for the noise-only bands."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from foretune.predictors.saturation.ensemble import Ensemble
from foretune.predictors.saturation.points import MeasuredPoints


def bootstrap_fits(
    points: MeasuredPoints,
    ensemble: Ensemble,
    noise: float,
    *,
    n_bootstrap: int,
    seed: int,
    fit: Callable[[np.ndarray, Ensemble], Ensemble | None],
) -> list[tuple[Ensemble, np.ndarray]]:
    """(refitted ensemble, resampled means) per replicate that could be fitted.

    `fit(y_star, warm)` refits the model's ensemble to resampled means, starting from `warm`.
    """
    if n_bootstrap == 0:
        return []
    x, y, w, groups = points.x, points.y, points.w, points.groups
    rng = np.random.default_rng(seed)
    fitted = ensemble(x)
    # Each residual at least the noise of its mean: a curve through a handful of points fits
    # them almost exactly, and their residuals alone would give a zero-width interval.
    residuals = np.maximum(np.abs(y - fitted), noise * np.sqrt(w.mean() / w))
    repeated = sum(len(g) >= 2 for g in groups.values()) >= len(groups) / 2
    replicates = []
    for _ in range(n_bootstrap):
        if repeated:
            # Bootstrap over repeats: resample the seeds measured at each n.
            y_star = np.array(
                [
                    rng.choice(g, size=len(g)).mean() if len(g) >= 2 else yi
                    for g, yi in zip(groups.values(), y, strict=True)
                ]
            )
        else:
            # Wild bootstrap: each residual keeps its size and gets a random sign.
            y_star = fitted + residuals * rng.choice([-1.0, 1.0], size=len(y))
        rep = fit(y_star, ensemble)
        if rep is not None:
            replicates.append((rep, y_star))
    return replicates
