"""Search benchmark on real recorded curves: pruning strategies side by side, many seeds, paired.

Every search samples with the same seeded multivariate TPE (`foretune.search.space.make_sampler`,
constant liar) over scan-bench's 10-epoch OpenCLIP runs (`../shared/data/learning-curves/scan-bench/
vlm.csv`, val_loss, lower is better), served by the replay bank: a sampled config replays the nearest
recorded run, evaluated at every 10% of its budget. Only the stopping strategy changes.

Two engines:

- `--engine inprocess` (default, for the statistics): the search loop runs in this process, trials two
  at a time in lockstep (each evaluation is one time unit, as with the replay trainer); pruned trials
  are told PRUNED, finished ones COMPLETE, exactly as `PrunedAwareOptunaSearch` does. foretune's evaluator is
  the same `EarlyStageEvaluator` + `EarlyStageRule` the Ray scheduler wraps; the baselines are Optuna's
  pruners (successive halving = ASHA, Hyperband, median) with the settings of the Ray baselines.
  About a second per search, so many seeds are affordable.
- `--engine ray`: the whole stack (`run_search`: Ray Tune trials, journal study, report), Ray's ASHA /
  async HyperBand / median stopping. One Ray session is shared by all searches; most of the ~1-2 min
  per search is Ray's per-trial actor start and bookkeeping, not the replay.

Per search: compute (sum over trials of the budget fraction reached / trials), regret (best final
val_loss among trials run to the end minus the best recorded run), best kept (the best run among the
configs this search sampled was run to the end). Regret is also paired per seed against no pruning.

    nice -n 19 .venv/bin/python benchmarks/search.py --seeds 0-19 --trials 40        # the report
    nice -n 19 .venv/bin/python benchmarks/search.py --seeds 100-119 --trials 40 --grid --out /tmp/tune.md  # tuning set
    nice -n 19 .venv/bin/python benchmarks/search.py --engine ray --seeds 0-1 --trials 30 --out /tmp/ray.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foretune.config import ExperimentConfig, validate_config  # noqa: E402
from foretune.keys import BUDGET_PCT_KEY  # noqa: E402
from foretune.trainers.replay import ReplayBank  # noqa: E402

VLM = REPO / ".." / "shared" / "data" / "learning-curves" / "scan-bench" / "vlm.csv"
SEARCHED = ["learning_rate", "weight_decay", "warmup_ratio", "batch_size"]
CONCURRENT = 2
FRACTION = 0.2
# The rule this benchmark argues for (see benchmarks/results/search.md): keep the top quarter of the
# trials judged so far by predicted final, i.e. one successive-halving rung with reduction factor 4
# (the default of Ray's ASHA and Optuna's SuccessiveHalvingPruner), judged on the prediction.
CHOSEN = {"rule": "quantile", "keep": 0.25, "use_upper_bound": False, "grace_trials": 3}


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str  # "none" | "foretune" | "asha" | "hyperband" | "median"
    early: dict = field(default_factory=dict)  # early_stage overrides (foretune only)


STRATEGIES = [
    Strategy("no pruning", "none"),
    Strategy("ASHA (rf 3, from 20%)", "asha"),
    Strategy("async HyperBand (rf 3, 3 brackets)", "hyperband"),
    Strategy("median stopping (from 20%)", "median"),
    Strategy(
        "foretune snapshot (old default: top 1/2 by optimistic end)",
        "foretune",
        {"predictor": "snapshot", "rule": "quantile", "keep": 0.5, "use_upper_bound": True, "grace_trials": 3},
    ),
    Strategy(
        "foretune auto (old default: top 1/2 by optimistic end)",
        "foretune",
        {"predictor": "auto", "rule": "quantile", "keep": 0.5, "use_upper_bound": True, "grace_trials": 3},
    ),
    Strategy("foretune snapshot (chosen rule: top 1/4 by mean)", "foretune", {"predictor": "snapshot", **CHOSEN}),
    Strategy("foretune auto (chosen rule: top 1/4 by mean)", "foretune", {"predictor": "auto", **CHOSEN}),
]


def grid_strategies() -> list[Strategy]:
    """The rule settings compared on the tuning seeds (never on the reported ones)."""
    out = [Strategy("no pruning", "none"), Strategy("ASHA (rf 3, from 20%)", "asha")]
    for predictor in ("snapshot", "auto"):
        for keep in (0.25, 1 / 3, 0.5):
            for upper in (False, True):
                for grace in (3, 6):
                    early = {
                        "predictor": predictor,
                        "rule": "quantile",
                        "keep": keep,
                        "use_upper_bound": upper,
                        "grace_trials": grace,
                    }
                    out.append(
                        Strategy(
                            f"{predictor} q{keep:.2f} {'optimistic' if upper else 'mean'} grace {grace}",
                            "foretune",
                            early,
                        )
                    )
        for k in (3, 5):
            early = {"predictor": predictor, "rule": "top_k", "keep": k, "use_upper_bound": True, "grace_trials": 3}
            out.append(Strategy(f"{predictor} top {k} optimistic grace 3", "foretune", early))
    return out


def config_for(bank: ReplayBank, *, seed: int, trials: int, early: dict) -> ExperimentConfig:
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(SEARCHED).items()}
    return validate_config(
        {
            "name": "bench",
            "search": {
                "metric": "val_loss",
                "mode": "min",
                "trials": trials,
                "seed": seed,
                "n_startup_trials": 5,
                "max_concurrent_trials": CONCURRENT,
                "space": space,
            },
            "early_stage": {"fraction": FRACTION, **early},
            "resources": {"cpus_per_trial": 1},
        }
    )


# --- in-process engine ----------------------------------------------------------------------------


class ForetunePruner:
    """foretune's evaluator behind the same two calls as an Optuna pruner (report, should stop)."""

    def __init__(self, config: ExperimentConfig) -> None:
        from foretune.search.evaluator import EarlyStageEvaluator
        from foretune.search.rule import EarlyStageRule
        from foretune.search.tuner import make_predictor_factory

        early = config.early_stage
        rule = EarlyStageRule(
            mode=config.search.mode,
            rule=early.rule,
            keep=early.keep,
            use_upper_bound=early.use_upper_bound,
            grace_trials=early.grace_trials,
        )
        self.evaluator = EarlyStageEvaluator(
            mode=config.search.mode,
            fraction=early.fraction,
            make_predictor=make_predictor_factory(config),
            rule=rule,
        )

    def add(self, key: str, params: dict) -> None:
        self.evaluator.add(key, params)

    def stop(self, key: str, fraction: float, value: float) -> bool:
        self.evaluator.observe(key, fraction, value)
        return self.evaluator.due(key, fraction) and not self.evaluator.judge(key, fraction)

    def finish(self, key: str) -> None:
        self.evaluator.finish(key)


