"""Config models for costs and several objectives (imported into `foretune.config`).

- ``cost.price_per_device_hour``: turns each trial's device-hours into dollars (`cost.usd`).
- ``search.objectives``: a list of {metric, mode}; two or more make an Optuna multi-objective study
  whose Pareto front the report draws. A metric is anything a trial reports (accuracy, eval_loss)
  or one of the cost attributes (cost.device_hours, cost.latency_ms, ...).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from foretune.keys import Mode


class CostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    price_per_device_hour: float | None = Field(
        None, ge=0, description="Dollars per GPU-hour (or core-hour on CPU); sets each trial's cost.usd."
    )


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    metric: str = Field(..., description="A reported metric (accuracy, eval_loss) or a cost (cost.device_hours).")
    mode: Mode = Field(..., description="max or min.")
