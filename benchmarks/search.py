"""Search benchmark on recorded curves: pruning strategies side by side, many seeds, paired.

Every search samples with the same seeded multivariate TPE (`foretune.search.space.make_sampler`,
constant liar) over a recorded curve set served by the replay bank: a sampled config replays the
nearest recorded run, evaluated at every 10% of its budget. Only the stopping strategy changes.

Curve sets (`--curves`): scan-bench's `vlm.csv` (its 10-epoch runs), scan-bench's `llm.csv` (the runs
with 8 or more checkpoints, first one by 15% of the budget), or any long table in the format
`foretune rank` reads (`trial, fraction, <metrics>, <hyperparameters>`).

Two engines:

- `--engine inprocess` (default, for the statistics): the search loop runs in this process, trials two
  at a time in lockstep (each evaluation is one time unit); pruned trials are told PRUNED, finished ones
  COMPLETE, as `PrunedAwareOptunaSearch` does. foretune's strategies are the same `EarlyStageEvaluator`
  and rules the Ray scheduler wraps; the baselines are Optuna's pruners (successive halving = ASHA,
  Hyperband, median) with the settings of the Ray baselines.
- `--engine ray`: the whole stack (`run_search`: Ray Tune trials, journal study, report), Ray's ASHA /
  async HyperBand / median stopping; ~1-2 min per search, for a few seeds only.

Per search: compute (budget spent / budget of running every trial to the end), regret (best final among
trials run to the end, against the best recorded run, in the metric's units, >= 0), best kept (1 when the
best run among the configs this search sampled was run to the end). `OUT.csv` holds one row per strategy
and seed; `OUT.md` the table, paired per seed against no pruning and against ASHA.

    nice -n 10 .venv/bin/python benchmarks/search.py --curves ../shared/data/learning-curves/scan-bench/vlm.csv \\
        --mode min --seeds 0-19 --trials 40 --out benchmarks/results/search.md
    nice -n 10 .venv/bin/python benchmarks/search.py --grid --seeds 100-109 --out /tmp/tune.md   # tuning seeds
    nice -n 10 .venv/bin/python benchmarks/search.py --timing 200 --out /tmp/timing.md          # s / judgement
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

from foretune.config import EarlyStageConfig, ExperimentConfig, validate_config  # noqa: E402
from foretune.keys import BUDGET_PCT_KEY  # noqa: E402
from foretune.trainers.replay import ReplayBank  # noqa: E402

SCAN_BENCH = REPO / ".." / "shared" / "data" / "learning-curves" / "scan-bench"
LLM_PARAMS = ["lr", "weight_decay"]  # the two that are `train` fields (a search space may only name those)
CONCURRENT = 2
DEFAULT = EarlyStageConfig()  # the rule `foretune search` uses when the config says nothing


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str  # "none" | "foretune" | "asha" | "hyperband" | "median"
    early: dict = field(default_factory=dict)  # early_stage overrides (foretune only)
    shape: str = "student"  # the probability rule's distribution (calibration.probability_better)


QUANTILE = {"rule": "quantile", "keep": 0.25, "use_upper_bound": False, "grace_trials": 3}  # = the default
STRATEGIES = [
    Strategy("no_pruning", "none"),
    Strategy("asha", "asha"),
    Strategy("hyperband", "hyperband"),
    Strategy("median", "median"),
    Strategy("foretune", "foretune", {}),  # the default rule of `foretune search` (quantile, QUANTILE)
    Strategy("foretune_probability", "foretune", {"rule": "probability", "min_probability": 0.2}),
    Strategy("foretune_p0.1", "foretune", {"rule": "probability", "min_probability": 0.1}),
    Strategy("foretune_p0.05", "foretune", {"rule": "probability", "min_probability": 0.05}),
]


def grid_strategies() -> list[Strategy]:
    """Probability-rule settings compared on tuning seeds (never on the reported ones)."""
    out = [Strategy("no_pruning", "none"), Strategy("asha", "asha"), STRATEGIES[4]]
    for predictor in ("auto", "snapshot"):
        for p in (0.05, 0.1, 0.2):
            for shape in ("student", "kde"):
                early = {"rule": "probability", "predictor": predictor, "fraction": 0.1, "min_probability": p}
                out.append(Strategy(f"{predictor}_p{p:g}_{shape}", "foretune", early, shape))
    for p in (0.05, 0.1):  # judged from 20% instead of 10%, and against the 3rd best final
        early = {"rule": "probability", "predictor": "auto", "fraction": 0.2, "min_probability": p}
        out.append(Strategy(f"auto_f0.2_p{p:g}_kde", "foretune", early, "kde"))
        out.append(Strategy(f"auto_k3_p{p:g}_kde", "foretune", {**early, "fraction": 0.1, "k": 3}, "kde"))
    for p in (0.1, 0.2):  # the early verdict at 20%, stops from 10% (the default) or from 20%
        for start in (0.1, 0.2):
            early = {"rule": "probability", "min_probability": p, "stop_from": start}
            out.append(Strategy(f"from{start:g}_p{p:g}", "foretune", early))
    return out


# --- curve sets --------------------------------------------------------------------------------------


def load_bank(path: Path, tmp: Path, scales: dict | None = None) -> tuple[ReplayBank, str]:
    """The replay bank of a curve file and a line describing it."""
    columns = set(pd.read_csv(path, nrows=0).columns) if path.suffix == ".csv" else set()
    if {"config_id", "training_progress"} <= columns:
        bank = ReplayBank.from_scan_bench(path)
        return bank, f"scan-bench `vlm.csv`: {len(bank.runs)} OpenCLIP runs of 10 epochs"
    if {"config_id", "step_fraction", "valid_loss"} <= columns:
        long = tmp / "llm_long.csv"
        llm_long_table(path).to_csv(long, index=False)
        bank = ReplayBank.from_long_table(long)
        return bank, (
            f"scan-bench `llm.csv`: {len(bank.runs)} LM pretraining runs with >= 8 checkpoints (first by 15% of the "
            "budget; values between checkpoints interpolated, before the first one held at it)"
        )
    bank = ReplayBank.from_long_table(path, scales=scales)
    return bank, f"`{path.name}`: {len(bank.runs)} recorded runs (long table)"


def llm_long_table(path: Path) -> pd.DataFrame:
    """scan-bench's llm.csv as a long table: the runs with enough checkpoints to be judged early."""
    frame = pd.read_csv(path, usecols=["config_id", "step_fraction", "valid_loss", *LLM_PARAMS])
    frame = frame.dropna(subset=["step_fraction", "valid_loss"])
    grouped = frame.groupby("config_id")["step_fraction"]
    enough = (grouped.transform("size") >= 8) & (grouped.transform("min") <= 0.15)
    frame = frame[enough].rename(columns={"config_id": "trial", "step_fraction": "fraction", "lr": "learning_rate"})
    return frame.sort_values(["trial", "fraction"])


