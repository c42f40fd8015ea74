"""The experiment config: one typed, validated object loaded from YAML.

Every field has a default and help text (like peft's `LoraConfig`); a YAML file only overrides the
defaults. Unknown keys and wrong types are errors that name the key and the file. Sections:

- ``model``        which pretrained model to fine-tune
- ``data``         where the records come from and how they are split
- ``task``         how a record becomes a prompt and how answers are scored
- ``train``        the LoRA fine-tune of one trial (budget = optimizer steps)
- ``search``       the search space and how many trials to run
- ``early_stage``  the early-stage evaluator that prunes trials at a fraction of their budget
- ``sweep``        the data-saturation sweep (`foretune sweep`): sizes, seeds, when to stop
- ``storage``      where the Optuna study lives
- ``resources``    CPUs / GPUs per trial

The sections live in `sections.py` (model, data, task, train, resources), `search.py` (search,
early_stage), `sweep.py`, `tasks.py` (the task kinds' fields) and `costs.py` (costs, objectives).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from foretune.config.costs import CostConfig, Objective
from foretune.config.search import EarlyStageConfig, ParamSpec, SearchConfig
from foretune.config.sections import (
    DEFAULT_EVAL_FRACTIONS,
    DataConfig,
    LoraSettings,
    ModelConfig,
    ResourcesConfig,
    TaskConfig,
    TrainConfig,
    _Section,
    check_field_path,
    space_key_path,
)
from foretune.config.sweep import SweepConfig
from foretune.config.tasks import TASK_KINDS, TaskKind
from foretune.errors import ForetuneError

__all__ = [
    "DEFAULT_EVAL_FRACTIONS",
    "TASK_KINDS",
    "CostConfig",
    "DataConfig",
    "EarlyStageConfig",
    "ExperimentConfig",
    "LoraSettings",
    "ModelConfig",
    "Objective",
    "ParamSpec",
    "ResourcesConfig",
    "SearchConfig",
    "SweepConfig",
    "TaskConfig",
    "TaskKind",
    "TrainConfig",
    "check_field_path",
    "load_config",
    "parse_overrides",
    "space_key_path",
    "validate_config",
]


class ExperimentConfig(_Section):
    name: str = Field("foretune", description="Study name (and run folder name).")
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    early_stage: EarlyStageConfig = Field(default_factory=EarlyStageConfig)
    sweep: SweepConfig = Field(default_factory=SweepConfig)
    storage: str | None = Field(
        None, description="Optuna storage URL or journal file path (default: a journal in the run folder)."
    )
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    cost: CostConfig = Field(default_factory=CostConfig)

    @model_validator(mode="after")
    def _early_fraction_is_evaluated(self) -> ExperimentConfig:
        # A trial is judged at its first evaluation at or past early_stage.fraction: without an
        # evaluation there, it would silently be judged later than configured.
        later = [r.fraction for r in self.early_stage.rungs] if self.early_stage.enabled else []
        for fraction in [self.early_stage.fraction, *later]:
            if not any(math.isclose(f, fraction, abs_tol=1e-9) for f in self.train.eval_fractions):
                self.train.eval_fractions = [*self.train.eval_fractions, fraction]  # re-validated: sorted
        return self

    @model_validator(mode="after")
    def _searched_values_fit_their_fields(self) -> ExperimentConfig:
        # A trial given a value its field refuses (batch_size 0 among the choices) failed at its start, one by one.
        if self.search.trainable is not None:  # your function's parameters are its own
            return self
        for key, spec in self.search.space.items():
            path = space_key_path(key).split(".")
            if path == ["model", "name"]:  # a model is checked where it is found (a built-in name or a folder)
                continue
            values = spec.choices if spec.type == "categorical" else [spec.low, spec.high]
            section = getattr(self, path[0])
            data = {path[0]: section.model_dump()}  # the section alone: the whole config would check this again
            for value in values or ():
                value = int(value) if spec.type in ("int", "log_int") else value
                _set_path(data, ".".join(path), value, f"search.space.{key}")  # each value replaces the last
                try:
                    type(section).model_validate(data[path[0]])
                except ValidationError as error:
                    reason = error.errors()[0]["msg"]
                    raise ValueError(
                        f"search.space.{key}: {value!r} is no value of {'.'.join(path)} ({reason})"
                    ) from None
        return self

    def with_overrides(self, overrides: dict[str, Any], *, where: str = "overrides") -> ExperimentConfig:
        """A copy with dotted-path values set, e.g. {"train.lora.r": 16}; validated like the file."""
        data = self.model_dump()
        for key, value in overrides.items():
            _set_path(data, key, value, where)
        return validate_config(data, where)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _set_path(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key.startswith("search.space."):  # parameter names contain dots themselves (lora.r)
        space, name = data["search"]["space"], key.removeprefix("search.space.")
        param, _, field = name.rpartition(".")
        if name not in space and isinstance(space.get(param), dict) and field in ParamSpec.model_fields:
            space[param] = {**space[param], field: value}  # one bound of a searched parameter: ...learning_rate.low
        elif param and field in ParamSpec.model_fields and not isinstance(value, dict):
            raise ForetuneError(
                f"{where}: '{key}' sets the {field} of '{param}', which is not searched (searched: "
                f"{', '.join(space) or 'none'}); give the whole parameter, e.g. --set "
                f"search.space.{param}='{{type: float, low: 0.0, high: 0.2}}'"
            )
        else:
            space[name] = value  # a whole parameter: {type: ..., low: ..., high: ...}
        return
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ForetuneError(f"{where}: '{key}' is not a config key (no section '{part}')")
        node = node[part]
    if parts[-1] not in node:
        raise ForetuneError(f"{where}: '{key}' is not a config key (known here: {', '.join(node)})")
    node[parts[-1]] = value


def _format_validation_error(error: ValidationError, where: str) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `foretune config` prints every key)"
        elif item["type"] == "literal_error":
            message += f", got {item['input']!r}"
        # A whole section's (or the config's) check names its own keys: "early_stage.keep=1.5: ..."
        problems.append(message if not key or message.startswith(f"{key}.") else f"{key}: {message}")
    return f"invalid config {where}: " + "; ".join(problems)


def validate_config(data: dict[str, Any], where: str = "<config>") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as error:
        raise ForetuneError(_format_validation_error(error, where)) from None


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """`["train.lora.r=16", "data.source=x.jsonl"]` -> {path: YAML-parsed value}."""
    overrides: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ForetuneError(f"--set '{pair}': expected KEY=VALUE, e.g. --set train.max_steps=20")
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as error:
            raise ForetuneError(f"--set '{pair}': the value is not valid YAML ({error})") from None
    return overrides


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load a YAML config (or the defaults when `path` is None) and apply dotted overrides."""
    data: dict[str, Any] = {}
    where = "(defaults)"
    if path is not None:
        path = Path(path)
        where = f"in {path}"
        if not path.is_file():
            what = f"{path} is a folder, not a config file" if path.is_dir() else f"config file not found: {path}"
            raise ForetuneError(f"{what} (give the path of a YAML file, e.g. configs/default.yaml)")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ForetuneError(f"malformed YAML in {path}{at}: {getattr(error, 'problem', error)}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ForetuneError(f"{path}: the top level must be a mapping of sections (model:, data:, ...)")
        data = copy.deepcopy(loaded)
    if overrides and overrides.get("search.trainable") and isinstance(data.get("search", {}), dict):
        data.setdefault("search", {})["trainable"] = overrides["search.trainable"]  # the file's space is its params
    config = validate_config(data, where)
    if overrides:
        config = config.with_overrides(overrides, where=f"--set ({where})")
    return config
