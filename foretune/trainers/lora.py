"""One LoRA fine-tune that reports its evaluation metrics at fixed fractions of its budget.

The budget unit is the optimizer step. Each step of `LoraTrainer.fit` runs forward + backward ->
clip -> optimizer step -> lr schedule step; at a step that ends one of `train.eval_fractions` it
then evaluates on the validation split -> reports -> checks for a stop. The evaluation at fraction
f so scores the model after round(f * total) steps. The trainer knows nothing of Ray or Optuna: it
hands `(fraction, step, metrics)` to a `Reporter`, which may answer STOP. The task kind (`task.name`)
reads the records and says what is learned and scored; `encoding.py` turns records into tokens (only
answer tokens learned), `evaluation.py` scores the model on them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import torch

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.keys import FRACTION_KEY, STEP_KEY
from foretune.trainers.costs import CostMeter
from foretune.trainers.data import Splits
from foretune.trainers.devices import default_threads, pick_device, use_bf16
from foretune.trainers.encoding import Encoded, Encoder, collate, fit_lengths
from foretune.trainers.evaluation import Scorer, answer_logits, loss_score, mean_loss, stop_criteria
from foretune.trainers.models import load_model_and_tokenizer, load_tokenizer
from foretune.trainers.reporters import Decision, Reporter
from foretune.trainers.tasks import MetricFn, Task, make_task


@dataclass
class TrainResult:
    metrics: dict[str, float]  # validation metrics at the last evaluation
    curve: pd.DataFrame  # one row per evaluation: fraction, step, metrics...
    steps: int  # optimizer steps taken
    total_steps: int  # the budget
    stopped_early: bool  # a reporter said stop
    seconds: float
    test_metrics: dict[str, float] | None = None  # held-out test split, generated answers
    test_scored: tuple[list, list] | None = None  # (test items, their predictions): for bootstrap intervals


def eval_steps_of(fractions: Sequence[float], total: int) -> dict[int, float]:
    """Optimizer step -> budget fraction at which a run of `total` steps evaluates (a step is evaluated once)."""
    steps: dict[int, float] = {}
    for fraction in fractions:
        steps.setdefault(max(1, round(fraction * total)), fraction)
    # With fewer steps than evaluations the last step is shared: it must still report the whole budget.
    steps[total] = 1.0
    return steps


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
        self.task: Task = make_task(config)
        self.splits = splits if splits is not None else self.task.load_splits(config.data, offline=config.model.offline)
        if splits is not None and hasattr(self.task, "learn_labels"):
            self.task.learn_labels(splits)  # classification: the label set of splits loaded elsewhere
        size = config.data.train_size if train_size is None else train_size
        self.train_products = self.splits.train_subset(size) if size is not None else list(self.splits.train)
        self.on_step = on_step
        self.metric_fn = MetricFn(config.task.metric_fn) if config.task.metric_fn else None
        self._tokenizer = load_tokenizer(config.model)
        self.encoder = Encoder(self.task, self._tokenizer, config.model.max_length)
        self.data_note: str | None = self._fit_lengths()  # rows cut or dropped for model.max_length, if any
        self.device = pick_device(config.train.device)
        self.bf16 = use_bf16(config.train.bf16, self.device)
        self._model = None
        self.peft_model = None  # set by fit(): the LoRA-wrapped model
        # What the run costs so far: a search's reporter reads it at each report.
        price = config.cost.price_per_device_hour
        self.costs = CostMeter(device=self.device, gpus=config.resources.gpus_per_trial, price_per_device_hour=price)
        self.last_scored: tuple[list, list] | None = None  # (items, predictions) of the last evaluate()
        self.final_scored: tuple[list, list] | None = None  # (items, predictions) of the final evaluation
        self.last_losses: tuple[list, list] | None = None  # (items, per-item eval losses) of the last evaluate()
        self.final_losses: tuple[list, list] | None = None  # ... of the final evaluation

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
        return eval_steps_of(self.config.train.eval_fractions, self.total_steps)

    def _load(self) -> None:
        if self._model is not None:
            return
        torch.set_num_threads(self.config.train.num_threads or default_threads())
        self._model, _ = load_model_and_tokenizer(self.config.model, device=self.device, dtype=torch.float32)
        self._model.config.use_cache = False

    def _fit_lengths(self) -> str | None:
        """Apply data.too_long to every split (attribute extraction without it: prompts cut, as always)."""
        policy = self.config.data.too_long
        if policy is None and self.task.name == "attribute_extraction":
            return None
        kept, note = fit_lengths(
            self.encoder,
            {"train": self.train_products, "validation": self.splits.validation, "test": self.splits.test},
            policy or "error",
            self.config.data.source,
        )
        self.train_products = kept["train"]
        self.splits = Splits(train=self.splits.train, validation=kept["validation"], test=kept["test"])
        return note

    @cached_property
    def _stop_criteria(self):
        return stop_criteria(self.task, self._tokenizer)  # built once per run, not per evaluation

    def _autocast(self):
        return torch.autocast(device_type=self.device, dtype=torch.bfloat16, enabled=self.bf16)

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
        with warnings.catch_warnings():  # peft 0.21 reads transformers 5's deprecated alias: not the user's to fix
            warnings.filterwarnings(
                "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
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
        self.costs.start()
        set_seed(train.seed)
        self._load()
        if self.peft_model is not None:
            raise RuntimeError("LoraTrainer.fit runs once per trainer; make a new trainer for a new run")
        model = self.peft_model = self._wrap_lora()
        self.costs.count_params(model)
        examples = [self.encoder.encode(p) for p in self.train_products]
        validation = self.validation_products()
        final_validation = self.validation_products(final=True)
        final_loss = validation if self.final_loss_on_early_products() else None
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
                final = step == total
                products = final_validation if final else validation
                with self.costs.timing_inference(len(products)):  # the latency: this pass per example
                    scores = self.evaluate(
                        products, method=self.config.task.eval_method, loss_products=final_loss if final else None
                    )
                    metrics = {**scores, "train_loss": loss}
                if final:
                    self.final_scored, self.final_losses = self.last_scored, self.last_losses
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
            test_scored=self.last_scored if test_metrics is not None else None,
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

    def _train_step(self, model, optimizer, scheduler, examples: Sequence[Encoded]) -> float:
        """One optimizer step on one batch; the batch's training loss."""
        model.train()
        batch = collate(examples, self._tokenizer.pad_token_id, self.device)
        self.costs.add_tokens(int(batch["attention_mask"].sum()))
        with self._autocast():
            logits, answer_tokens = answer_logits(model, batch)
            # The mean over the batch's answer tokens, as transformers' causal-LM loss (logits in float32).
            loss = torch.nn.functional.cross_entropy(logits.float(), answer_tokens)
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
        products = self._test_products() if split == "test" else self.validation_products()
        return self.evaluate(products, method="generate")

    def evaluate_test(self) -> dict[str, float]:
        """Score the current model on the held-out test split by generating answers."""
        return self.evaluate(self._test_products(), method="generate")

    def validation_products(self, *, final: bool = False) -> list:
        """The validation products scored at an evaluation (`final`: at the last step, the run's final)."""
        products = self.splits.validation or self.splits.test
        data = self.config.data
        cap = (data.max_final_eval_samples or data.max_eval_samples) if final else data.max_eval_samples
        return products[:cap] if cap else products

    def final_loss_on_early_products(self) -> bool:
        """Whether the final evaluation computes the eval loss on the earlier evaluations' products only.

        With generated answers the loss is a side signal of its own teacher-forced pass (half the final's time on
        CPU): on the same products at every evaluation the loss curve compares like with like, and the longer
        final (data.max_final_eval_samples) only pays for generating. Not when the loss is an objective."""
        search = self.config.search
        objectives = {search.metric, *(o.metric for o in search.objectives or [])}
        return (
            self.config.task.eval_method == "generate"
            and self.task.name != "classification"
            and "eval_loss" not in objectives
            and len(self.validation_products(final=True)) > len(self.validation_products())
        )

    def final_resampling(self, metric: str) -> tuple[Callable[[list, list], dict[str, float]], list, list] | None:
        """(score, items, per-item values) that re-score the final evaluation's `metric` on resampled items: the
        task's own score, a task.metric_fn's, or the items' eval losses; None before a final, or for a metric
        none of them gives."""
        if metric == "eval_loss":
            return (loss_score, *self.final_losses) if self.final_losses else None
        if self.final_scored is None:
            return None
        items, predictions = self.final_scored
        if metric in self.task.score(items, predictions):
            return self.task.score, items, predictions
        return (self.metric_fn_score, items, predictions) if self.metric_fn is not None else None

    @property
    def metric_fn_score(self) -> Callable[[list, list], dict[str, float]] | None:
        """task.metric_fn in the task's `score` shape ((records, predictions) -> metrics) for resampled records
        (`MetricFn.resample_score`: a resample it fails on scores nothing); None without one."""
        return self.metric_fn.resample_score(self.task) if self.metric_fn is not None else None

    def _test_products(self) -> list:
        cap = self.config.data.max_test_samples
        return self.splits.test[:cap] if cap else self.splits.test

    # --- evaluation --------------------------------------------------------------------------------

    def evaluate(self, products: Sequence, *, method: str, loss_products: Sequence | None = None) -> dict[str, float]:
        """Task metrics of the current model on `products` (records of the task; plus eval_loss, and the
        metrics of task.metric_fn). Classification is always scored by label likelihood. `loss_products`: with
        generated answers, the products the eval loss is computed on (default: `products`)."""
        self._load()
        model = self._model
        was_training = model.training
        model.eval()
        scorer = Scorer(
            model,
            self.encoder,
            device=self.device,
            autocast=self._autocast,
            batch_size=max(self.config.train.batch_size, 8),
            max_new_tokens=self.config.task.max_new_tokens,
            stop=self._stop_criteria,
        )
        if loss_products is None or method != "generate" or self.task.name == "classification":
            loss_products = products
        try:
            if self.task.name == "classification":
                predictions, losses = scorer.label_likelihood(products, self.task.labels)
            elif method == "generate":
                _, losses = scorer.teacher_forced(loss_products)
                predictions = scorer.generate(products)
            else:
                predictions, losses = scorer.teacher_forced(products)
        finally:
            model.train(was_training)
        products = list(products)
        # Kept for bootstrap intervals and paired draws over the items.
        self.last_scored, self.last_losses = (products, predictions), (list(loss_products), losses)
        scores = {**self.task.score(products, predictions), "eval_loss": mean_loss(losses)}
        if self.metric_fn is not None:  # scored as its paired draws re-score it (`final_resampling`)
            scores.update(self.metric_fn.item_score(self.task)(products, predictions))
        return scores


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
