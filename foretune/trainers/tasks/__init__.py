"""Fine-tuning tasks: the `Task` protocol the trainer relies on; the kinds of `task.name`: attribute value
extraction (prompts, the lenient answer parser, grading and scores), completion and chat (exact match,
token F1), classification (accuracy, macro F1 over the label set); a user's `task.metric_fn`.

Pure Python plus pandas (for `score_frame` only); no torch, Ray or Optuna.
"""

from foretune.trainers.tasks.base import TRAINER_METRICS, Task
from foretune.trainers.tasks.classification import ClassificationTask, classification_scores
from foretune.trainers.tasks.extraction import (
    AttributeExtractionTask,
    Grade,
    grade,
    metric_bounds,
    normalize_value,
    score_frame,
)
from foretune.trainers.tasks.kinds import (
    MetricFn,
    check_search_metric,
    check_search_metric_before_trials,
    make_task,
    reported_metrics,
)
from foretune.trainers.tasks.parsing import parse_answer
from foretune.trainers.tasks.text import ChatTask, CompletionTask, normalize_text, text_scores

__all__ = [
    "TRAINER_METRICS",
    "AttributeExtractionTask",
    "ChatTask",
    "ClassificationTask",
    "CompletionTask",
    "Grade",
    "MetricFn",
    "Task",
    "check_search_metric",
    "check_search_metric_before_trials",
    "classification_scores",
    "grade",
    "make_task",
    "metric_bounds",
    "normalize_text",
    "normalize_value",
    "parse_answer",
    "reported_metrics",
    "score_frame",
    "text_scores",
]
