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
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from foretune.errors import ForetuneError
from foretune.keys import Mode, PredictorName, SweepTarget

DEFAULT_EVAL_FRACTIONS = [round(0.1 * i, 1) for i in range(1, 11)]


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are re-validated on change."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    name: str = Field(
        "smollm2-135m",
        description="Built-in name (smollm2-135m), a Hugging Face model id, or a local model folder.",
    )
    gguf_file: str | None = Field(None, description="GGUF file inside `name` to load, if any.")
    max_length: int = Field(160, ge=16, description="Tokens per training example (prompt + answer).")
    offline: bool = Field(True, description="Never download from a hub (set False to allow it).")


class DataConfig(_Section):
    source: str = Field(
        "synthetic",
        description="'synthetic' (built-in generator), a file (.jsonl/.csv/.parquet, AE-110K triples), "
        "a folder of AE-110K files, or 'hf:NAME' for a datasets-hub dataset.",
    )
    format: Literal["auto", "records", "ae110k", "extractgpt", "hf"] = Field(
        "auto", description="How to read `source`; 'auto' guesses from the file name and content."
    )
    text_column: str = Field("text", description="Column with the product text (records format).")
    attributes_column: str = Field(
        "attributes", description="Column with the {attribute: value or null} map (records format)."
    )
    synthetic_size: int = Field(1200, ge=10, description="Products made by the built-in generator.")
    seed: int = Field(0, description="Seed of the generator and of the splits.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of products held out for test.")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share held out for the evaluations during training."
    )
    train_size: int | None = Field(
        None, ge=0, description="Train on the first n of the (nested, seeded) training order; all if unset."
    )
    max_eval_samples: int | None = Field(
        48, ge=1, description="Cap on validation products evaluated at each budget fraction."
    )
    max_test_samples: int | None = Field(
        None, ge=1, description="Cap on test products in the final held-out evaluation."
    )
    attributes: list[str] | None = Field(
        None, description="Only extract these attributes (default: all attributes in the data)."
    )

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> DataConfig:
        if self.test_fraction + self.validation_fraction >= 0.9:
            raise ValueError(
                f"test_fraction + validation_fraction = {self.test_fraction + self.validation_fraction:g} "
                "leaves almost nothing to train on; keep the sum below 0.9"
            )
        return self


class TaskConfig(_Section):
    name: Literal["attribute_extraction"] = Field(
        "attribute_extraction", description="The task: product attribute value extraction."
    )
    prompt_style: Literal["plain", "chat"] = Field(
        "plain", description="'plain': a compact prompt; 'chat': the model's chat template (longer, slower)."
    )
    eval_method: Literal["teacher_forced", "generate"] = Field(
        "generate",
        description="How evaluations during training score answers: 'generate' decodes greedily and "
        "parses the JSON; 'teacher_forced' checks each value's tokens are the greedy choice given the "
        "reference prefix (one forward pass; the full answer is right under it exactly when greedy "
        "decoding would produce it). The final test evaluation always generates.",
    )
    max_new_tokens: int = Field(64, ge=1, description="Token cap for a generated answer.")
    test_on_completion: bool = Field(
        True,
        description="Score a run that used its whole budget on the held-out test split (generated answers; "
        "costs one generation pass over data.max_test_samples products). The search also scores the "
        "zero-shot model once, so the report shows what fine-tuning gained.",
    )


class LoraSettings(_Section):
    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: float = Field(16, gt=0, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] | str = Field(
        ["q_proj", "v_proj"],
        description="Module names to adapt; a comma-separated string is accepted (handy in a search space).",
    )

    @field_validator("target_modules")
    @classmethod
    def _split_modules(cls, value: list[str] | str) -> list[str]:
        modules = [m.strip() for m in value.split(",")] if isinstance(value, str) else list(value)
        modules = [m for m in modules if m]
        if not modules:
            raise ValueError("name at least one module, e.g. [q_proj, v_proj]")
        return modules