def config_for(bank: ReplayBank, params, *, metric, mode, seed, trials, early) -> ExperimentConfig:
    space = {k: v.model_dump(exclude_none=True) for k, v in bank.space(params).items()}
    search = {"metric": metric, "mode": mode, "trials": trials, "seed": seed, "n_startup_trials": 5}
    search |= {"max_concurrent_trials": CONCURRENT, "space": space}
    return validate_config(
        {"name": "bench", "search": search, "early_stage": early, "resources": {"cpus_per_trial": 1}}
    )


# --- in-process engine ----------------------------------------------------------------------------


class ForetunePruner:
    """foretune's evaluator behind the same calls as an Optuna pruner; times each judgement."""

    def __init__(self, config: ExperimentConfig, shape: str) -> None:
        from foretune.search.evaluator import EarlyStageEvaluator
        from foretune.search.rule import ProbabilityRule, make_rule
        from foretune.search.tuner import make_predictor_factory

        rule = make_rule(config.early_stage, config.search.mode)
        if isinstance(rule, ProbabilityRule):
            rule.shape = shape
        self.evaluator = EarlyStageEvaluator(
            mode=config.search.mode,
            fraction=config.early_stage.fraction,
            make_predictor=make_predictor_factory(config),
            rule=rule,
        )
        self.seconds: list[float] = []

    def stop(self, key: str, fraction: float, value: float) -> bool:
        self.evaluator.observe(key, fraction, value)
        if not self.evaluator.due(key, fraction):
            return False
        started = time.perf_counter()
        keep = self.evaluator.judge(key, fraction)
        self.seconds.append(time.perf_counter() - started)
        return not keep


