"""Estimate vs actual: `foretune report` compares `RUN_DIR/estimate.json` (written by `foretune estimate --out`,
`foretune.search.estimate.write_estimate`) with the study's trials. Imports neither torch nor Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from foretune.config.sections import space_key_path
from foretune.keys import CONFIG_ATTR, ESTIMATE_NAME, INTERRUPTED_ATTR, TEST_ATTR_PREFIX
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
    unit = estimated.get("device", "device")
    head = f"Estimate ({ESTIMATE_NAME}) vs actual"
    if len(trials) != estimated["trials"]:
        # A search cut short (time budget, Ctrl-C) or run on: its totals are not the estimate's; each trial is.
        return [
            f"{head}: the estimate is for {estimated['trials']} trials and {len(trials)} ended, so the search's wall "
            f"time and {unit}-hours are not compared; per trial: {_per_trial(estimated, trials)}."
        ]
    wall = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    hours = sum(_seconds(t) for t in trials) * per_run / SECONDS_PER_HOUR
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    return [
        f"{head} over {len(trials)} trials: "
        f"trials' wall time {estimated['trials_wall_seconds'] / 60:.1f} vs {wall / 60:.1f} min "
        f"({_versus(estimated['trials_wall_seconds'], wall)}); {unit}-hours {estimated['device_hours']:.3g} vs "
        f"{hours:.3g} ({_versus(estimated['device_hours'], hours)}); run to the end "
        f"{estimated['expected_complete']:.1f} vs {complete}."
    ]


def _seconds(trial: optuna.trial.FrozenTrial) -> float:
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _estimated_seconds(by_model: dict[str, float], trial: optuna.trial.FrozenTrial) -> float | None:
    """The estimate of `trial`'s model: the only one, or the one its searched `model.name` chose."""
    if len(by_model) == 1:
        return next(iter(by_model.values()))
    chosen = next((v for k, v in trial.params.items() if space_key_path(k) == "model.name"), None)
    return by_model.get(str(chosen))


def _per_trial(estimated: dict, trials: list[optuna.trial.FrozenTrial]) -> str:
    """Each kind of trial's estimated seconds against the mean of the ended trials of that kind."""
    from optuna.trial import TrialState

    parts = []
    for name, state, key in (
        ("a complete trial", TrialState.COMPLETE, "full_trial_seconds"),
        ("a pruned trial", TrialState.PRUNED, "pruned_trial_seconds"),
    ):
        pairs = []
        for trial in (t for t in trials if t.state == state):
            guess = _estimated_seconds(estimated.get(key, {}), trial)
            if guess is not None and state == TrialState.COMPLETE:  # the estimate's scores the test split
                guess = _without_test(estimated, trial, guess)
            if guess is not None:
                pairs.append((guess, _seconds(trial)))
        if not pairs:
            parts.append(f"{name}: none ended")
            continue
        guess = sum(g for g, _ in pairs) / len(pairs)
        actual = sum(a for _, a in pairs) / len(pairs)
        parts.append(f"{name} {guess:.0f} vs {actual:.0f} s (mean of {len(pairs)}; {_versus(guess, actual)})")
    return "; ".join(parts)


def _without_test(estimated: dict, trial: optuna.trial.FrozenTrial, seconds: float) -> float:
    """A complete trial's estimated seconds, less its test evaluation where it ran none (it did not lead)."""
    scored = any(key.startswith(TEST_ATTR_PREFIX) for key in trial.user_attrs)
    test = _estimated_seconds(estimated.get("test_evaluation_seconds", {}), trial)
    return seconds if scored or test is None else seconds - test