def optuna_pruner(kind: str):
    import optuna

    if kind == "asha":  # rungs at 20% and 60%: Ray ASHA(grace_period=20, reduction_factor=3, max_t=100)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=20, reduction_factor=3)
    if kind == "hyperband":  # 3 brackets from 10%: Ray AsyncHyperBand(grace 10, rf 3, brackets 3)
        return optuna.pruners.HyperbandPruner(min_resource=10, max_resource=100, reduction_factor=3)
    if kind == "median":  # from 20%, once 3 trials have finished: Ray MedianStoppingRule(grace 20, min samples 3)
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=19)
    return optuna.pruners.NopPruner()


def search_inprocess(bank: ReplayBank, strategy: Strategy, *, seed: int, trials: int) -> dict:
    """One search, trials `CONCURRENT` at a time in lockstep; returns its records."""
    import optuna
    from optuna.trial import TrialState

    from foretune.search.space import make_sampler, to_distributions

    config = config_for(bank, seed=seed, trials=trials, early=strategy.early)
    fractions = [round(f, 9) for f in config.train.eval_fractions]
    # A fixed study name: Optuna's HyperbandPruner assigns brackets by hashing it with the trial number,
    # so a random name made that row differ from run to run.
    study = optuna.create_study(
        study_name=f"bench-{strategy.kind}-{seed}",
        direction="minimize",
        sampler=make_sampler(config.search),
        pruner=optuna_pruner(strategy.kind),
    )
    ours = ForetunePruner(config) if strategy.kind == "foretune" else None
    dists = to_distributions(config.search.space)
    running: list[list] = []  # [optuna trial, recorded run, index of the next evaluation]
    records = []  # (true final of the replayed run, fraction reached, completed)
    started = 0
    while started < trials or running:
        while len(running) < CONCURRENT and started < trials:
            trial = study.ask(dists)
            run = bank.nearest(trial.params)
            if ours:
                ours.add(str(trial.number), trial.params)
            running.append([trial, run, 0])
            started += 1
        for slot in list(running):  # every running trial makes one evaluation per time unit
            trial, run, i = slot
            fraction = fractions[i]
            value = run.at("val_loss", fraction)
            trial.report(value, int(round(fraction * 100)))
            if ours:
                stop = ours.stop(str(trial.number), fraction, value)
            else:
                stop = trial.should_prune()
            last = i == len(fractions) - 1
            if stop and not last:
                study.tell(trial, state=TrialState.PRUNED)
            elif last:
                study.tell(trial, value)
            else:
                slot[2] += 1
                continue
            if ours:
                ours.finish(str(trial.number))
            records.append((run.final("val_loss"), fraction, last))
            running.remove(slot)
    finals = np.array([r[0] for r in records])
    complete = np.array([r[2] for r in records])
    best = float(finals[complete].min()) if complete.any() else float("nan")
    return {
        "budget": float(np.mean([r[1] for r in records])),
        "pruned": int((~complete).sum()),
        "best": best,
        "best_kept": bool(complete.any() and best <= finals.min() + 1e-12),
    }


