"""The config sections of one trial: model, data, task, train, resources (and the path helpers)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foretune.config.tasks import TaskDataFields, TaskFields, TaskKind

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


class DataConfig(_Section, TaskDataFields):
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
    seed: int = Field(0, ge=0, lt=2**31, description="Seed of the generator and of the splits.")
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
    max_final_eval_samples: int | None = Field(
        None,
        ge=1,
        description="Cap on validation products evaluated at the last budget fraction, the final a search ranks "
        "and predicts (default: max_eval_samples). More there make finals less noisy for the cost of one longer "
        "evaluation per completed run; the evaluations before it, and the judgement, keep max_eval_samples. With "
        "generated answers the final's eval loss stays on those first max_eval_samples (the loss curve compares like "
        "with like and costs no more), unless eval_loss is an objective.",
    )
    attributes: list[str] | None = Field(
        None, description="Only extract these attributes (default: all attributes in the data)."
    )
    test_folds: int | None = Field(
        None,
        ge=2,
        description="Also score the best configuration (after a search; `foretune train`: the config) and the "
        "zero-shot model over k disjoint test folds of train + test (the rest trains each fold): mean +- "
        "standard error. Costs k more fine-tunes.",
    )

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> DataConfig:
        if self.test_fraction + self.validation_fraction >= 0.9:
            raise ValueError(
                f"test_fraction + validation_fraction = {self.test_fraction + self.validation_fraction:g} "
                "leaves almost nothing to train on; keep the sum below 0.9"
            )
        return self


class TaskConfig(_Section, TaskFields):
    name: TaskKind = Field(
        "attribute_extraction",
        description="attribute_extraction (product JSON), completion (prompt/completion rows), chat (messages "
        "rows), classification (text/label rows).",
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
        "costs one generation pass over data.max_test_samples products). In a search, only a trial that leads "
        "the finals so far when it completes (with several objectives: that no earlier final dominates) is "
        "scored, so the best configuration always is and the test split plays no part in choosing it. The "
        "search also scores the zero-shot model once, so the report shows what fine-tuning gained.",
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
    seed: int = Field(0, ge=0, lt=2**31, description="Seed of LoRA init, data order and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto': CUDA when present.")
    bf16: Literal["auto", "on", "off"] = Field(
        "auto",
        description="'auto': bf16 compute where the device has it natively "
        "(a CUDA GPU that supports it, a CPU with AVX-512 BF16 or AMX); 'off': float32.",
    )
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for torch (default: the CPUs given to the trial)."
    )

    @field_validator("bf16", mode="before")
    @classmethod
    def _bf16_from_yaml_boolean(cls, value: object) -> object:
        # YAML reads a bare on/off (in a config file or `--set train.bf16=off`) as a boolean.
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

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


class ResourcesConfig(_Section):
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs Ray reserves for each trial.")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial; fractions share a GPU.")


def space_key_path(key: str) -> str:
    """The config path a search-space key sets: `model.*`, `data.*`, `train.*` as given, else a `train` field
    (`lora.r` -> `train.lora.r`)."""
    return key if key.split(".")[0] in ("train", "model", "data") else f"train.{key}"


def check_field_path(model: type[BaseModel], parts: list[str], where: str) -> None:
    field = model.model_fields.get(parts[0])
    if field is None:
        raise ValueError(f"{where}: unknown field '{parts[0]}' (known: {', '.join(model.model_fields)})")
    if len(parts) > 1:
        sub = field.annotation
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            raise ValueError(f"{where}: '{parts[0]}' has no sub-fields")
        check_field_path(sub, parts[1:], where)
