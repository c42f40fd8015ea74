"""Resuming a study with another config: refuse the changes that make its finals incomparable.

A search resumes when the same command runs again. If the config changed in between (another budget, other
data, another model), the new trials' finals would be ranked against the old ones' and the early-stage
predictor would learn from runs of another kind, silently. What a trial's final depends on is checked:
the `model`, `data`, `task` and `train` sections, less what the search sets per trial (`search.space`) and
what does not change a final (where it runs, the test split's scoring). Everything else (trials, concurrency,
resources, the early-stage rule, the space itself) may change between sessions.

A sweep (`sweep_changes_since`) checks more: it trains with the config's own values (no space), its score is the
test split's, and its epochs and metric set every run's budget and score.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from foretune.config import ExperimentConfig, space_key_path

SECTIONS = ("model", "data", "task", "train")
# Keys that do not change a trial's final: where and how fast it runs, when it is evaluated along the way (a new
# early_stage.fraction adds its point), and what scores the test split.
UNCHECKED = {
    "model.offline",
    "train.device",
    "train.num_threads",
    "train.eval_fractions",
    "data.max_test_samples",
    "data.test_folds",
    "task.test_on_completion",
}


# A sweep's run is scored on the test split, with the sweep's epochs, by the search metric.
SWEEP_UNCHECKED = {"model.offline", "train.device", "train.num_threads", "train.eval_fractions"}
SWEEP_KEYS = ("sweep.epochs", "search.metric", "search.mode")


def stored_config(config: ExperimentConfig) -> dict[str, Any]:
    """The config as a study keeps it (user attribute CONFIG_ATTR): JSON, a storage's password masked."""
    from foretune.search.storage import redact

    stored = config.model_dump(mode="json")
    stored["storage"] = redact(stored["storage"]) if stored.get("storage") else None
    return stored


def changes_since(stored: Mapping[str, Any], config: ExperimentConfig) -> list[str]:
    """'key: stored -> now' for each checked key that differs; keys the stored config lacks (a study
    written by an earlier foretune, before the key existed) are not compared."""
    now = config.model_dump(mode="json")
    space = {**(stored.get("search") or {}).get("space", {}), **(now.get("search") or {}).get("space", {})}
    searched = {space_key_path(key) for key in space}
    return _changed(stored, now, UNCHECKED, searched)


def sweep_changes_since(stored: Mapping[str, Any], config: ExperimentConfig) -> list[str]:
    """As `changes_since`, for a sweep: every key of the checked sections but where the runs run, and SWEEP_KEYS."""
    now = config.model_dump(mode="json")
    changed = _changed(stored, now, SWEEP_UNCHECKED, set())
    for key in SWEEP_KEYS:
        section, name = key.split(".")
        after = now[section][name]
        before = (stored.get(section) or {}).get(name, after)  # a key the stored config lacks is not compared
        if before != after:
            changed.append(f"{key}: {before!r} -> {after!r}")
    return changed


def _changed(stored: Mapping[str, Any], now: Mapping[str, Any], unchecked: set[str], searched: set[str]) -> list[str]:
    changed = []
    for section in SECTIONS:
        for path, before, after in _differences(stored.get(section), now.get(section), section):
            if path in unchecked or any(path == key or path.startswith(f"{key}.") for key in searched):
                continue
            changed.append(f"{path}: {before!r} -> {after!r}")
    return changed


def _differences(before: Any, after: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if before is None and after is not None and path in SECTIONS:
        return  # a study stored without the section: nothing to compare
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in before:
            if key in after:
                yield from _differences(before[key], after[key], f"{path}.{key}")
        return
    if before != after:
        yield path, before, after
