"""The sweep's runs as Ray tasks, each with the config's resources, side by side on a machine or cluster.

Why plain Ray tasks and not Ray Tune: a sweep run is not a search trial. Its parameters (n, seed) are
fixed by the sweep, there is no searcher to ask and no scheduler to stop it (the early cut decides
inside the run), and the sweep needs each run's Python result (metrics, curve, cut) back in the
driver to choose the next round. `ray.remote` with `num_cpus` / `num_gpus` is Ray's own way to run
such a function with resources; Tune would add experiment folders and result callbacks for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from foretune.search.sweep.runs import OnDone, RunFailed, RunJob, RunOutcome, TrainFn, run_job


def ray_slots(cpus_per_run: float, gpus_per_run: float, *, cap: int | None = None) -> int:
    """How many runs the joined Ray cluster can hold at once with these resources (at least 1)."""
    import ray

    have = ray.cluster_resources()
    slots = math.floor(have.get("CPU", 0) / cpus_per_run + 1e-9) if cpus_per_run > 0 else math.inf
    if gpus_per_run > 0:
        slots = min(slots, math.floor(have.get("GPU", 0) / gpus_per_run + 1e-9))
    if cap is not None:
        slots = min(slots, cap)
    return max(1, int(slots)) if math.isfinite(slots) else max(1, cap or 1)


class RayRunner:
    """Runs a round of sweep jobs as Ray tasks (Ray already started or joined) and waits for all of them."""

    def __init__(self, *, cpus: float, gpus: float = 0.0, cap: int | None = None) -> None:
        self.cpus = float(cpus)
        self.gpus = float(gpus)
        self.cap = cap

    @property
    def slots(self) -> int:
        """Runs that fit side by side on the cluster now (at most `cap`)."""
        return ray_slots(self.cpus, self.gpus, cap=self.cap)

    def __call__(
        self, train_and_score: TrainFn, jobs: Sequence[RunJob], on_done: OnDone | None = None
    ) -> list[RunOutcome]:
        import ray
        from ray.exceptions import RayError

        remote = ray.remote(run_job).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)
        task_fn = ray.put(train_and_score)  # one copy of the closure (it holds the loaded dataset)
        refs = [remote.remote(task_fn, job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        outcomes: list[RunOutcome | None] = [None] * len(refs)
        pending, failures = refs, []
        while pending:  # each run as it ends: a stop mid-round keeps the ones already done
            done, pending = ray.wait(pending, num_returns=1)
            i = index[done[0]]
            try:
                outcomes[i] = ray.get(done[0])
            except RayError as error:  # the others of the round still end, and are kept
                failures.append(RunFailed(jobs[i], failure_reason(error)))
                continue
            if on_done is not None:
                on_done(i, outcomes[i])
        if failures:
            raise failures[0]
        return outcomes


def failure_reason(error: Exception) -> str:
    """The gist of a Ray task's error: the run's own exception (first line of its message), or Ray's word for a
    worker or node that died."""
    from foretune.errors import ForetuneError

    cause = getattr(error, "cause", None)
    shown = cause if isinstance(cause, BaseException) else error
    lines = [line.strip() for line in str(shown).splitlines() if line.strip()]
    text = lines[0] if lines else "(no message)"
    return text if isinstance(shown, ForetuneError) else f"{type(shown).__name__}: {text}"
