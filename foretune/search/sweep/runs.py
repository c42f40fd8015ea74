"""One sweep run as a job that can travel: (n, seed, early-cut reporter) in, (metrics, reporter, seconds) out.

The sweep hands a round of jobs to a runner and reads the outcomes back in the order given (each one is
also handed to `on_done` as it ends, so that it is recorded before the round is over), so the points are
the same whether the runs went one after another here (`run_here`) or side by side as
Ray tasks (`foretune.search.sweep.ray_runs.RayRunner`). The early cut happens inside the run: the
job carries its `EarlyCutReporter` (the predictor already fitted on the sweep's finished runs), and
the outcome brings it back with the run's curve and its cut, if any.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from foretune.search.sweep.early_cut import EarlyCutReporter

TrainFn = Callable[..., Mapping[str, float]]  # `TrainAndScore`: (n, seed[, reporter]) -> held-out metrics


@dataclass(frozen=True)
class RunJob:
    n: int
    seed: int
    reporter: EarlyCutReporter | None = None  # None: the run trains its whole budget


@dataclass(frozen=True)
class RunOutcome:
    metrics: dict[str, float]
    reporter: EarlyCutReporter | None  # the job's reporter after the run: its curve, and its cut if any
    seconds: float


class RunFailed(Exception):
    """A run raised, or its worker or node died (a Ray task's error): which run, and the error's gist."""

    def __init__(self, job: RunJob, reason: str) -> None:
        super().__init__(f"the run n={job.n} seed={job.seed} failed: {reason}")
        self.job, self.reason = job, reason


OnDone = Callable[[int, RunOutcome], None]  # (index of the job in its round, its outcome), as each run ends
Runner = Callable[[TrainFn, Sequence[RunJob], OnDone | None], list[RunOutcome]]


def run_job(train_and_score: TrainFn, job: RunJob) -> RunOutcome:
    started = time.perf_counter()
    if job.reporter is None:
        metrics = train_and_score(job.n, job.seed)
    else:
        metrics = train_and_score(job.n, job.seed, job.reporter)
    return RunOutcome(dict(metrics), job.reporter, time.perf_counter() - started)


def run_here(train_and_score: TrainFn, jobs: Sequence[RunJob], on_done: OnDone | None = None) -> list[RunOutcome]:
    """The runs one after another in this process (cheap functions in tests and benchmarks)."""
    outcomes = []
    for index, job in enumerate(jobs):
        outcomes.append(run_job(train_and_score, job))
        if on_done is not None:
            on_done(index, outcomes[-1])
    return outcomes
