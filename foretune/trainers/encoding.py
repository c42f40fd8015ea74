"""Records -> token ids and labels: only answer tokens are learned (labels are -100 on every prompt token).

A prompt + answer record becomes the prompt's tokens (plain text, or the chat template's rendering of
the task's messages with the generation prompt) followed by the answer's tokens and the end-of-sequence
token. A conversation (the chat kind) is rendered whole with the chat template, and every assistant
turn is learned: its characters are found by rendering the conversation up to the turn with and
without it. Rows longer than `model.max_length` are cut (the prompt from the left, keeping the answer)
or dropped or refused, as `data.too_long` says (`fit_lengths`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from foretune.errors import ForetuneError
from foretune.trainers.tasks import Task

# The fewest prompt tokens a truncated example keeps before its answer.
MIN_PROMPT_TOKENS = 8


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # -100 on the prompt: only the answer is learned
    value_tokens: dict[str, list[int]]  # scored field -> positions (in input_ids) of its value's tokens


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


class Encoder:
    """Tokenizes a task's records for `max_length`-token training examples."""

    def __init__(self, task: Task, tokenizer, max_length: int) -> None:
        self.task = task
        self.tokenizer = tokenizer
        self.max_length = max_length

    def prompt_ids(self, record: Any) -> list[int]:
        tok = self.tokenizer
        if self.task.uses_chat_template:
            messages = self.task.chat_messages(record)
            return _ids(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
        return tok(self.task.prompt(record), add_special_tokens=False).input_ids

    def answer_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]

    def full_length(self, record: Any) -> int:
        """Tokens of `record` before any truncation."""
        if self.task.conversation(record) is not None:
            return len(self._conversation(record).input_ids)
        return len(self.prompt_ids(record)) + len(self.answer_ids(self.task.answer(record)))

    def encode(self, record: Any) -> Encoded:
        """The training example of `record`, cut to `max_length` tokens when longer."""
        full = self._conversation(record) if self.task.conversation(record) is not None else self._prompt_answer(record)
        excess = len(full.input_ids) - self.max_length
        if excess <= 0:
            return full
        # Only a conversation is still too long here: drop its oldest tokens.
        return Encoded(
            full.input_ids[excess:],
            full.labels[excess:],
            {k: [p - excess for p in v if p >= excess] for k, v in full.value_tokens.items()},
        )

    def _prompt_answer(self, record: Any) -> Encoded:
        answer_text = self.task.answer(record)
        encoded = self.tokenizer(answer_text, add_special_tokens=False, return_offsets_mapping=True)
        answer = encoded.input_ids + [self.tokenizer.eos_token_id]
        room = self.max_length - len(answer)
        if room < MIN_PROMPT_TOKENS:
            if self.task.name == "attribute_extraction":  # its answers are short JSON: a too-small max_length
                raise ForetuneError(
                    f"model.max_length={self.max_length} leaves no room for the prompt "
                    f"(answers take up to {len(answer)} tokens); raise model.max_length"
                )
            answer, room = answer[: self.max_length - MIN_PROMPT_TOKENS], MIN_PROMPT_TOKENS
        prompt = self.prompt_ids(record)[-room:]  # left-truncate: the answer (learned and scored) stays whole
        offset = len(prompt)
        value_tokens = {
            field: [
                offset + i
                for i, (a, b) in enumerate(encoded.offset_mapping)
                if a < end and b > start and i < len(answer)  # the token overlaps the value's characters
            ]
            for field, start, end in self.task.answer_spans(record)
        }
        return Encoded(prompt + answer, [-100] * len(prompt) + answer, value_tokens)

    def _render(self, messages: Sequence[Mapping[str, str]], *, generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=generation_prompt, tokenize=False
        )

    def _conversation(self, record: Any) -> Encoded:
        messages = self.task.conversation(record)
        text = self._render(messages)
        learned: list[tuple[int, int]] = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            start = len(self._render(messages[:i], generation_prompt=True)) if i else 0
            upto = self._render(messages[: i + 1])
            if not text.startswith(upto):
                raise ForetuneError(
                    "task chat: the tokenizer's chat template renders a conversation differently from its "
                    "beginning, so assistant turns cannot be located; use a model whose template appends turns"
                )
            learned.append((start, len(upto)))
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoded.input_ids, encoded.offset_mapping
        labels = [
            token if any(a < end and b > start for start, end in learned) else -100
            for token, (a, b) in zip(ids, offsets, strict=True)
        ]
        # The scored answer: the last assistant turn's content (without the end-of-turn marker).
        last_start, last_end = learned[-1]
        content = messages[-1]["content"].strip()
        begin = text.find(content, last_start, last_end) if content else -1
        begin, end = (begin, begin + len(content)) if begin >= 0 else (last_start, last_end)
        positions = [i for i, (a, b) in enumerate(offsets) if a < end and b > begin]
        return Encoded(list(ids), labels, {"answer": positions})


def fit_lengths(
    encoder: Encoder, splits: Mapping[str, list[Any]], policy: str, source: str
) -> tuple[dict[str, list[Any]], str | None]:
    """Apply `data.too_long` to every split: the kept records per split, and a one-line note (None if none was long).

    'error' raises one error that says how many rows are too long; 'truncate' keeps them (cut by
    `Encoder.encode`); 'drop' leaves them out.
    """
    limit = encoder.max_length
    long = {name: [encoder.full_length(r) > limit for r in records] for name, records in splits.items()}
    counts = {name: sum(flags) for name, flags in long.items()}
    n_long, n_all = sum(counts.values()), sum(len(records) for records in splits.values())
    if not n_long:
        return dict(splits), None
    where = ", ".join(f"{n} in {name}" for name, n in counts.items() if n)
    what = f"{n_long} of {n_all} rows of {source} are longer than model.max_length={limit} tokens ({where})"
    if policy == "error":
        raise ForetuneError(
            f"{what}; raise model.max_length, or set data.too_long to truncate (cut the prompt from the left, keep "
            "the answer) or drop"
        )
    if policy == "drop":
        kept = {
            name: [r for r, bad in zip(records, long[name], strict=True) if not bad] for name, records in splits.items()
        }
        if splits.get("train") and not kept.get("train"):
            raise ForetuneError(f"{what}: dropping them leaves no training rows; raise model.max_length")
        return kept, f"{what}: dropped (data.too_long=drop)"
    return dict(splits), f"{what}: truncated, prompts cut from the left (data.too_long=truncate)"


def collate(examples: Sequence[Encoded], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    """Right-padded batch tensors for teacher-forced passes."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
        mask[row, : len(e.input_ids)] = 1
    tensors = {"input_ids": ids, "labels": labels, "attention_mask": mask}
    return {name: tensor.to(device) for name, tensor in tensors.items()}
