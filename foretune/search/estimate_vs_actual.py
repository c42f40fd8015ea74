"""Estimate vs actual: `foretune report` compares `RUN_DIR/estimate.json` (written by `foretune estimate --out`,
`foretune.search.estimate.write_estimate`) with the study's trials. Imports neither torch nor Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from foretune.keys import CONFIG_ATTR, ESTIMATE_NAME, INTERRUPTED_ATTR
from foretune.search.run_costs import SECONDS_PER_HOUR

if TYPE_CHECKING:
    import optuna


def _versus(estimated: float, actual: float) -> str:
    if actual <= 0:
        return "n/a"
    return f"{(estimated - actual) / actual:+.0%}"


def estimate_vs_actual(study: optuna.Study, run_dir: str | Path) -> list[str]:
    """Sentences comparing `RUN_DIR/estimate.json` with the study's trials; none without the file.

    Like with like: the trials' wall time (first trial start to last trial end) and their time x the
    devices each holds, against the estimate's `trials_wall_seconds` and device-hours."""
    from optuna.trial import TrialState

    path = Path(run_dir) / ESTIMATE_NAME
    if not path.is_file():
        return []
    try:
        estimated = json.loads(path.read_text())["search"]
    except (OSError, ValueError, KeyError) as error:
        return [f"Estimate vs actual: {path} is unreadable ({error}); rerun `foretune estimate --out`."]
    ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=ended)
        if t.datetime_start and t.datetime_complete and not t.user_attrs.get(INTERRUPTED_ATTR)
    ]
    if not trials:
        return ["Estimate vs actual: no finished trials yet."]
    resources = study.user_attrs.get(CONFIG_ATTR, {}).get("resources", {})
    per_run = resources.get("gpus_per_trial") or resources.get("cpus_per_trial") or 1.0
    wall = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    hours = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials) * per_run / SECONDS_PER_HOUR
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    unit = estimated.get("device", "device")
    lines = [
        f"Estimate ({ESTIMATE_NAME}) vs actual over {len(trials)} trials (estimated for {estimated['trials']}): "
        f"trials' wall time {estimated['trials_wall_seconds'] / 60:.1f} vs {wall / 60:.1f} min "
        f"({_versus(estimated['trials_wall_seconds'], wall)}); {unit}-hours {estimated['device_hours']:.3g} vs "
        f"{hours:.3g} ({_versus(estimated['device_hours'], hours)}); run to the end "
        f"{estimated['expected_complete']:.1f} vs {complete}."
    ]
    return lines
