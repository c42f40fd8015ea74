"""What a task gives the trainer: its records, prompts, the target answer, a parser for answers, and scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from foretune.config import DataConfig
    from foretune.trainers.data import Splits, TextRecord

# Reported by the trainer on top of every task's scores.
TRAINER_METRICS = ("eval_loss", "train_loss")


class Task(Protocol):
    """A fine-tuning task kind (`task.name`), as `LoraTrainer` uses it. Records are the kind's own type
    (a `Product`, a `TextRecord`); the trainer only hands them back to the task.

    The trainer learns `answer(record)` after the prompt (`prompt`, or `chat_messages` through the
    tokenizer's chat template when `uses_chat_template`); a task whose `conversation(record)` is not
    None (chat) is instead trained on every assistant turn of it. The trainer teacher-forces on the
    spans of `answer_spans`, turns generated text back into predictions with `parse_answer`, and
    reports `score`'s metrics (`metric_names`) plus eval_loss and train_loss.
    """

    name: str
    metric_names: tuple[str, ...]  # the keys `score` returns (before a task.metric_fn adds its own)
    stop_strings: tuple[str, ...]  # generation also stops at these (besides the end-of-sequence token)
    uses_chat_template: bool

    def load_splits(self, data: DataConfig, *, offline: bool = True) -> Splits:
        """Train / validation / test records of `data` (fixed test/validation files used as given)."""
        ...

    def prompt(self, record: Any) -> str:
        """The plain-text prompt; the answer follows it directly."""
        ...

    def chat_messages(self, record: Any) -> list[dict[str, str]]:
        """The prompt as chat messages; the answer is the next assistant turn."""
        ...

    def conversation(self, record: Any) -> list[dict[str, str]] | None:
        """The whole conversation to train on (every assistant turn learned), or None for prompt + answer."""
        ...

    def answer(self, record: Any) -> str:
        """The target text the model learns to write (and the last turn of a conversation)."""
        ...

    def answer_spans(self, record: Any) -> list[tuple[str, int, int]]:
        """(field, start, end) character spans of each scored value inside `answer(record)`."""
        ...

    def parse_answer(self, text: str) -> Any:
        """A model's answer as a prediction; never raises."""
        ...

    def reference(self, record: Any) -> Any:
        """What a prediction is compared with (what a task.metric_fn receives as references)."""
        ...

    def score(self, records: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
        """Metrics of `predictions` (one per record) against the references."""
        ...


class PromptAnswerTask:
    """What the prompt -> one answer kinds (completion, classification) share: the record's answer is learned
    whole after the prompt (one span, no conversation) and is the reference predictions are compared with."""

    stop_strings: tuple[str, ...] = ()

    def __init__(self, *, prompt_style: str = "plain") -> None:
        self.uses_chat_template = prompt_style == "chat"

    def conversation(self, record: TextRecord) -> list[dict[str, str]] | None:
        return None

    def answer(self, record: TextRecord) -> str:
        return record.answer

    def answer_spans(self, record: TextRecord) -> list[tuple[str, int, int]]:
        return [("answer", 0, len(record.answer))]

    def reference(self, record: TextRecord) -> str:
        return record.answer
