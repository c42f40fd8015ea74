"""The sweep's real `train_and_score`: LoRA fine-tunes on the first n training products."""

from __future__ import annotations

from collections.abc import Callable

from foretune.search.sweep.budget import run_steps
from foretune.search.sweep.loop import TrainAndScore


def lora_train_and_score(config, splits=None) -> tuple[TrainAndScore, Callable[[int], float], int]:
    """(train_and_score, cost, available) for LoRA fine-tunes of `config` on nested subsets.

    One loaded dataset is shared by every run; the score is the held-out test split's metrics
    (generated answers), the same test products for every n. n = 0 scores the pretrained model.
    """
    from foretune.trainers.lora import LoraTrainer
    from foretune.trainers.tasks import make_task

    splits = splits if splits is not None else make_task(config).load_splits(config.data, offline=config.model.offline)
    available = len(splits.train)

    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        # The budget grows with n (`budget.run_steps`), written as steps so the trainer runs exactly that.
        budget = {"train.max_steps": run_steps(config, n), "train.epochs": None} if n > 0 else {}
        run_config = config.with_overrides({"train.seed": seed, **budget}, where="sweep")
        trainer = LoraTrainer(run_config, splits=splits, train_size=n)
        if n == 0:
            return trainer.evaluate_zero_shot(split="test")
        # Scored on the test split whether it ran its budget or a reporter cut it short.
        trainer.fit(reporter, evaluate_test=False)
        return trainer.evaluate_test()

    def cost(n: int) -> float:
        # Optimizer steps x batch (examples processed), plus one test evaluation for every run.
        if n == 0:
            return float(config.train.batch_size)
        return float(run_steps(config, n) * config.train.batch_size + config.train.batch_size)

    return train_and_score, cost, available
