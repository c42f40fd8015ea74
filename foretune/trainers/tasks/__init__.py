"""Fine-tuning tasks: the `Task` protocol the trainer relies on, and attribute value extraction
(prompts, the lenient answer parser, grading and scores).

Pure Python plus pandas (for `score_frame` only); no torch, Ray or Optuna.
"""

from foretune.trainers.tasks.base import Task
from foretune.trainers.tasks.extraction import (
    AttributeExtractionTask,
    Grade,
    grade,
    metric_bounds,
    normalize_value,
    score_frame,
)
from foretune.trainers.tasks.parsing import parse_answer

__all__ = [
    "AttributeExtractionTask",
    "Grade",
    "Task",
    "grade",
    "metric_bounds",
    "normalize_value",
    "parse_answer",
    "score_frame",
]
