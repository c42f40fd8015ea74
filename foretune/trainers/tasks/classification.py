"""The classification task kind: rows ``{"text", "label"}``; the answer is one label of a closed set.

The model learns to write the label after the prompt. It is scored by likelihood, never by parsing
free text: for each example the trainer computes the log-probability of every label of the set
(each label's tokens and the end-of-sequence token, given the prompt) and predicts the likeliest, so
a malformed answer cannot score. The label set is every label seen in any split. Metrics:

- ``accuracy``: share of examples whose likeliest label is the reference;
- ``macro_f1``: F1 per label (over the labels among references and predictions), averaged;
- ``n_examples``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from foretune.errors import ForetuneError
from foretune.trainers.data import TextRecord, assemble_splits, read_classification_records
from foretune.trainers.tasks.base import PromptAnswerTask

if TYPE_CHECKING:
    from foretune.config import DataConfig
    from foretune.trainers.data import Splits

__all__ = ["ClassificationTask", "classification_scores"]

# The prompt lists the labels when there are at most this many (a long list would crowd out the text).
_LISTED_LABELS = 20


def classification_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """accuracy, macro_f1 and n_examples of predicted labels against reference labels."""
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions for {len(references)} references")
    if not references:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "n_examples": 0.0}
    pairs = list(zip(predictions, references, strict=True))
    f1s = []
    for label in sorted(set(references) | set(predictions)):
        tp = sum(p == label and r == label for p, r in pairs)
        fp = sum(p == label and r != label for p, r in pairs)
        fn = sum(p != label and r == label for p, r in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(p == r for p, r in pairs) / len(pairs)
    return {"accuracy": accuracy, "macro_f1": sum(f1s) / len(f1s), "n_examples": float(len(pairs))}


class ClassificationTask(PromptAnswerTask):
    """Text -> one label of the set read from the data (`labels`, filled by `load_splits`)."""

    name = "classification"
    metric_names = ("accuracy", "macro_f1")

    def __init__(self, *, prompt_style: str = "plain", labels: Sequence[str] = ()) -> None:
        super().__init__(prompt_style=prompt_style)
        self.labels: list[str] = list(labels)

    def load_splits(self, data: DataConfig, *, offline: bool = True) -> Splits:
        splits = assemble_splits(data, partial(read_classification_records, data=data, offline=offline), _key)
        self.learn_labels(splits)
        if len(self.labels) < 2:
            raise ForetuneError(
                f"task classification: {data.source} has a single label ({self.labels[0]!r}) in "
                f"'{data.label_column}'; a classifier needs at least two (is data.label_column the right column?)"
            )
        _check_one_spelling_per_label(splits, data)
        return splits

    def learn_labels(self, splits: Splits) -> None:
        """The label set: every label in any split."""
        self.labels = sorted({r.answer for part in (splits.train, splits.validation, splits.test) for r in part})

    def _question(self, record: TextRecord) -> str:
        listed = f" ({', '.join(self.labels)})" if len(self.labels) <= _LISTED_LABELS else ""
        return f"Text: {record.prompt}\nLabel{listed}:"

    def prompt(self, record: TextRecord) -> str:
        return self._question(record) + "\n"

    def chat_messages(self, record: TextRecord) -> list[dict[str, str]]:
        return [{"role": "user", "content": self._question(record)}]

    def parse_answer(self, text: str) -> str:
        return " ".join(str(text).split())

    def score(self, records: Sequence[TextRecord], predictions: Sequence[str]) -> dict[str, float]:
        return classification_scores(predictions, [r.answer for r in records])


def _check_one_spelling_per_label(splits: Splits, data: DataConfig) -> None:
    """Two labels that differ only in case or spaces ('positive', 'Positive ') are one label mistyped: as two,
    the rare spelling becomes a class of its own and the macro F1 averages over it."""
    counts = Counter(r.answer for part in (splits.train, splits.validation, splits.test) for r in part)
    spellings: dict[str, list[str]] = {}
    for label in sorted(counts, key=lambda label: -counts[label]):
        spellings.setdefault(" ".join(label.split()).casefold(), []).append(label)
    for same in spellings.values():
        if len(same) > 1:
            shown = ", ".join(f"{label!r} ({counts[label]} row{'s' * (counts[label] != 1)})" for label in same)
            raise ForetuneError(
                f"task classification: {data.source} spells one label {len(same)} ways in '{data.label_column}': "
                f"{shown}; use one spelling per label"
            )


def _key(record: TextRecord) -> str:
    return record.key
