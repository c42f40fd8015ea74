"""One LoRA fine-tune that reports its evaluation metrics at fixed fractions of its budget.

The budget unit is the optimizer step. Each step of `LoraTrainer.fit` runs forward + backward ->
clip -> optimizer step -> lr schedule step; at a step that ends one of `train.eval_fractions` it
then evaluates on the validation split -> reports -> checks for a stop. The evaluation at fraction
f so scores the model after round(f * total) steps. The trainer knows nothing of Ray or Optuna: it
hands `(fraction, step, metrics)` to a `Reporter`, which may answer STOP.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.keys import FRACTION_KEY, STEP_KEY
from foretune.trainers.data import Product, Splits, load_splits
from foretune.trainers.models import load_model_and_tokenizer
from foretune.trainers.reporters import Decision, Reporter
from foretune.trainers.tasks import AttributeExtractionTask, Task

# Stands in for "some other value" when teacher forcing finds a value's tokens wrong.
_WRONG = "\x00wrong"


@dataclass
class TrainResult:
    metrics: dict[str, float]  # validation metrics at the last evaluation
    curve: pd.DataFrame  # one row per evaluation: fraction, step, metrics...
    steps: int  # optimizer steps taken
    total_steps: int  # the budget
    stopped_early: bool  # a reporter said stop
    seconds: float
    test_metrics: dict[str, float] | None = None  # held-out test split, generated answers


@dataclass
class _Example:
    input_ids: list[int]
    labels: list[int]  # -100 on the prompt: only the answer is learned
    value_tokens: dict[str, list[int]]  # attribute -> positions (in input_ids) of its value's tokens


def pick_device(setting: str) -> str:
    if setting == "cuda" and not torch.cuda.is_available():
        raise ForetuneError("train.device is 'cuda' but no CUDA GPU is visible; use device: auto or cpu")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def use_bf16(setting: str, device: str) -> bool:
    if device != "cuda":
        if setting == "on":
            raise ForetuneError("train.bf16 is 'on' but the device is the CPU; use bf16: auto")
        return False
    return setting == "on" or (setting == "auto" and torch.cuda.is_bf16_supported())


def _default_threads() -> int:
    # Ray sets OMP_NUM_THREADS to the CPUs it gave the trial; alone, use the cores we may run on.
    env = os.environ.get("OMP_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class LoraTrainer:
    """Fine-tune `config.model` with LoRA on `config.data` for `config.train`'s budget.

    `splits` may be given to share one loaded dataset between runs (the saturation sweep does);
    `train_size` overrides `config.data.train_size` (the nested subset of that size is used).
    """

    def __init__(
        self,
        config: ExperimentConfig,
        *,
        splits: Splits | None = None,
        train_size: int | None = None,
        on_step: Callable[[int, int, float], None] | None = None,
    ) -> None:
        self.config = config
        self.splits = splits if splits is not None else load_splits(config.data, offline=config.model.offline)
        size = config.data.train_size if train_size is None else train_size
        self.train_products = self.splits.train_subset(size) if size is not None else list(self.splits.train)
        self.on_step = on_step
        self.task: Task = AttributeExtractionTask(config.data.attributes, prompt_style=config.task.prompt_style)
        self.device = pick_device(config.train.device)
        self.bf16 = use_bf16(config.train.bf16, self.device)
        self._model = None
        self._tokenizer = None
        self.peft_model = None  # set by fit(): the LoRA-wrapped model

    # --- setup -------------------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        train = self.config.train
        if train.epochs is not None:
            per_epoch = math.ceil(max(len(self.train_products), 1) / train.batch_size)
            return max(1, math.ceil(train.epochs * per_epoch))
        return int(train.max_steps)

    def eval_steps(self) -> dict[int, float]:
        """Optimizer step -> budget fraction at which to evaluate (a step is evaluated once)."""
        steps: dict[int, float] = {}
        for fraction in self.config.train.eval_fractions:
            steps.setdefault(max(1, round(fraction * self.total_steps)), fraction)
        # With fewer steps than evaluations the last step is shared: it must still report the whole budget.
        steps[self.total_steps] = 1.0
        return steps

    def _load(self) -> None:
        if self._model is not None:
            return
        torch.set_num_threads(self.config.train.num_threads or _default_threads())
        self._model, self._tokenizer = load_model_and_tokenizer(
            self.config.model, device=self.device, dtype=torch.float32
        )
        self._model.config.use_cache = False

    def _prompt_ids(self, product: Product) -> list[int]:
        tok = self._tokenizer
        if self.config.task.prompt_style == "chat":
            ids = tok.apply_chat_template(self.task.chat_messages(product), add_generation_prompt=True, tokenize=True)
            return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        return tok(self.task.prompt(product), add_special_tokens=False).input_ids

    def _example(self, product: Product) -> _Example:
        prompt = self._prompt_ids(product)
        answer_text = self.task.answer(product)
        encoded = self._tokenizer(answer_text, add_special_tokens=False, return_offsets_mapping=True)
        answer = encoded.input_ids + [self._tokenizer.eos_token_id]
        # Left-truncate the prompt so the answer (what is learned and scored) always fits.
        room = self.config.model.max_length - len(answer)
        if room < 8:
            raise ForetuneError(
                f"model.max_length={self.config.model.max_length} leaves no room for the prompt "
                f"(answers take up to {len(answer)} tokens); raise model.max_length"
            )
        prompt = prompt[-room:]
        offset = len(prompt)
        value_tokens: dict[str, list[int]] = {}
        for attribute, start, end in self.task.answer_spans(product):
            value_tokens[attribute] = [
                offset + i
                for i, (a, b) in enumerate(encoded.offset_mapping)
                if a < end and b > start  # the token overlaps the value's characters
            ]
        return _Example(prompt + answer, [-100] * len(prompt) + answer, value_tokens)

    def _collate(self, examples: Sequence[_Example]) -> dict[str, torch.Tensor]:
        width = max(len(e.input_ids) for e in examples)
        pad = self._tokenizer.pad_token_id
        ids = torch.full((len(examples), width), pad, dtype=torch.long)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        mask = torch.zeros((len(examples), width), dtype=torch.long)
        for row, e in enumerate(examples):  # right padding for teacher-forced passes
            ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
            labels[row, : len(e.labels)] = torch.tensor(e.labels)
            mask[row, : len(e.input_ids)] = 1
        tensors = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        return {name: tensor.to(self.device) for name, tensor in tensors.items()}

    def _autocast(self):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.bf16)

    def _wrap_lora(self):
        from peft import LoraConfig, get_peft_model

        lora = self.config.train.lora
        known = {name.rsplit(".", 1)[-1] for name, _ in self._model.named_modules()}
        missing = [m for m in lora.target_modules if m not in known]
        if missing:
            raise ForetuneError(
                f"train.lora.target_modules: {missing} not found in {self.config.model.name} "
                f"(linear layers there include q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"
            )
        peft_config = LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(self._model, peft_config)

    # --- training ----------------------------------------------------------------------------------

    def fit(self, reporter: Reporter | None = None, *, evaluate_test: bool | None = None) -> TrainResult:
        """Train for the budget, evaluating at each budget fraction; stop early if told to.

        A run that used its whole budget is then scored on the test split when `evaluate_test`
        (default: `task.test_on_completion`).
        """
        from transformers import set_seed

        train = self.config.train
        if not self.train_products:
            raise ForetuneError("no training products (data.train_size is 0?); use evaluate_zero_shot() for n=0")
        started = time.perf_counter()
        set_seed(train.seed)
        self._load()
        if self.peft_model is not None:
            raise RuntimeError("LoraTrainer.fit runs once per trainer; make a new trainer for a new run")
        model = self.peft_model = self._wrap_lora()
        examples = [self._example(p) for p in self.train_products]
        validation = self._validation_products()
        total = self.total_steps
        eval_at = self.eval_steps()
        optimizer, scheduler = self._optimizer_and_schedule(model, total)
        batches = _batch_order(len(examples), train.batch_size, seed=train.seed)

        rows: list[dict[str, float]] = []
        metrics: dict[str, float] = {}
        stopped = False
        step = 0
        while step < total and not stopped:
            step += 1
            loss = self._train_step(model, optimizer, scheduler, [examples[i] for i in next(batches)])
            if self.on_step is not None:
                self.on_step(step, total, loss)
            if step in eval_at:
                metrics = {**self.evaluate(validation, method=self.config.task.eval_method), "train_loss": loss}
                rows.append({FRACTION_KEY: eval_at[step], STEP_KEY: step, **metrics})
                if reporter is not None and reporter.report(eval_at[step], step, metrics) == Decision.STOP:
                    stopped = step < total
        if evaluate_test is None:
            evaluate_test = self.config.task.test_on_completion
        test_metrics = self.evaluate_test() if evaluate_test and not stopped else None
        return TrainResult(
            metrics=metrics,
            curve=pd.DataFrame(rows),
            steps=step,
            total_steps=total,
            stopped_early=stopped,
            seconds=time.perf_counter() - started,
            test_metrics=test_metrics,
        )

    def _optimizer_and_schedule(self, model, total: int):
        from transformers import get_scheduler

        train = self.config.train
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=train.learning_rate, weight_decay=train.weight_decay
        )
        scheduler = get_scheduler(
            train.lr_scheduler, optimizer, num_warmup_steps=round(train.warmup_ratio * total), num_training_steps=total
        )
        return optimizer, scheduler

    def _train_step(self, model, optimizer, scheduler, examples: Sequence[_Example]) -> float:
        """One optimizer step on one batch; the batch's training loss."""
        model.train()
        batch = self._collate(examples)
        with self._autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.train.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def save_adapter(self, path) -> None:
        """Save the trained LoRA adapter (a few MB) with the tokenizer, loadable with peft."""
        if self.peft_model is None:
            raise RuntimeError("nothing trained yet: call fit() first")
        self.peft_model.save_pretrained(path)
        self._tokenizer.save_pretrained(path)

    def evaluate_zero_shot(self, *, split: str = "test") -> dict[str, float]:
        """Score the pretrained model without any fine-tuning (the n = 0 point of a sweep)."""
        from transformers import set_seed

        set_seed(self.config.train.seed)
        self._load()
        products = self._test_products() if split == "test" else self._validation_products()
        return self.evaluate(products, method="generate")

    def evaluate_test(self) -> dict[str, float]:
        """Score the current model on the held-out test split by generating answers."""
        return self.evaluate(self._test_products(), method="generate")

    def _validation_products(self) -> list[Product]:
        products = self.splits.validation or self.splits.test
        cap = self.config.data.max_eval_samples
        return products[:cap] if cap else products

    def _test_products(self) -> list[Product]:
        cap = self.config.data.max_test_samples
        return self.splits.test[:cap] if cap else self.splits.test

    # --- evaluation --------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, products: Sequence[Product], *, method: str) -> dict[str, float]:
        """Task metrics of the current model on `products` (plus eval_loss)."""
        self._load()
        model = self._model
        was_training = model.training
        model.eval()
        try:
            examples = [self._example(p) for p in products]
            predictions, loss = self._teacher_forced(examples, products)
            if method == "generate":
                predictions = self._generate(products)
        finally:
            model.train(was_training)
        return {**self.task.score(list(products), predictions), "eval_loss": loss}

    def _teacher_forced(self, examples: Sequence[_Example], products: Sequence[Product]):
        """One forward pass per batch: eval loss, and each value right iff its tokens are the argmax."""
        batch_size = max(self.config.train.batch_size, 8)
        losses, predictions = [], []
        for first in range(0, len(examples), batch_size):
            chunk = examples[first : first + batch_size]
            batch = self._collate(chunk)
            with self._autocast():
                out = self._model(**batch)
            logits = out.logits.float()
            # Token t is predicted from position t-1.
            guess = logits[:, :-1].argmax(-1)
            target = batch["labels"][:, 1:]
            token_loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100, reduction="none"
            ).view(target.shape)
            answer = target != -100
            losses.extend((token_loss.sum(1) / answer.sum(1).clamp(min=1)).tolist())
            right = (guess == target) | ~answer
            for row, example in enumerate(chunk):
                product = products[first + row]
                predicted = {}
                for attribute, positions in example.value_tokens.items():
                    ok = all(bool(right[row, pos - 1]) for pos in positions)
                    predicted[attribute] = product.attributes.get(attribute) if ok else _WRONG
                predictions.append(predicted)
        return predictions, float(np.mean(losses)) if losses else float("nan")

    def _generate(self, products: Sequence[Product]) -> list[dict[str, str | None]]:
        tok = self._tokenizer
        batch_size = 16
        answers: list[str] = []
        for first in range(0, len(products), batch_size):
            chunk = products[first : first + batch_size]
            prompts = [self._prompt_ids(p)[-(self.config.model.max_length) :] for p in chunk]
            width = max(len(p) for p in prompts)
            ids = torch.full((len(prompts), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, p in enumerate(prompts):  # left padding: generation continues every row at the end
                ids[row, width - len(p) :] = torch.tensor(p)
                mask[row, width - len(p) :] = 1
            with self._autocast():
                out = self._model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    max_new_tokens=self.config.task.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                    # The answer is one flat JSON object: stop at its closing brace rather than let an
                    # untuned model ramble on to max_new_tokens (generation dominates eval time on CPU).
                    stop_strings=["}"],
                    tokenizer=tok,
                    use_cache=True,
                )
            answers.extend(tok.batch_decode(out[:, width:], skip_special_tokens=True))
        return [self.task.parse_answer(a) for a in answers]


def _batch_order(n: int, batch_size: int, *, seed: int):
    """Endless seeded batches of example indices: a fresh permutation each epoch."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(n, generator=generator).tolist()
        for first in range(0, n, batch_size):
            batch = order[first : first + batch_size]
            if len(batch) < batch_size and n >= batch_size:
                batch = batch + order[: batch_size - len(batch)]  # keep every step the same size
            yield batch
