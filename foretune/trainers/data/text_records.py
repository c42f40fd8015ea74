"""Rows of the completion, chat and classification task kinds: `TextRecord` and one strict reader per kind.

Each reader takes a table (``.jsonl`` / ``.json`` / ``.csv`` / ``.parquet``, or ``hf:NAME``) and the
column names of `data:`; anything it cannot train on is one `ForetuneError` that says where and how
to fix it: an empty file, a missing column, a value that is not text, an empty value (the error
counts the rows and names the first).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foretune.errors import ForetuneError
from foretune.trainers.data.records import RECORD_SUFFIXES, require_file, table_rows

if TYPE_CHECKING:
    from foretune.config import DataConfig

CHAT_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class TextRecord:
    """One example: a prompt (or a conversation) and the answer that is learned and scored.

    completion: `prompt` and `answer` (the completion). classification: `prompt` is the input text and
    `answer` its label. chat: `messages` holds every (role, content) turn, the last one the assistant's
    answer (also in `answer`); `prompt` is empty.
    """

    prompt: str
    answer: str
    messages: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """What splits group by: one prompt (or conversation before the answer) never sits in two splits."""
        return json.dumps(self.messages[:-1]) if self.messages else self.prompt


def resolve_source(source: str) -> str:
    """`source` as a path that also works inside a Ray Tune trial, which runs in its own trial folder."""
    if source.startswith("hf:") or source == "synthetic" or Path(source).is_absolute():
        return source
    origin = os.environ.get("TUNE_ORIG_WORKING_DIR")  # the trial's working folder before Tune moved it
    if origin and not Path(source).exists() and (Path(origin) / source).exists():
        return str(Path(origin) / source)
    return source


def read_table(source: str, *, offline: bool = True) -> tuple[list[str], list[tuple[str, Mapping[str, Any]]]]:
    """(columns, [(location, row), ...]) of a table file or an ``hf:`` dataset (every split pooled)."""
    if source.startswith("hf:"):
        from foretune.trainers.data.readers import load_hf_parts

        name = source.removeprefix("hf:")
        parts = load_hf_parts(name, offline=offline)
        columns = list(dict.fromkeys(c for part in parts for c in part.column_names))
        rows = [(f"{source} row {i}", row) for part in parts for i, row in enumerate(part)]
        return columns, rows
    path = Path(resolve_source(source))
    require_file(path, "data file")
    if path.is_dir() or path.suffix not in RECORD_SUFFIXES:
        raise ForetuneError(
            f"cannot read {path}: expected a {', '.join(RECORD_SUFFIXES)} file or hf:NAME for this task kind"
        )
    columns, rows = table_rows(path)
    return columns, list(rows)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _require_columns(source: str, columns: list[str], wanted: Mapping[str, str], kind: str) -> None:
    """`wanted`: column name -> the config key that names it."""
    missing = [name for name in wanted if name not in columns]
    if missing:
        keys = " / ".join(f"{wanted[name]}" for name in missing)
        found = ", ".join(columns) or "none"
        raise ForetuneError(
            f"{source} has no column {' or '.join(repr(c) for c in missing)} (columns: {found}); "
            f"task {kind} reads it: set {keys} to your column's name"
        )


class _Problems:
    """Bad values found while reading, reported together: how many rows, and where the first one is."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: dict[str, list[str]] = {}

    def add(self, problem: str, location: str) -> None:
        self.found.setdefault(problem, []).append(location)

    def raise_any(self, fix: str) -> None:
        if self.found:
            problem, locations = next(iter(self.found.items()))
            raise ForetuneError(f"{self.source}: {len(locations)} row(s) {problem} (first at {locations[0]}); {fix}")


def _text(row: Mapping[str, Any], column: str, location: str, problems: _Problems, *, allow_int: bool = False) -> str:
    value = row.get(column)
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if _is_missing(value) or (isinstance(value, str) and not value.strip()):
        problems.add(f"have an empty '{column}'", location)
        return ""
    if not isinstance(value, str):
        problems.add(f"hold a value of type {type(value).__name__} in '{column}', not text", location)
        return ""
    return value


def _read(
    source: str,
    columns_wanted: Mapping[str, str],
    kind: str,
    build: Callable[[Mapping[str, Any], str, _Problems], TextRecord | None],
    *,
    offline: bool,
) -> list[TextRecord]:
    columns, rows = read_table(source, offline=offline)
    if not rows:
        raise ForetuneError(
            f"no rows in {source}: the dataset is empty (task {kind} needs rows with "
            f"{' and '.join(repr(c) for c in columns_wanted)})"
        )
    _require_columns(source, columns, columns_wanted, kind)
    problems = _Problems(source)
    records = []
    for location, row in rows:
        if not isinstance(row, Mapping):
            raise ForetuneError(f"{location}: expected one object per row, got {type(row).__name__}")
        record = build(row, location, problems)
        if record is not None:
            records.append(record)
    problems.raise_any("every row needs text in each column; fix or remove those rows")
    return records


def read_completion_records(source: str, data: DataConfig, *, offline: bool = True) -> list[TextRecord]:
    """Rows with a prompt and a completion (TRL's ``{"prompt", "completion"}`` convention)."""
    prompt_column, completion_column = data.prompt_column, data.completion_column
    wanted = {prompt_column: "data.prompt_column", completion_column: "data.completion_column"}

    def build(row, location, problems):
        prompt = _text(row, prompt_column, location, problems)
        completion = _text(row, completion_column, location, problems)
        return TextRecord(prompt, completion) if prompt and completion else None

    return _read(source, wanted, "completion", build, offline=offline)


def read_classification_records(source: str, data: DataConfig, *, offline: bool = True) -> list[TextRecord]:
    """Rows with a text and its label (integer labels are read as their digits)."""
    text_column, label_column = data.text_column, data.label_column
    wanted = {text_column: "data.text_column", label_column: "data.label_column"}

    def build(row, location, problems):
        text = _text(row, text_column, location, problems)
        label = _text(row, label_column, location, problems, allow_int=True)
        return TextRecord(text, " ".join(label.split())) if text and label else None

    return _read(source, wanted, "classification", build, offline=offline)


def _messages(raw: Any) -> Any:
    if isinstance(raw, str):  # a CSV cell holds the conversation as JSON
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    if hasattr(raw, "tolist"):  # parquet lists come back as numpy arrays
        return raw.tolist()
    return raw


def _conversation_problem(messages: Any) -> str | None:
    """Why `messages` is not a conversation to train on, or None."""
    if not isinstance(messages, list) or not messages:
        return "have no list of messages"
    for message in messages:
        if not isinstance(message, Mapping) or not {"role", "content"} <= set(message):
            return "have a message without 'role' and 'content'"
        if message["role"] not in CHAT_ROLES:
            return f"have a role other than {', '.join(CHAT_ROLES)}"
        if not isinstance(message["content"], str):
            return "have a message whose content is not text"
    if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        return "do not end with a non-empty assistant message (the answer that is learned and scored)"
    return None


def read_chat_records(source: str, data: DataConfig, *, offline: bool = True) -> list[TextRecord]:
    """Rows with a conversation ``[{"role", "content"}, ...]`` that ends with the assistant's answer."""
    column = data.messages_column

    def build(row, location, problems):
        messages = _messages(row.get(column))
        problem = _conversation_problem(messages)
        if problem is not None:
            problems.add(problem + f" in '{column}'", location)
            return None
        turns = tuple((m["role"], m["content"]) for m in messages)
        return TextRecord("", turns[-1][1], turns)

    return _read(source, {column: "data.messages_column"}, "chat", build, offline=offline)