class TrainConfig(_Section):
    lora: LoraSettings = Field(default_factory=LoraSettings)
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW).")
    lr_scheduler: Literal["linear", "cosine", "constant"] = Field("linear", description="Decay after warm-up.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of the budget spent warming up.")
    batch_size: int = Field(8, ge=1, description="Examples per optimizer step.")
    max_steps: int | None = Field(
        60, ge=1, description="Budget in optimizer steps (the unit of every budget fraction)."
    )
    epochs: float | None = Field(
        None, gt=0, description="Budget in epochs instead of steps (converted to steps; wins over max_steps)."
    )
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    eval_fractions: list[float] = Field(
        default_factory=lambda: list(DEFAULT_EVAL_FRACTIONS),
        description="Budget fractions at which to evaluate and report (the last is 1.0; "
        "early_stage.fraction is added when missing).",
    )
    seed: int = Field(0, description="Seed of LoRA init, data order and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto': CUDA when present.")
    bf16: Literal["auto", "on", "off"] = Field("auto", description="'auto': bf16 on a CUDA GPU that supports it.")
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for torch (default: the CPUs given to the trial)."
    )

    @field_validator("eval_fractions")
    @classmethod
    def _fractions_in_unit_interval(cls, value: list[float]) -> list[float]:
        fractions = sorted(set(float(f) for f in value))
        if not fractions or fractions[0] <= 0 or fractions[-1] > 1:
            raise ValueError(f"every fraction must be in (0, 1], got {value}")
        if fractions[-1] != 1.0:
            fractions.append(1.0)  # the final score is always measured
        return fractions

    @model_validator(mode="after")
    def _has_budget(self) -> TrainConfig:
        if self.max_steps is None and self.epochs is None:
            raise ValueError("set a budget: train.max_steps or train.epochs")
        return self


