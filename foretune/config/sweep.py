"""The `sweep:` section: the data-saturation sweep's sizes, seeds, budget and stopping."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from foretune.config.sections import _Section
from foretune.keys import SweepTarget


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
        "finished runs; `auto` means the sweep's own `late-gain`) knows its final score within `early_tolerance`.",
    )
    early_tolerance: float | None = Field(
        None,
        gt=0,
        description="Largest distance from the predicted final to either end of its 80% interval for a cut "
        "(default: epsilon / 2).",
    )
    models: list[str] | None = Field(
        None,
        description="Sweep several models (built-in names, local folders or hub ids), e.g. [smollm2-135m, "
        "/models/small]: one saturation fit per model on the same data (default: model.name only).",
    )

    @field_validator("models", "sizes", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        # --set sweep.models=a,b or sweep.sizes=0,50,100 arrives as one string.
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) < len(value)):
            raise ValueError(f"give distinct model names, e.g. [smollm2-135m, /models/small], got {value}")
        return value

    @field_validator("sizes")
    @classmethod
    def _sizes_are_counts(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or min(value) < 0:
            raise ValueError(f"give non-negative sample counts, e.g. [0, 50, 100, 200], got {value}")
        return sorted(set(value))
