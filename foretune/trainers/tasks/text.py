"""The completion and chat task kinds: free-text answers scored by exact match and token F1.

completion: rows ``{"prompt", "completion"}`` (TRL's convention); the prompt is used as written and
the completion is learned after it (plus the end-of-sequence token). chat: rows ``{"messages": [...]}``
rendered with the tokenizer's chat template; every assistant turn is learned, the last one is the
answer that is scored. Both report:

- ``exact_match``: share of answers equal to the reference after normalisation (casefolded,
  punctuation removed, whitespace collapsed);
- ``token_f1``: mean over answers of the F1 of the overlap of normalised tokens (SQuAD's metric);
- ``n_examples``: how many answers were scored.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from foretune.trainers.data import TextRecord, assemble_splits, read_chat_records, read_completion_records
from foretune.trainers.tasks.base import PromptAnswerTask

if TYPE_CHECKING:
    from foretune.config import DataConfig
    from foretune.trainers.data import Splits

__all__ = ["ChatTask", "CompletionTask", "normalize_text", "text_scores"]

TEXT_METRICS = ("exact_match", "token_f1")


def normalize_text(text: str) -> str:
    """How answers are compared: casefolded, punctuation dropped, whitespace collapsed."""
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in str(text).casefold())
    return " ".join(kept.split())


def _token_f1(prediction: str, reference: str) -> float:
    predicted, wanted = normalize_text(prediction).split(), normalize_text(reference).split()
    if not predicted or not wanted:
        return float(predicted == wanted)
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def text_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """exact_match, token_f1 and n_examples of `predictions` against `references`."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} references")
    if not references:
        return {"exact_match": float("nan"), "token_f1": float("nan"), "n_examples": 0.0}
    exact = [normalize_text(p) == normalize_text(r) for p, r in zip(predictions, references, strict=True)]
    f1 = [_token_f1(p, r) for p, r in zip(predictions, references, strict=True)]
    return {"exact_match": sum(exact) / len(exact), "token_f1": sum(f1) / len(f1), "n_examples": float(len(exact))}


class CompletionTask(PromptAnswerTask):
    """Prompt -> completion. `prompt_style="chat"` sends the prompt as the user turn of the chat template."""

    name = "completion"
    metric_names = TEXT_METRICS

    def load_splits(self, data: DataConfig, *, offline: bool = True) -> Splits:
        return assemble_splits(data, partial(read_completion_records, data=data, offline=offline), _key)

    def prompt(self, record: TextRecord) -> str:
        return record.prompt

    def chat_messages(self, record: TextRecord) -> list[dict[str, str]]:
        return [{"role": "user", "content": record.prompt}]

    def parse_answer(self, text: str) -> str:
        return text.strip() if isinstance(text, str) else ""

    def score(self, records: Sequence[TextRecord], predictions: Sequence[str]) -> dict[str, float]:
        return text_scores(predictions, [r.answer for r in records])


class ChatTask(CompletionTask):
    """Conversations: trained on every assistant turn, scored on the last one."""

    name = "chat"

    def __init__(self) -> None:
        self.uses_chat_template = True

    def load_splits(self, data: DataConfig, *, offline: bool = True) -> Splits:
        return assemble_splits(data, partial(read_chat_records, data=data, offline=offline), _key)

    def prompt(self, record: TextRecord) -> str:
        return "\n".join(f"{role}: {content}" for role, content in record.messages[:-1])

    def chat_messages(self, record: TextRecord) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in record.messages[:-1]]

    def conversation(self, record: TextRecord) -> list[dict[str, str]] | None:
        return [{"role": role, "content": content} for role, content in record.messages]


def _key(record: TextRecord) -> str:
    return record.key
