"""The 20% judgement checked in hindsight: each complete trial predicted from its own early curve by the
study's predictor fitted on the *other* complete trials (leave-one-out), against the final it reached.

The search judges trials as they reach the early fraction, often with fewer finished runs (the grace
trials are judged with none, so they never get a predicted final). Once the study is over, every
complete trial can be predicted the same way with the others as the finished runs: this says how well
the predictor ranks the study's own trials at the early fraction, on all complete trials. Only the
objective's curve is stored with a trial, so the search's extra signals (eval loss) are not used here.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from foretune.config import EarlyStageConfig
from foretune.keys import CONFIG_ATTR, INTERRUPTED_ATTR
from foretune.predictors import get_predictor
from foretune.predictors.metrics import spearman
from foretune.search.storage import trial_curve

MIN_TRIALS = 4  # 3 finished runs to predict from, plus the one predicted


def leave_one_out(study: optuna.Study, mode: str) -> pd.DataFrame:
    """trial, final, predicted, lower, upper of each complete trial (empty when fewer than `MIN_TRIALS`,
    or when the predictor predicts no final)."""
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
        return pd.DataFrame(rows, columns=["trial", "final", "predicted", "lower", "upper"])
    for i, curve in enumerate(curves):
        predictor = get_predictor(str(early["predictor"]), mode=mode).fit(curves[:i] + curves[i + 1 :])
        prediction = predictor.predict([curve], at=at)
        if prediction.predicted:
            interval = (prediction.mean[0], prediction.lower[0], prediction.upper[0])
            rows.append([curve.trial, finals[curve.trial], *map(float, interval)])
    return pd.DataFrame(rows, columns=["trial", "final", "predicted", "lower", "upper"])


def hindsight_lines(study: optuna.Study, mode: str) -> list[str]:
    """One sentence on the leave-one-out check (none when the study has too few complete trials)."""
    if len(study.directions) > 1:
        return []
    check = leave_one_out(study, mode)
    if len(check) < MIN_TRIALS:
        return []
    fraction = study.user_attrs.get(CONFIG_ATTR, {}).get("early_stage", {}).get("fraction")
    at = f"{fraction:.0%}" if fraction else "the early fraction"
    rho = spearman(check["predicted"].to_numpy(), check["final"].to_numpy())
    inside = int(np.sum((check["lower"] <= check["final"]) & (check["final"] <= check["upper"])))
    return [
        f"In hindsight, each of the {len(check)} complete trials predicted at {at} from the others (leave-one-out,"
        f" objective curve only): Spearman {rho:.2f} with the finals; {inside} of {len(check)} finals inside"
        " their 80% interval."
    ]
