"""Scoring the current model on a task's records: teacher-forced, by generation, or by label likelihood.

- teacher-forced: one forward pass per batch gives the eval loss (mean per answer token, averaged over
  examples) and, at each answer position, the greedy token given the reference prefix. Attribute
  extraction counts a value right iff all its tokens are the greedy choice; the text kinds decode the
  greedy tokens (their exact match is then exactly "greedy decoding would write the reference").
- generate: greedy decoding from the prompt, parsed by the task.
- label likelihood (classification): the log-probability of each label of the set (its tokens and
  the end-of-sequence token) after the prompt; the likeliest label is the prediction, so a malformed
  answer cannot score. The eval loss is the gold label's, per token.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

from foretune.trainers.encoding import MIN_PROMPT_TOKENS, Encoded, Encoder, collate
from foretune.trainers.tasks import Task

# Stands in for "some other value" when teacher forcing finds a value's tokens wrong.
_WRONG = "\x00wrong"
# Answers generated per generate() call. A decoding step over 48 rows costs far less than three steps over 16,
# so fewer, fuller calls are faster: the job's final on 48 products took 22 s in one call against 27-30 s in three
# of 16 (a trained model on 1 CPU thread; the same 48 answers). Its key/value cache stays small: ~2 GB for an 8B
# model's 48 rows of 356 tokens in bf16.
GENERATE_ROWS = 48


class Scorer:
    """Evaluates `model` (in its current state) on records of `task`."""

    def __init__(
        self,
        model,
        encoder: Encoder,
        *,
        device: str,
        autocast: Callable[[], AbstractContextManager],
        batch_size: int,
        max_new_tokens: int,
        stop=None,
    ) -> None:
        self.model = model
        self.encoder = encoder
        self.task: Task = encoder.task
        self.tokenizer = encoder.tokenizer
        self.device = device
        self.autocast = autocast
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.stop = stop  # the task's stop strings as generate()'s stopping criteria (`stop_criteria`), or None

    def _answer_log_probs(self, examples: Sequence[Encoded]):
        """Per example: (summed log-probability of its answer tokens, answer token count, greedy guesses, targets)."""
        for first in range(0, len(examples), self.batch_size):
            chunk = examples[first : first + self.batch_size]
            batch = collate(chunk, self.tokenizer.pad_token_id, self.device)
            with self.autocast():
                logits, answer_tokens = answer_logits(self.model, batch)
            # Token t is predicted from position t-1; guesses outside the answers are never read.
            target = batch["labels"][:, 1:]
            answer = target != -100
            token_loss = torch.zeros(target.shape, device=logits.device)
            token_loss[answer] = torch.nn.functional.cross_entropy(logits.float(), answer_tokens, reduction="none")
            guess = torch.full_like(target, -100)
            guess[answer] = logits.argmax(-1)
            yield from zip((-token_loss.sum(1)).tolist(), answer.sum(1).tolist(), guess, target, strict=True)

    @torch.no_grad()
    def teacher_forced(self, records: Sequence[Any]) -> tuple[list[Any], list[float]]:
        """Per record: the greedy prediction and the answer's loss per token (`mean_loss` of them: the eval loss)."""
        examples = [self.encoder.encode(r) for r in records]
        losses, predictions = [], []
        for record, example, (log_prob, count, guess, target) in zip(
            records, examples, self._answer_log_probs(examples), strict=True
        ):
            losses.append(-log_prob / max(count, 1))
            predictions.append(self._greedy_prediction(record, example, guess, target))
        return predictions, losses

    def _greedy_prediction(self, record: Any, example: Encoded, guess: torch.Tensor, target: torch.Tensor) -> Any:
        if self.task.name == "attribute_extraction":
            right = (guess == target) | (target == -100)
            return {
                attribute: record.attributes.get(attribute) if all(bool(right[p - 1]) for p in positions) else _WRONG
                for attribute, positions in example.value_tokens.items()
            }
        positions = example.value_tokens.get("answer", [])
        return self.task.parse_answer(self.tokenizer.decode([int(guess[p - 1]) for p in positions]))

    @torch.no_grad()
    def generate(self, records: Sequence[Any]) -> list[Any]:
        tok = self.tokenizer
        answers: list[str] = []
        for first in range(0, len(records), GENERATE_ROWS):
            chunk = records[first : first + GENERATE_ROWS]
            prompts = [self.encoder.prompt_ids(r)[-self.encoder.max_length :] for r in chunk]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, p in enumerate(prompts):  # left padding: generation continues every row at the end
                ids[row, width - len(p) :] = torch.tensor(p)
                mask[row, width - len(p) :] = 1
            with self.autocast():
                out = self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                    # e.g. the closing brace of a JSON answer: an untuned model would ramble on to
                    # max_new_tokens (generation dominates eval time on CPU).
                    stopping_criteria=self.stop,
                    use_cache=True,
                )
            answers.extend(tok.batch_decode(out[:, width:], skip_special_tokens=True))
        return [self.task.parse_answer(a) for a in answers]

    @torch.no_grad()
    def label_likelihood(self, records: Sequence[Any], labels: Sequence[str]) -> tuple[list[str], list[float]]:
        """Per record: the likeliest label of `labels`, and the gold label's loss per token (NaN for a gold label
        outside `labels`: `mean_loss` leaves it out)."""
        label_ids = [self.encoder.answer_ids(label) for label in labels]
        room = max(self.encoder.max_length - max(len(ids) for ids in label_ids), MIN_PROMPT_TOKENS)
        examples = []
        for record in records:
            prompt = self.encoder.prompt_ids(record)[-room:]
            examples += [Encoded(prompt + ids, [-100] * len(prompt) + ids, {}) for ids in label_ids]
        scored = [(log_prob, count) for log_prob, count, _, _ in self._answer_log_probs(examples)]
        per_record = np.array([log_prob for log_prob, _ in scored]).reshape(len(records), len(labels))
        predictions = [labels[int(i)] for i in per_record.argmax(1)] if len(records) else []
        index = {label: i for i, label in enumerate(labels)}
        losses = [
            -per_record[row, index[record.answer]] / len(label_ids[index[record.answer]])
            if record.answer in index
            else math.nan
            for row, record in enumerate(records)
        ]
        return predictions, losses


