"""Wall time of a real LoRA saturation sweep: runs one after another in this process vs 2 Ray tasks side by side.

Both sweeps run the same grid (no adaptive choice, no early cut, so both measure the same (n, seed)
pairs) with the default model on synthetic products and tiny budgets. The sequential one is the
sweep as it ran before runs became Ray tasks (`runs.run_here`: in-process, torch using every core);
the parallel one is what `foretune sweep` does now (`ray_runs.RayRunner`, one CPU per run, two at
once). Writes a markdown table to stdout; results go in benchmarks/results/sweep.md.

    nice -n 10 .venv/bin/python benchmarks/sweep_parallel.py --sizes 0,4,8,12 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from foretune.config import load_config
from foretune.search.sweep import SaturationSweep, lora_train_and_score
from foretune.search.sweep.ray_runs import RayRunner
from foretune.search.sweep.runs import run_here
from foretune.trainers.models import ensure_model

TINY = {
    "data.synthetic_size": 120,
    "data.max_test_samples": 2,
    "data.max_eval_samples": 2,
    "train.batch_size": 4,
    "train.eval_fractions": [1.0],
    "task.max_new_tokens": 16,
    "sweep.epochs": 1,
}


def timed_sweep(config, sizes, repeats, runner, slots):
    train_and_score, cost, available = lora_train_and_score(config)
    sweep = SaturationSweep(
        train_and_score,
        sizes=sizes,
        repeats=repeats,
        metric=config.search.metric,
        adaptive=False,
        max_n=available,
        cost=cost,
        n_bootstrap=20,
        runner=runner,
        slots=slots,
        on_point=lambda p: print(
            f"n={p.n} seed={p.seed} {p.score:.4f} ({p.seconds:.0f}s)", file=sys.stderr, flush=True
        ),
    )
    started = time.perf_counter()
    result = sweep.run()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,4,8,12")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    config = load_config(None, TINY)
    ensure_model(config.model)

    sequential, seq_wall = timed_sweep(config, sizes, args.repeats, run_here, 1)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        parallel, par_wall = timed_sweep(config, sizes, args.repeats, RayRunner(cpus=1, cap=2), None)
    finally:
        ray.shutdown()

    seq = {(p.n, p.seed): p.score for p in sequential.points}
    par = {(p.n, p.seed): p.score for p in parallel.points}
    diff = max(abs(seq[k] - par[k]) for k in seq) if seq.keys() == par.keys() else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; model {config.model.name}")
    print(f"sizes {sizes} x {args.repeats} seeds = {len(seq)} runs; config overrides {TINY}")
    print("| sweep | wall time (s) | runs | max run (s) |")
    print("|---|---|---|---|")
    for name, result, wall in (
        ("sequential (in process)", sequential, seq_wall),
        ("Ray, 2 side by side", parallel, par_wall),
    ):
        print(f"| {name} | {wall:.1f} | {len(result.points)} | {max(p.seconds for p in result.points):.1f} |")
    print(f"\nwall time ratio sequential / parallel: {seq_wall / par_wall:.2f}")
    print(f"same (n, seed) pairs: {seq.keys() == par.keys()}; largest score difference: {diff:.4f}")
    for key in sorted(seq):
        print(f"  n={key[0]:>4} seed={key[1]}  sequential {seq[key]:.4f}  parallel {par.get(key, float('nan')):.4f}")


if __name__ == "__main__":
    main()