def optuna_pruner(kind: str):
    import optuna

    if kind == "asha":  # rungs at 20% and 60%: Ray ASHA(grace_period=20, reduction_factor=3, max_t=100)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=20, reduction_factor=3)
    if kind == "hyperband":  # 3 brackets from 10%: Ray AsyncHyperBand(grace 10, rf 3, brackets 3)
        return optuna.pruners.HyperbandPruner(min_resource=10, max_resource=100, reduction_factor=3)
    if kind == "median":  # from 20%, once 3 trials have finished: Ray MedianStoppingRule(grace 20, min samples 3)
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=19)
    return optuna.pruners.NopPruner()


def search_inprocess(bank, strategy: Strategy, *, params, metric, mode, seed, trials) -> dict:
    """One search, trials `CONCURRENT` at a time in lockstep; returns its record."""
    import optuna
    from optuna.trial import TrialState

    from foretune.search.space import make_sampler, to_distributions

    config = config_for(bank, params, metric=metric, mode=mode, seed=seed, trials=trials, early=strategy.early)
    fractions = [round(f, 9) for f in config.train.eval_fractions]
    # A fixed study name: HyperbandPruner assigns brackets by hashing it with the trial number.
    study = optuna.create_study(
        study_name=f"bench-{strategy.kind}-{seed}",
        direction="minimize" if mode == "min" else "maximize",
        sampler=make_sampler(config.search),
        pruner=optuna_pruner(strategy.kind),
    )
    ours = ForetunePruner(config, strategy.shape) if strategy.kind == "foretune" else None
    dists = to_distributions(config.search.space)
    running: list[list] = []  # [optuna trial, recorded run, index of the next evaluation]
    records = []  # (true final of the replayed run, fraction reached, completed, replays a run already finished)
    finished: set[str] = set()  # recorded runs some trial of this search already ran to the end
    started = 0
    while started < trials or running:
        while len(running) < CONCURRENT and started < trials:
            trial = study.ask(dists)
            run = bank.nearest(trial.params)
            if ours:
                ours.evaluator.add(str(trial.number), trial.params)
            running.append([trial, run, 0])
            started += 1
        for slot in list(running):  # every running trial makes one evaluation per time unit
            trial, run, i = slot
            fraction = fractions[i]
            value = run.at(metric, fraction)
            trial.report(value, int(round(fraction * 100)))
            stop = ours.stop(str(trial.number), fraction, value) if ours else trial.should_prune()
            last = i == len(fractions) - 1
            if stop and not last:
                study.tell(trial, state=TrialState.PRUNED)
            elif last:
                study.tell(trial, value)
            else:
                slot[2] += 1
                continue
            if ours:
                ours.evaluator.finish(str(trial.number))
            records.append((run.final(metric), fraction, last, run.run_id in finished))
            finished |= {run.run_id} if last else set()
            running.remove(slot)
    return outcome(records, mode, ours.seconds if ours else [])


