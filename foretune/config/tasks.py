"""Config fields of the task kinds (`task.name`): their data columns, fixed test/validation files,
over-long rows, and a user's metric function. Mixed into `DataConfig` / `TaskConfig` in config.py.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

TaskKind = Literal["attribute_extraction", "completion", "chat", "classification"]
TASK_KINDS: tuple[str, ...] = ("attribute_extraction", "completion", "chat", "classification")

# "package.module:function" (a dotted module path, a colon, a function name).
_METRIC_FN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_]\w*$")


class TaskDataFields(BaseModel):
    """`data:` fields of the completion / chat / classification kinds, and the fixed splits of any kind."""

    prompt_column: str = Field("prompt", description="task completion: column with the prompt text.")
    completion_column: str = Field("completion", description="task completion: column with the target completion.")
    messages_column: str = Field(
        "messages", description="task chat: column with the [{role, content}, ...] conversation."
    )
    label_column: str = Field("label", description="task classification: column with the label (text_column: input).")
    test_source: str | None = Field(
        None, description="A separate test file (or hf:NAME), used as given instead of a split of `source`."
    )
    validation_source: str | None = Field(
        None, description="A separate validation file (or hf:NAME), used as given instead of a split of `source`."
    )
    too_long: Literal["error", "truncate", "drop"] | None = Field(
        None,
        description="Rows longer than model.max_length tokens: 'error' (stop, say how many), 'truncate' (cut the "
        "prompt from the left, keep the answer), 'drop'. Default: truncate for attribute_extraction, error otherwise.",
    )


class TaskFields(BaseModel):
    """The `task:` fields of the task kinds."""

    metric_fn: str | None = Field(
        None,
        description="'package.module:function' called with (predictions, references) on every evaluation; the "
        "floats it returns are reported too and may be search.metric.",
    )

    @field_validator("metric_fn")
    @classmethod
    def _metric_fn_is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not _METRIC_FN.match(value):
            raise ValueError(f"expected 'package.module:function', e.g. 'mymetrics:rouge', got {value!r}")
        return value
