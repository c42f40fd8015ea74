"""What a task gives the trainer: prompts, the target answer, a parser for the model's answer, and scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from foretune.trainers.data import Product


class Task(Protocol):
    """A fine-tuning task over products, as `LoraTrainer` uses it.

    The trainer learns `answer(product)` after the prompt (`prompt` or `chat_messages`, as the
    config's prompt style says), teacher-forces on the value spans of `answer_spans`, turns
    generated text back into predictions with `parse_answer`, and reports `score`'s metrics.
    """

    def prompt(self, product: Product) -> str:
        """The plain-text prompt; the answer follows it directly."""
        ...

    def chat_messages(self, product: Product) -> list[dict[str, str]]:
        """The prompt as chat messages; the answer is the assistant turn."""
        ...

    def answer(self, product: Product) -> str:
        """The target text the model learns to write."""
        ...

    def answer_spans(self, product: Product) -> list[tuple[str, int, int]]:
        """(field, start, end) character spans of each scored value inside `answer(product)`."""
        ...

    def parse_answer(self, text: str) -> dict[str, str | None]:
        """A model's answer as predictions; never raises."""
        ...

    def score(self, products: Sequence[Product], predictions: Sequence[Mapping[str, str | None]]) -> dict[str, float]:
        """Metrics of `predictions` (one per product) against the labels."""
        ...