def outcome(records, mode: str, seconds: list[float]) -> dict:
    finals = np.array([r[0] for r in records])
    complete = np.array([r[2] for r in records])
    pick = np.min if mode == "min" else np.max
    best = float(pick(finals[complete])) if complete.any() else float("nan")
    return {
        "compute": float(np.mean([r[1] for r in records])),
        "best": best,
        "best_kept": int(bool(complete.any() and abs(best - float(pick(finals))) <= 1e-12)),
        "pruned": int((~complete).sum()),
        # budget spent replaying a recorded run that an earlier trial had already run to the end (a repeat)
        "repeat_compute": float(np.sum([r[1] for r in records if r[3]]) / len(records)),
        "judgements": len(seconds),
        "judge_s": float(np.sum(seconds)),
        "judge_max_s": float(np.max(seconds)) if seconds else 0.0,
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


def search_ray(bank, strategy: Strategy, *, params, metric, mode, seed, trials, tmp: Path) -> dict:
    from foretune.search.driver import run_search

    config = config_for(bank, params, metric=metric, mode=mode, seed=seed, trials=trials, early=strategy.early)
    result = run_search(
        config,
        out=tmp / f"{seed}-{strategy.name}-{time.time_ns()}",
        trainer_factory=bank.trainer_factory(),
        scheduler_factory=ray_scheduler(strategy.kind),
        progress=False,
    )
    table = result.report.table
    records = []
    for _, row in table.iterrows():
        run = bank.nearest({k: row[f"param.{k}"] for k in params})
        records.append((run.final(metric), float(row["fraction_reached"]), row["state"] == "COMPLETE", False))
    return outcome(records, mode, [])


# --- runs and the report ----------------------------------------------------------------------------


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=Path, default=SCAN_BENCH / "vlm.csv", help="curve file (see above)")
    parser.add_argument("--mode", choices=("min", "max"), default="min")
    parser.add_argument("--metric", help="the objective column (default: val_loss, valid_loss for llm.csv)")
    parser.add_argument("--params", nargs="*", help="searched hyperparameters (default: every one recorded)")
    parser.add_argument("--scale", nargs="*", default=[], help="a long table's NAME=log|linear|categorical")
    parser.add_argument("--engine", choices=("inprocess", "ray"), default="inprocess")
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,3,5 (tune on others, e.g. 100-119)")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--grid", action="store_true", help="compare probability-rule settings (tuning seeds)")
    parser.add_argument("--only", nargs="*", help="run only these strategies (and no_pruning, asha)")
    parser.add_argument("--timing", type=int, metavar="TRIALS", help="time the default rule's judgements instead")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search.md")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        scales = dict(item.split("=", 1) for item in args.scale)
        bank, described = load_bank(args.curves, Path(tmp), scales)
        metric = args.metric or ("valid_loss" if "valid_loss" in bank.reported_metrics else "val_loss")
        params = args.params or list(bank.scales)
        if args.timing:
            return timing(bank, args, metric, params, described)
        oracle = bank.best_final(metric, mode=args.mode)
        strategies = grid_strategies() if args.grid else STRATEGIES
        keep = {"no_pruning", "asha"}
        strategies = [s for s in strategies if not args.only or s.name in keep or s.name in args.only]
        seeds = parse_seeds(args.seeds)
        if args.engine == "ray":
            from foretune.search.driver import start_ray

            start_ray(None, num_cpus=CONCURRENT)  # one Ray session for every search
        rows = []
        for seed in seeds:
            for strategy in strategies:
                started = time.time()
                common = {"params": params, "metric": metric, "mode": args.mode, "seed": seed, "trials": args.trials}
                if args.engine == "ray":
                    record = search_ray(bank, strategy, tmp=Path(tmp), **common)
                else:
                    record = search_inprocess(bank, strategy, **common)
                regret = (record["best"] - oracle) if args.mode == "min" else (oracle - record["best"])
                rows.append({"strategy": strategy.name, "seed": seed, "compute": record["compute"], "regret": regret,
                             **{k: v for k, v in record.items() if k not in ("compute", "best")},
                             "seconds": time.time() - started})  # fmt: skip
                print(f"{strategy.name:32s} seed {seed}: compute {record['compute']:.2f} regret {regret:.4f} "
                      f"kept {record['best_kept']} ({rows[-1]['seconds']:.1f} s)", flush=True)  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    write(frame, args, described, metric, params, oracle, seeds)


def timing(bank, args, metric, params, described) -> None:
    """One search of `args.timing` trials per strategy (`--only`, default: foretune): time per judgement."""
    lines = []
    for strategy in [s for s in STRATEGIES if s.name in (args.only or ["foretune"])]:
        record = search_inprocess(
            bank, strategy, params=params, metric=metric, mode=args.mode, seed=0, trials=args.timing
        )
        per = record["judge_s"] / max(record["judgements"], 1)
        lines.append(
            f"- `{strategy.name}`: one search of {args.timing} trials on {described}: {record['judgements']} "
            f"judgements, mean {per * 1000:.1f} ms, max {record['judge_max_s'] * 1000:.0f} ms per judgement "
            f"(compute {record['compute']:.0%})."
        )
        print(lines[-1], flush=True)
    with args.out.open("a") as out:
        out.write("\n".join(lines) + "\n")