# --- Ray engine -------------------------------------------------------------------------------------


def ray_scheduler(kind: str):
    if kind == "foretune":
        return None  # run_search builds the early-stage scheduler from the config
    from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, MedianStoppingRule

    if kind == "asha":
        return lambda c: AsyncHyperBandScheduler(
            time_attr=BUDGET_PCT_KEY, max_t=100, grace_period=20, reduction_factor=3
        )
    if kind == "hyperband":  # Ray's synchronous HyperBand pauses and resumes; "stopped is stopped" here
        return lambda c: AsyncHyperBandScheduler(
            time_attr=BUDGET_PCT_KEY, max_t=100, grace_period=10, reduction_factor=3, brackets=3
        )
    if kind == "median":
        return lambda c: MedianStoppingRule(time_attr=BUDGET_PCT_KEY, grace_period=20, min_samples_required=3)
    return lambda c: FIFOScheduler()


def search_ray(bank: ReplayBank, strategy: Strategy, *, seed: int, trials: int, tmp: Path) -> dict:
    from foretune.search.driver import run_search

    config = config_for(bank, seed=seed, trials=trials, early=strategy.early)
    outcome = run_search(
        config,
        out=tmp / f"{seed}-{strategy.kind}-{time.time_ns()}",
        trainer_factory=bank.trainer_factory(),
        scheduler_factory=ray_scheduler(strategy.kind),
        progress=False,
    )
    table = outcome.report.table
    complete = (table["state"] == "COMPLETE").to_numpy()
    sampled = [bank.nearest({k: row[f"param.{k}"] for k in SEARCHED}) for _, row in table.iterrows()]
    finals = np.array([run.final("val_loss") for run in sampled])
    best = float(finals[complete].min()) if complete.any() else float("nan")
    return {
        "budget": float(table["fraction_reached"].astype(float).sum()) / len(table),
        "pruned": int((table["state"] == "PRUNED").sum()),
        "best": best,
        "best_kept": bool(complete.any() and best <= finals.min() + 1e-12),
    }


