"""The zero-shot baseline (the untuned model's test scores, the number a fine-tune must beat), and where a search
runs it: in the tail of its trials.

Once every trial of a search has started and one of them has ended, that trial's slot stays free until the search
ends; on one machine the baseline (a model load and a generated answer per test item: ~15 s of the default job on
2 cores) runs there, in a thread of the driver, instead of after the last trial (`InTheTail`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ray.tune import Callback

from foretune.config import ExperimentConfig
from foretune.predictors.bootstrap import with_intervals


def zero_shot_test_scores(config: ExperimentConfig, console=None) -> dict[str, float]:
    """The untuned model's scores on the test split, with 95% intervals over the test items."""
    from contextlib import nullcontext

    from foretune.trainers.lora import LoraTrainer

    status = "zero-shot baseline on the test split (generating answers)..."
    waiting = console.status(status) if console else nullcontext()
    with waiting:
        trainer = LoraTrainer(config)
        scores = trainer.evaluate_zero_shot(split="test")
        plain = {k: float(v) for k, v in scores.items() if "/" not in k}
        return with_intervals(plain, trainer.task.score, trainer.last_scored)


def zero_shot_in_the_tail(config: ExperimentConfig) -> dict[str, float]:
    """The baseline as the tail runs it: one trial's torch threads, and no weight-loading bar of transformers' in
    the middle of the search's own progress (the driver's bar; disabled for the rest of this process)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return zero_shot_test_scores(in_one_slot(config))


def in_one_slot(config: ExperimentConfig) -> ExperimentConfig:
    """`config` with the torch threads of one trial: the baseline shares the machine with the last trials."""
    if config.train.num_threads:
        return config
    return config.with_overrides({"train.num_threads": max(1, int(config.resources.cpus_per_trial))})


def on_one_machine() -> bool:
    """Whether every node of the Ray cluster runs on the driver's machine (then a free trial slot is a free slot of
    this machine's; a cluster of several machines frees it on another)."""
    import ray

    here = ray.util.get_node_ip_address()
    return all(node["NodeManagerAddress"] == here for node in ray.nodes() if node.get("Alive"))


class InTheTail(Callback):
    """Runs `work()` once, in a thread, when all `trials` of the session have started and one of them has ended.

    `result()` waits for it and returns what it returned (None when the tail never came: a search that ended
    early, or one whose trials are shared with other drivers of the study); its error is raised there.
    """

    def __init__(self, work: Callable[[], Any], *, trials: int) -> None:
        self.work, self.trials = work, trials
        self.started: set[str] = set()  # trial ids (a trial restarted after a failure starts again)
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future | None = None

    def __getstate__(self) -> dict:  # Ray pickles callbacks; a thread pool does not pickle
        state = self.__dict__.copy()
        state["work"] = state["_pool"] = state["_future"] = None
        return state

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started.add(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._start_once_in_the_tail()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._start_once_in_the_tail()

    @property
    def began(self) -> bool:
        return self._future is not None

    def _start_once_in_the_tail(self) -> None:
        if self._future is None and self.work is not None and len(self.started) >= self.trials:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="in-the-tail")
            self._future = self._pool.submit(self.work)

    def result(self) -> Any:
        if self._future is None:
            return None
        try:
            return self._future.result()
        finally:
            self._pool.shutdown()