def _se(values: pd.Series) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard error over seeds; regret paired per seed against no pruning and against ASHA."""
    base = frame[frame["strategy"] == "no_pruning"].set_index("seed")["regret"]
    asha = frame[frame["strategy"] == "asha"].set_index("seed")["regret"]
    out = []
    for name, group in frame.groupby("strategy", sort=False):
        g = group.set_index("seed")
        diff = g["regret"] - base.reindex(g.index)
        vs_asha = g["regret"] - asha.reindex(g.index)
        judged = g["judgements"].sum()
        out.append(
            {
                "strategy": name,
                "compute": g["compute"].mean(),
                "compute_se": _se(g["compute"]),
                "regret": g["regret"].mean(),
                "regret_se": _se(g["regret"]),
                "diff": diff.mean(),
                "diff_se": _se(diff),
                "worse": int((diff > 1e-12).sum()),
                "better": int((diff < -1e-12).sum()),
                "asha": vs_asha.mean(),
                "asha_se": _se(vs_asha),
                "kept": g["best_kept"].mean(),
                "pruned": g["pruned"].mean(),
                "repeat": g["repeat_compute"].mean(),
                "ms": 1000 * g["judge_s"].sum() / judged if judged else float("nan"),
                "seconds": g["seconds"].mean(),
            }  # fmt: skip
        )
    return pd.DataFrame(out)


def table_lines(summary: pd.DataFrame) -> list[str]:
    lines = [
        "| strategy | compute | regret | − no pruning (paired) | seeds worse / better | − ASHA (paired) "
        "| best sampled run kept | pruned / search | compute on repeats | ms / judgement | s / search |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.itertuples():
        ms = "" if np.isnan(r.ms) else f"{r.ms:.1f}"
        lines.append(
            f"| {r.strategy} | {r.compute:.0%} ± {r.compute_se:.0%} | {r.regret:.4f} ± {r.regret_se:.4f} | "
            f"{r.diff:+.4f} ± {np.nan_to_num(r.diff_se):.4f} | {r.worse} / {r.better} | "
            f"{r.asha:+.4f} ± {np.nan_to_num(r.asha_se):.4f} | {r.kept:.0%} | {r.pruned:.1f} | {r.repeat:.0%} | {ms} | {r.seconds:.1f} |"
        )
    return lines


def write(frame: pd.DataFrame, args, described: str, metric: str, params, oracle: float, seeds: list[int]) -> None:
    summary = summarize(frame)
    direction = "lower" if args.mode == "min" else "higher"
    engine = "in-process loop (Optuna's pruners as baselines)" if args.engine == "inprocess" else "Ray Tune stack"
    rule = f"`{DEFAULT.rule}`, predictor {DEFAULT.predictor}, grace {DEFAULT.grace_trials}, " + (
        f"k={DEFAULT.k}, min_probability={DEFAULT.min_probability}, judged from {DEFAULT.stop_from:.0%}"
        if DEFAULT.rule == "probability"
        else f"keep={DEFAULT.keep} judged at {DEFAULT.fraction:.0%}"
    )
    rule += "; `foretune_probability`: the probability rule (k=1, min_probability=0.2, from 10%, kde)"
    lines = [
        f"# Search benchmark: {args.curves.name}",
        "",
        f"Replay of {described}; objective `{metric}` ({direction} is better; best recorded final {oracle:.4f}). "
        f"Space: {', '.join(params)} over the recorded ranges; a sampled config replays the nearest recorded run. "
        f"Seeded multivariate TPE with constant liar (5 start-up trials), {args.trials} trials per search, "
        f"{CONCURRENT} at a time, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); engine: {engine}; evaluations every "
        f"10% of the budget. `foretune` = the default rule of `foretune search`: {rule}.",
        "",
        "Cells: mean ± standard error over seeds; regret in the metric's units (>= 0); paired columns: per seed, "
        "this strategy's regret minus that of no pruning / ASHA on the same seed.",
        "",
        *table_lines(summary),
        "",
        f"Machine: 2-core AMD EPYC VM, 24 GiB RAM, no GPU ({platform.python_implementation()} "
        f"{platform.python_version()}), shared with 5 other jobs (run under `nice -n 10`): seconds are indicative.",
        "",
        f"Reproduce: `nice -n 10 .venv/bin/python benchmarks/search.py {' '.join(sys.argv[1:])}` (one row per "
        "strategy and seed in the `.csv` beside this file).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(table_lines(summary)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
