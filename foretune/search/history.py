"""Cross-study history: finished runs of earlier studies in the same storage, for the predictor.

A user who tuned the same task on the same model for the same metric before has already seen how
runs like these end. Those finished runs count as finished runs of the new study for the early-stage
predictor (they fit it; they are never ranked against the new study's trials). Studies match on the
config stored with each (`keys.CONFIG_ATTR`): the `task` section, the model name, and the search
metric and mode. No Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from foretune.keys import CONFIG_ATTR, INTERRUPTED_ATTR
from foretune.predictors._base import Curve
from foretune.search.storage import trial_curve


def match_key(config: Mapping[str, Any]) -> tuple | None:
    """What a study must share with another for its runs to inform it (None: not a foretune config)."""
    search = config.get("search") or {}
    task, model = config.get("task"), (config.get("model") or {}).get("name")
    if not task or not model or not search.get("metric") or not search.get("mode"):
        return None
    # A user's own function (search.trainable) only learns from studies of the same function.
    return (repr(sorted(task.items())), model, search["metric"], search["mode"], search.get("trainable"))


def history_curves(storage: BaseStorage, study_name: str, config: Mapping[str, Any]) -> tuple[list[Curve], list[str]]:
    """Finished curves of the other studies in `storage` that match `config`, and those studies' names."""
    key = match_key(config)
    if key is None:
        return [], []
    curves: list[Curve] = []
    used: list[str] = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.study_name == study_name or match_key(summary.user_attrs.get(CONFIG_ATTR) or {}) != key:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        finished = [
            trial_curve(t)
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.values is not None and not t.user_attrs.get(INTERRUPTED_ATTR)
        ]
        finished = [c for c in finished if len(c.fractions) and c.fractions[-1] >= 1.0 - 1e-9]
        if finished:
            curves += [replace(c, trial=f"{summary.study_name}/{c.trial}", history=True) for c in finished]
            used.append(summary.study_name)
    return curves, used
