"""The zero-shot baseline (the untuned model's test scores, the number a fine-tune must beat), and where a search
runs it: in the tail of its trials.

Once every trial of a search has started and one of them has ended, that trial's slot stays free until the search
ends; the baseline (a model load and a generated answer per test item: ~15 s of the default job on 2 cores) runs
there as a Ray task holding one trial's resources, instead of after the last trial (`InTheTail`). Ray starts it on
the freed slot: on whichever node it is, with that slot's GPU (the driver's own default device may be a running
trial's).
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
        return with_intervals(plain, trainer.task.score, trainer.last_scored, user_score=trainer.metric_fn_score)


def zero_shot_in_the_tail(config: ExperimentConfig) -> dict[str, float]:
    """The baseline as the tail runs it: a Ray task with one trial's CPUs and GPUs (`resources`), so that Ray places
    it on the slot a trial freed; waits for its scores (its error is raised here)."""
    import ray

    resources = config.resources
    task = ray.remote(num_cpus=resources.cpus_per_trial, num_gpus=resources.gpus_per_trial, max_retries=0)
    return ray.get(task(_zero_shot_in_one_slot).remote(config))


def _zero_shot_in_one_slot(config: ExperimentConfig) -> dict[str, float]:
    return zero_shot_test_scores(in_one_slot(config))


def in_one_slot(config: ExperimentConfig) -> ExperimentConfig:
    """`config` with the torch threads of one trial: the baseline shares the machine with the last trials."""
    if config.train.num_threads:
        return config
    return config.with_overrides({"train.num_threads": max(1, int(config.resources.cpus_per_trial))})


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