def mean_loss(losses: Sequence[float]) -> float:
    """The eval loss of per-record losses: their mean over the records that have one (NaN without any)."""
    known = [loss for loss in losses if math.isfinite(loss)]
    return float(np.mean(known)) if known else math.nan


def loss_score(records: Sequence[Any], losses: Sequence[float]) -> dict[str, float]:
    """`mean_loss` in a task's `score` shape ((items, per-item values) -> metrics), so the eval loss can be
    re-scored on resampled records like any task metric."""
    return {"eval_loss": mean_loss(losses)}


def answer_logits(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits at the positions that predict an answer token, (n, vocab), and those tokens, (n,), in row order.

    The LM head (vocabulary x hidden: 28M of SmolLM2-135M's 135M weights) runs only there, not at every prompt and
    padding position: the same loss, ~7% less time in a complete default-job trial on CPU (same-hour A/B), and no
    batch x length x vocabulary logits tensor is held (hundreds of MB on a GPU at larger batches)."""
    target = batch["labels"][:, 1:]
    answer = target != -100
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if _keeps_chosen_logits(model):  # position t predicts token t + 1; the last position predicts none
        logits = model(**inputs, logits_to_keep=torch.nn.functional.pad(answer, (0, 1))).logits
    else:
        logits = model(**inputs).logits
    if logits.dim() == 3:  # a model that computed every position
        logits = logits[:, :-1][answer]
    return logits, target[answer]


def _keeps_chosen_logits(model) -> bool:
    """Whether the model's forward takes `logits_to_keep` (transformers' causal LMs: a mask of positions)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_takes_logits_to_keep(type(base))


@functools.cache
def _forward_takes_logits_to_keep(model_class: type) -> bool:  # once per class, not per batch
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def stop_criteria(task: Task, tokenizer):
    """The task's stop strings as generate()'s stopping criteria (None without any). Built once by the caller
    and reused: transformers rebuilds its matcher on every generate() call given `stop_strings` (0.3-0.8 s on a
    CPU; its cache misses because the fast tokenizer lists its vocabulary in a different order each time)."""
    from transformers import StoppingCriteriaList, StopStringCriteria

    stop = list(task.stop_strings)
    return StoppingCriteriaList([StopStringCriteria(tokenizer, stop)]) if stop else None
