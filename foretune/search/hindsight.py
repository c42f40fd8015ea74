"""The 20% judgement checked in hindsight: each complete trial predicted from its own early curve by the
study's predictor fitted on the *other* complete trials (leave-one-out), against the final it reached.

The search judges trials as they reach the early fraction, often with fewer finished runs (the grace
trials are judged with none, so they never get a predicted final). Once the study is over, every
complete trial can be predicted the same way with the others as the finished runs: this says how well
the predictor ranks the study's own trials at the early fraction, on all complete trials. The predictor
sees what it saw in the search: the objective's curve, the other metrics stored with each trial (user
attribute `extras`: eval loss, train loss, ...) and the hyperparameters.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from foretune.config import EarlyStageConfig, SearchConfig, validate_config
from foretune.errors import ForetuneError
from foretune.keys import CONFIG_ATTR, INTERRUPTED_ATTR
from foretune.predictors import get_predictor
from foretune.predictors.calibration import clip_to_bounds
from foretune.predictors.metrics import spearman
from foretune.search.fits import range_of, search_range
from foretune.search.storage import trial_curve

MIN_TRIALS = 4  # 3 finished runs to predict from, plus the one predicted
COLUMNS = ["trial", "final", "predicted", "lower", "upper", "basis"]


def leave_one_out(study: optuna.Study, mode: str) -> pd.DataFrame:
    """trial, final, predicted, lower, upper and the prediction's basis (which predictor, from how many runs)
    of each complete trial (empty when fewer than `MIN_TRIALS`, or when the predictor predicts no final)."""
    early = {**EarlyStageConfig().model_dump(), **study.user_attrs.get(CONFIG_ATTR, {}).get("early_stage", {})}
    at = float(early["fraction"])
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and not t.user_attrs.get(INTERRUPTED_ATTR)
    ]
    finals = {t.number: float(t.values[0]) for t in complete}
    curves = [trial_curve(t) for t in complete]
    curves = [c for c in curves if len(c.upto(at).values) and c.fractions[-1] >= 1.0]
    rows = []
    if len(curves) < MIN_TRIALS:
        return pd.DataFrame(rows, columns=COLUMNS)
    search = _stored_search(study)
    bounds = range_of(None if search is None else search_range(search), curves)  # as the search clipped, read once
    metric = None if search is None else search.metric
    given = None if search is None else search.given_range
    for i, curve in enumerate(curves):
        predictor = get_predictor(str(early["predictor"]), mode=mode, metric=metric, metric_range=given)
        predictor = predictor.fit(curves[:i] + curves[i + 1 :])
        prediction = clip_to_bounds(predictor.predict([curve.upto(at)], at=at), bounds)
        if prediction.predicted:
            interval = (prediction.mean[0], prediction.lower[0], prediction.upper[0])
            rows.append([curve.trial, finals[curve.trial], *map(float, interval), prediction.basis])
    return pd.DataFrame(rows, columns=COLUMNS)


def _stored_search(study: optuna.Study) -> SearchConfig | None:
    """The search section of the stored config (its metric's name and range, as the search read them); None where
    none is stored (a study run without foretune) or it no longer validates."""
    stored = study.user_attrs.get(CONFIG_ATTR) or {}
    try:
        return validate_config(stored, "(stored with the study)").search if "search" in stored else None
    except ForetuneError:
        return None


def spearman_text(x, y, tied: str) -> str:
    """ "Spearman 0.64", or why there is none: where every trial has the same `tied` (an early score flat at 20%:
    every trial at the floor) or the same final, a rank correlation is not a number, and the report shows none."""
    x = np.asarray(x, dtype=float)
    rho = spearman(x, np.asarray(y, dtype=float))
    if np.isfinite(rho):
        return f"Spearman {rho:.2f}"
    return f"no Spearman ({'the finals' if np.ptp(x) > 0 else tied} all equal)"


def bases_text(bases: pd.Series) -> str:
    """The bases of the hindsight predictions: one as it is; several each with how many trials it predicted."""
    counts = bases.value_counts(sort=False)
    return counts.index[0] if len(counts) == 1 else "; ".join(f"{b}: {n} of them" for b, n in counts.items())


def hindsight_lines(study: optuna.Study, mode: str) -> list[str]:
    """One sentence on the leave-one-out check (none when the study has too few complete trials)."""
    if len(study.directions) > 1:
        return []
    check = leave_one_out(study, mode)
    if len(check) < MIN_TRIALS:
        return []
    fraction = study.user_attrs.get(CONFIG_ATTR, {}).get("early_stage", {}).get("fraction")
    at = f"{fraction:.0%}" if fraction else "the early fraction"
    agreement = spearman_text(check["predicted"], check["final"], "the predicted finals")
    inside = int(np.sum((check["lower"] <= check["final"]) & (check["final"] <= check["upper"])))
    bases = bases_text(check["basis"])
    return [
        f"In hindsight, each of the {len(check)} complete trials predicted at {at} from the others (leave-one-out,"
        f" {bases}): {agreement} with the finals; {inside} of {len(check)} finals inside their 80% interval."
    ]