# --- runs and the report ----------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("inprocess", "ray"), default="inprocess")
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,3,5 (tune on others, e.g. 100-119)")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--grid", action="store_true", help="compare rule settings (use tuning seeds)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search.md")
    parser.add_argument("--only", nargs="*", help="run only these strategies (substring match)")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bank = ReplayBank.from_scan_bench(VLM)
    oracle = bank.best_final("val_loss", mode="min")
    strategies = grid_strategies() if args.grid else STRATEGIES
    strategies = [s for s in strategies if not args.only or s.kind == "none" or any(o in s.name for o in args.only)]
    seeds = parse_seeds(args.seeds)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.engine == "ray":
            from foretune.search.driver import start_ray

            start_ray(None, num_cpus=CONCURRENT)  # one Ray session for every search
        for seed in seeds:
            for strategy in strategies:
                started = time.time()
                if args.engine == "ray":
                    record = search_ray(bank, strategy, seed=seed, trials=args.trials, tmp=Path(tmp))
                else:
                    record = search_inprocess(bank, strategy, seed=seed, trials=args.trials)
                rows.append(
                    {
                        "strategy": strategy.name,
                        "seed": seed,
                        **record,
                        "regret": record["best"] - oracle,
                        "seconds": time.time() - started,
                    }
                )
                print(
                    f"{strategy.name:60s} seed {seed}: budget {record['budget']:.2f} "
                    f"regret {rows[-1]['regret']:.4f} kept {record['best_kept']} ({rows[-1]['seconds']:.1f} s)",
                    flush=True,
                )
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    write(frame, args, oracle, len(bank.runs), seeds)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard error over seeds; regret also paired per seed against no pruning."""
    base = frame[frame["strategy"] == "no pruning"].set_index("seed")
    out = []
    for name, group in frame.groupby("strategy", sort=False):
        g = group.set_index("seed")
        n = len(g)
        diff = g["regret"] - base["regret"].reindex(g.index)
        se = lambda s: float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else float("nan")  # noqa: E731
        out.append(
            {
                "strategy": name,
                "n": n,
                "budget": g["budget"].mean(),
                "budget_se": se(g["budget"]),
                "regret": g["regret"].mean(),
                "regret_se": se(g["regret"]),
                "diff": diff.mean(),
                "diff_se": se(diff),
                "worse": int((diff > 1e-12).sum()),
                "better": int((diff < -1e-12).sum()),
                "kept": g["best_kept"].mean(),
                "pruned": g["pruned"].mean(),
                "seconds": g["seconds"].mean(),
            }
        )
    return pd.DataFrame(out)


def table_lines(summary: pd.DataFrame) -> list[str]:
    lines = [
        "| strategy | compute | regret | regret − no pruning (paired) | seeds worse / better "
        "| best sampled run kept | pruned / search | s / search |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        lines.append(
            f"| {r.strategy} | {r.budget:.0%} ± {r.budget_se:.0%} | {r.regret:.4f} ± {r.regret_se:.4f} | "
            f"{r.diff:+.4f} ± {np.nan_to_num(r.diff_se):.4f} | {r.worse} / {r.better} | {r.kept:.0%} | "
            f"{r.pruned:.1f} | {r.seconds:.1f} |"
        )
    return lines


def write(frame: pd.DataFrame, args, oracle: float, n_runs: int, seeds: list[int]) -> None:
    summary = summarize(frame)
    engine = (
        "in-process loop (same TPE sampler, same foretune evaluator, Optuna's pruners as baselines)"
        if args.engine == "inprocess"
        else "the whole stack: `run_search` on Ray Tune, Ray's schedulers"
    )
    lines = [
        "# Search benchmark: pruning strategies on real recorded curves",
        "",
        f"Replay of scan-bench `vlm.csv` ({n_runs} OpenCLIP runs of 10 epochs, val_loss, lower is better; best "
        f"recorded final {oracle:.4f}). Space: {', '.join(SEARCHED)} over the recorded ranges; a sampled config "
        "replays the nearest recorded run. Seeded multivariate TPE with constant liar (5 start-up trials), "
        f"{args.trials} trials per search, {CONCURRENT} at a time, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); "
        f"engine: {engine}. Evaluations every 10% of the budget; foretune judges at {FRACTION:.0%}.",
        "",
        "- **compute**: budget spent / budget of running every trial to the end;",
        "- **regret**: best final val_loss among trials run to the end minus the best recorded run;",
        "- **paired**: per seed, this strategy's regret minus no pruning's (same seed, same sampler seed);",
        "- **best sampled run kept**: share of searches where the best of the configs sampled was run to the end;",
        "- cells: mean ± standard error over seeds.",
        "",
        *table_lines(summary),
        "",
        f"Machine: 2-core CPU VM, 24 GiB RAM, no GPU ({platform.python_implementation()} {platform.python_version()}),"
        " shared with other jobs (run under `nice -n 19`), so seconds are indicative only.",
        "",
        f"Reproduce: `nice -n 19 .venv/bin/python benchmarks/search.py --engine {args.engine} "
        f"--seeds {seeds[0]}-{seeds[-1]} --trials {args.trials}{' --grid' if args.grid else ''}` "
        "(per-search rows in the `.csv` next to the output).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(table_lines(summary)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
