"""From the minimum sufficient n read off a fit to the answer shown: the LCDB-learned steps after the fit.

The read-off answer is moved by the factor learned on LCDB (`correction`), blended with the nearest
past curves' answer where the learned weight says so (`direct`), and the size shown is the window mode
of that answer's predictive distribution (`decision`). `SaturationModel.fit` calls these in that order;
they see the fitted ensemble and the points, never the bootstrap.
"""

from __future__ import annotations

import numpy as np

from foretune.predictors.saturation.correction import correction_features, correction_group, log_factor
from foretune.predictors.saturation.decision import decided_log_answer, truth_support
from foretune.predictors.saturation.direct import blended_log_answer, prefix_features
from foretune.predictors.saturation.ensemble import Ensemble
from foretune.predictors.saturation.estimates import Estimate
from foretune.predictors.saturation.points import MeasuredPoints, noise_level


def log_correction(
    points: MeasuredPoints, ensemble: Ensemble, point: Estimate, regime: str, *, max_n: float, epsilon: float
) -> tuple[float, float | None, np.ndarray | None]:
    """(log(answer / read-off minimum sufficient n), or 0; the corrected answer before the blend, or None
    where the direct estimate took no part; the prefix's features for `direct`, or None): the read-off
    answer corrected by the factor learned on LCDB (`correction`), then blended with the nearest past
    curves' answer (`direct`)."""
    if len(points.sizes) < 2:
        return 0.0, None, None
    answer, last = point[2], float(points.sizes[-1])
    at_max = float(ensemble(np.array([max_n / last]))[0])
    noise = noise_level(points.y, points.groups)
    read = {"answer": answer, "score_at_max": at_max, "max_n": max_n, "noise": noise, "epsilon": epsilon}
    factor = log_factor(correction_features(points.sizes, points.y, **read), regime, len(points.sizes))
    asymptote = point[0] if np.isfinite(point[0]) else at_max
    features = prefix_features(points.sizes, points.y, asymptote=asymptote, **read)
    group = correction_group(regime, len(points.sizes))
    value, blended = blended_log_answer(features, group, np.log(answer / last) + factor)
    return value - np.log(answer / last), answer * np.exp(factor) if blended else None, features


def decided(
    answer: float, group: str, sizes: np.ndarray, bounds: tuple[float, float], features: np.ndarray | None
) -> float:
    """The minimum sufficient n to show: the size most likely within x1.5 of the truth under the
    model's predictive distribution (`decision`: its window mode, not its median `answer`; the errors
    of the LCDB design curves nearest these `features`), since "within x1.5" is what the answer is
    judged by; on the sizes the truth can take (the measured sizes' grid continued to max_n)."""
    support = truth_support(sizes, bounds[1])
    log_answer = decided_log_answer(float(np.log(answer)), group, support, features)
    return float(np.clip(np.exp(log_answer), *bounds))


def corrected(estimate: Estimate, log_shift: float, bounds: tuple[float, float]) -> Estimate:
    """The estimate with its minimum sufficient n moved by exp(log_shift), kept within bounds."""
    asymptote, useful, sufficient = estimate
    return asymptote, useful, float(np.clip(sufficient * np.exp(log_shift), *bounds))
