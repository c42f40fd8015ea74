"""The sweep's runs as Ray tasks: the same points as in-process runs, side by side, early cut inside the task.

The runs are cheap functions (a saturating curve; a validation curve to cut); the Ray part is real
(the test session's Ray: two nodes, one CPU each). The functions are built inside `make_task` so Ray ships
them by value.
"""

from __future__ import annotations

import os
import time

import pytest

from foretune.search.sweep import EarlyCut, SaturationSweep
from foretune.search.sweep.ray_runs import RayRunner
from foretune.search.sweep.runs import run_here

SIZES = [0, 50, 100, 200, 400, 800, 1600, 3200]


def make_task(seconds: float = 0.0):
    """Held-out accuracy on a power law in n; each run reports a validation curve (cuttable) and its timing."""

    def train_and_score(n: int, seed: int, reporter=None) -> dict[str, float]:
        import numpy as np

        from foretune.trainers.reporters import Decision

        started = time.time()
        rng = np.random.default_rng(n * 10 + seed)
        final = 0.9 - 3 * n**-0.6 if n > 0 else 0.3
        value = final
        for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0) if n > 0 else ():
            value = final - 0.1 * final * (fraction**-0.5 - 1) + rng.normal(0, 0.0005)
            if reporter is not None and reporter.report(fraction, int(fraction * 100), {"accuracy": value}) == (
                Decision.STOP
            ):
                break
        time.sleep(seconds)
        held_out = value + 0.02 + rng.normal(0, 0.003)
        return {"accuracy": held_out, "started": started, "ended": time.time(), "pid": float(os.getpid())}

    return train_and_score


@pytest.fixture(scope="module")
def local_ray(ray_session):
    """The test session's Ray (tests/ray_cluster.py): two nodes, one CPU each."""
    return ray_session


def _points(result) -> list[tuple]:
    return [(p.n, p.seed, round(p.score, 12), p.predicted, round(p.fraction, 9)) for p in result.points]


def test_ray_tasks_give_the_points_of_in_process_runs_with_the_early_cut_inside(local_ray) -> None:
    common = {"sizes": SIZES, "adaptive": False, "n_bootstrap": 10}
    here = SaturationSweep(make_task(), early_cut=EarlyCut(metric="accuracy", tolerance=0.005), **common).run()
    runner = RayRunner(cpus=1)
    on_ray = SaturationSweep(
        make_task(), early_cut=EarlyCut(metric="accuracy", tolerance=0.005), runner=runner, slots=1, **common
    ).run()
    assert _points(on_ray) == _points(here)
    assert on_ray.cut_short >= 1  # cut inside Ray tasks, from reporters fitted on the finished runs
    assert {p.metrics["pid"] for p in on_ray.points} != {float(os.getpid())}  # ran in Ray workers


def test_runs_go_side_by_side_in_rounds_as_wide_as_the_cluster(local_ray) -> None:
    runner = RayRunner(cpus=1, cap=8)
    assert runner.slots == 2  # two CPUs, one per run
    sweep = SaturationSweep(make_task(seconds=1.0), sizes=SIZES, repeats=2, n_bootstrap=10, runner=runner)
    result = sweep.run()
    sequential = SaturationSweep(make_task(), sizes=SIZES, repeats=2, n_bootstrap=10, runner=run_here, slots=2).run()
    assert _points(result) == _points(sequential)  # same rounds, same choices, same scores
    # Each round's two seeds of one size overlap in time: they ran at once (after the first round, which
    # may wait for Ray to start its second worker process).
    by_size = {}
    for point in result.points:
        by_size.setdefault(point.n, []).append(point.metrics)
    assert len(by_size) >= 4
    for runs in list(by_size.values())[1:]:
        first, second = sorted(runs, key=lambda m: m["started"])
        assert second["started"] < first["ended"]


def test_a_run_that_fails_stops_the_sweep_with_what_ended_kept_and_one_line(local_ray, tmp_path) -> None:
    """A run that raised (or whose node died) ended `foretune sweep` with Ray's traceback and no table, the other
    runs of its round thrown away; now the round's other runs end and are kept, and one line says which run failed,
    why, and that the same command resumes (exit code 1)."""
    from foretune.cli.sweep import stopped_error
    from foretune.errors import Failed

    task = make_task()

    def failing(n: int, seed: int, reporter=None) -> dict[str, float]:
        if n == 200 and seed == 0:
            raise ValueError(f"boom at n={n}\nsecond line")
        return task(n, seed, reporter)

    ended = []
    sweep = SaturationSweep(failing, sizes=SIZES, repeats=2, adaptive=False, n_bootstrap=10, on_run=ended.append)
    sweep.runner, sweep.slots = RayRunner(cpus=1), 2  # rounds of one size, two seeds side by side
    result = sweep.run()
    assert result.failure == "the run n=200 seed=0 failed: ValueError: boom at n=200"
    assert result.stopped_because == result.failure and not result.interrupted
    assert [(p.n, p.seed) for p in result.points] == [(n, s) for n in (0, 50, 100) for s in (0, 1)] + [(200, 1)]
    # Each recorded as it ended: round by round, and within a round in the order its runs ended (either seed first).
    recorded = [(p.n, p.seed) for p in ended]
    assert sorted(recorded) == [(p.n, p.seed) for p in result.points]
    assert [n for n, _ in recorded] == sorted(n for n, _ in recorded)
    error = stopped_error({"m": result}, tmp_path)
    assert isinstance(error, Failed) and error.exit_code == 1
    assert str(error) == (
        f"the sweep stopped: {result.failure}. Its 7 finished run(s) are written to {tmp_path}; fix the cause, and "
        "the same command resumes it, without training those runs again"
    )