class ParamSpec(_Section):
    type: Literal["float", "log_float", "int", "log_int", "categorical"] = Field(
        ..., description="Distribution: float, log_float, int, log_int or categorical."
    )
    low: float | None = Field(None, description="Lower bound (numeric types).")
    high: float | None = Field(None, description="Upper bound (numeric types).")
    step: float | None = Field(None, description="Grid step (float/int; not with log).")
    choices: list[Any] | None = Field(None, description="Values of a categorical parameter.")

    @model_validator(mode="after")
    def _well_formed(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty `choices` list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs `low` and `high`")
        if not self.low < self.high:
            raise ValueError(f"empty range: low={self.low:g} must be below high={self.high:g}")
        if self.type.startswith("log") and self.low <= 0:
            raise ValueError(f"a {self.type} parameter needs low > 0, got {self.low:g}")
        return self


def _default_space() -> dict[str, ParamSpec]:
    return {
        "learning_rate": ParamSpec(type="log_float", low=1e-4, high=3e-3),
        "lora.r": ParamSpec(type="categorical", choices=[4, 8, 16]),
        "lora.alpha": ParamSpec(type="categorical", choices=[8, 16, 32]),
        "warmup_ratio": ParamSpec(type="float", low=0.0, high=0.2),
    }


class SearchConfig(_Section):
    space: dict[str, ParamSpec] = Field(
        default_factory=_default_space,
        description="Search space; keys are `train` fields as dotted paths (learning_rate, lora.r, ...).",
    )
    trials: int = Field(10, ge=1, description="Number of trials (resumed studies count finished ones).")
    max_concurrent_trials: int = Field(2, ge=1, description="Trials running at once.")
    time_budget_s: float | None = Field(None, gt=0, description="Stop starting trials after this long.")
    metric: str = Field("accuracy", description="Metric the search optimizes (reported by the trainer).")
    mode: Mode = Field("max", description="Maximize or minimize `metric`.")
    seed: int = Field(0, description="Seed of the TPE sampler.")
    n_startup_trials: int = Field(4, ge=0, description="Random trials before TPE takes over.")

    @model_validator(mode="after")
    def _space_keys_are_train_fields(self) -> SearchConfig:
        for key in self.space:
            _check_path(TrainConfig, key.split("."), f"search.space.{key}")
        return self


class EarlyStageConfig(_Section):
    enabled: bool = Field(True, description="Prune trials at `fraction` of their budget.")
    fraction: float = Field(0.2, gt=0, lt=1, description="Budget fraction at which a trial is judged.")
    predictor: PredictorName = Field("auto", description="auto, snapshot, curve or learned.")
    rule: Literal["top_k", "quantile"] = Field("quantile", description="How many trials may continue.")
    keep: float = Field(
        0.25,
        gt=0,
        description="top_k: how many; quantile: which share of the trials judged so far (ranked by predicted "
        "final) continue; 0.25 = one successive-halving rung with reduction factor 4.",
    )
    use_upper_bound: bool = Field(
        False,
        description="Rank a trial by the optimistic end of its interval instead of its predicted final "
        "(keeps more trials).",
    )
    grace_trials: int = Field(3, ge=0, description="The first trials always run to completion to calibrate.")
    history: bool = Field(
        True,
        description="Learn also from the finished runs of earlier studies in the same storage that share the "
        "task, model and metric (the report names them).",
    )


class SweepConfig(_Section):
    sizes: list[int] | None = Field(
        None,
        description="Training-set sizes to run, e.g. [0, 50, 100, 200] or '0,50,100,200' "
        "(default: 0 and a doubling grid up to all training data).",
    )
    repeats: int = Field(1, ge=1, description="Seeds per size.")
    epochs: float | None = Field(
        2.0,
        gt=0,
        description="Passes over its n examples each run trains (steps grow with n); null: every run keeps the "
        "train: budget, which must then cover the largest n.",
    )
    epsilon: float = Field(0.01, gt=0, description="How close to the plateau is close enough (score units).")
    adaptive: bool = Field(True, description="Choose sizes adaptively (true) or run the whole grid (false).")
    target: SweepTarget = Field("min_useful_n", description="What the adaptive sweep narrows down before it stops.")
    bootstrap: int = Field(100, ge=0, description="Bootstrap replicates for the intervals.")
    early_cut: bool = Field(
        True,
        description="Stop a run once the early-stage predictor (early_stage.predictor, fitted on the sweep's "
        "finished runs) knows its final score within `early_tolerance`.",
    )
    early_tolerance: float | None = Field(
        None,
        gt=0,
        description="Largest distance from the predicted final to either end of its 80% interval for a cut "
        "(default: epsilon / 2).",
    )

    @field_validator("sizes", mode="before")
    @classmethod
    def _split_sizes(cls, value: Any) -> Any:
        # --set sweep.sizes=0,50,100 arrives as one string.
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("sizes")
    @classmethod
    def _sizes_are_counts(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or min(value) < 0:
            raise ValueError(f"give non-negative sample counts, e.g. [0, 50, 100, 200], got {value}")
        return sorted(set(value))


class ResourcesConfig(_Section):
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs Ray reserves for each trial.")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial; fractions share a GPU.")


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

    @model_validator(mode="after")
    def _early_fraction_is_evaluated(self) -> ExperimentConfig:
        # A trial is judged at its first evaluation at or past early_stage.fraction: without an
        # evaluation there, it would silently be judged later than configured.
        fraction = self.early_stage.fraction
        if not any(math.isclose(f, fraction, abs_tol=1e-9) for f in self.train.eval_fractions):
            self.train.eval_fractions = [*self.train.eval_fractions, fraction]  # re-validated: sorted
        return self

    def with_overrides(self, overrides: dict[str, Any], *, where: str = "overrides") -> ExperimentConfig:
        """A copy with dotted-path values set, e.g. {"train.lora.r": 16}; validated like the file."""
        data = self.model_dump()
        for key, value in overrides.items():
            _set_path(data, key, value, where)
        return validate_config(data, where)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _check_path(model: type[BaseModel], parts: list[str], where: str) -> None:
    field = model.model_fields.get(parts[0])
    if field is None:
        raise ValueError(f"{where}: unknown field '{parts[0]}' (known: {', '.join(model.model_fields)})")
    if len(parts) > 1:
        sub = field.annotation
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            raise ValueError(f"{where}: '{parts[0]}' has no sub-fields")
        _check_path(sub, parts[1:], where)


def _set_path(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key.startswith("search.space."):  # parameter names contain dots themselves (lora.r)
        data["search"]["space"][key.removeprefix("search.space.")] = value
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
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `foretune config` prints every key)"
        elif item["type"] == "literal_error":
            message += f", got {item['input']!r}"
        problems.append(f"{key}: {message}")
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
            raise ForetuneError(
                f"config file not found: {path} (give the path of a YAML file, e.g. configs/default.yaml)"
            )
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
    config = validate_config(data, where)
    if overrides:
        config = config.with_overrides(overrides, where=f"--set ({where})")
    return config
