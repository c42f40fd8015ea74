"""Search benchmark on recorded curves: pruning strategies side by side, many seeds, paired.

Every search samples with the same seeded multivariate TPE (`foretune.search.space.make_sampler`,
constant liar) over a recorded curve set served by the replay bank: a sampled config replays the
nearest recorded run, evaluated at every 10% of its budget. Only the stopping strategy changes.
Curve sets: `search_sets.py`; engines (`--engine inprocess` for the statistics, `--engine ray` for the
whole stack on a few seeds): `search_engines.py`; the table: `search_report.py`.

Per search: compute (budget spent / budget of running every trial to the end), regret (best final among
trials run to the end, against the best recorded run, in the metric's units, >= 0), best kept (1 when the
best run among the configs this search sampled was run to the end). `OUT.csv` holds one row per strategy
and seed; `OUT.md` the table, paired per seed against no pruning and against ASHA.

    nice -n 10 .venv/bin/python benchmarks/search.py --curves ../shared/data/learning-curves/scan-bench/vlm.csv \\
        --mode min --seeds 0-19 --trials 40 --out benchmarks/results/search.md
    nice -n 10 .venv/bin/python benchmarks/search.py --grid rungs --seeds 100-119 --out /tmp/tune.md   # tuning seeds
    nice -n 10 .venv/bin/python benchmarks/search.py --timing 200 --out /tmp/timing.md          # s / judgement
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from search_engines import Strategy, search_inprocess, search_ray
from search_report import write
from search_sets import CONCURRENT, REPO, SCAN_BENCH, load_bank, parse_seeds

PROBABILITY = {"rule": "probability", "min_probability": 0.2, "fraction": 0.2}  # the early verdict of round 3
SAFE = PROBABILITY | {"conformal": True, "best_so_far": True, "spare_rising": True}
QUANTILE = {"rule": "quantile", "keep": 0.25, "use_upper_bound": False, "grace_trials": 3, "fraction": 0.2, "rungs": []}
RUNGS = {"rule": "quantile", "fraction": 0.1, "keep": 0.2, "rungs": [{"fraction": 0.3, "keep": 2}]}
RUNGS3 = RUNGS | {"rungs": [{"fraction": 0.3, "keep": 3}]}
UB = RUNGS3 | {"use_upper_bound": True}
LATER = {  # round 8: a later first cut
    "rule": "quantile",
    "fraction": 0.2,
    "keep": 0.2,
    "rungs": [{"fraction": 0.4, "keep": 3}],
    "stop_repeats": True,
}
STRICT3 = {"fraction": 0.3, "keep": 3, "use_upper_bound": False}  # a strict rung after an optimistic first cut
STRICT6 = {"fraction": 0.6, "keep": 2, "use_upper_bound": False}
LADDER = [{"fraction": 0.3, "keep": 3}, {"fraction": 0.5, "keep": 2}]
K3 = PROBABILITY | {
    "k": 3,
    "fraction": 0.1,
    "rank_cut": 0.2,
    "stop_from": 0.3,
    "best_so_far": True,
    "stop_repeats": True,
}
STRATEGIES = [
    Strategy("no_pruning", "none"),
    Strategy("asha", "asha"),
    Strategy("hyperband", "hyperband"),
    Strategy("median", "median"),
    Strategy("foretune", "foretune", {}),  # the default rule of `foretune search`
    Strategy("foretune_rungs", "foretune", RUNGS),  # round 5: then the top 2 at 30% (`early_stage.rungs`)
    Strategy("foretune_probability", "foretune", PROBABILITY),  # round 3's probability rule
    # round 6 candidates (chosen on seeds 0-9, reported on 10-19): `_rep` = `stop_repeats`, `_g1` = 1 grace trial
    Strategy("foretune_rep", "foretune", {"stop_repeats": True}),
    Strategy("foretune_rungs_rep", "foretune", RUNGS | {"stop_repeats": True}),
    Strategy("foretune_rungs3", "foretune", RUNGS3),
    Strategy("foretune_rungs3_rep", "foretune", RUNGS3 | {"stop_repeats": True}),
    Strategy("foretune_rungs3_g1_rep", "foretune", RUNGS3 | {"stop_repeats": True, "grace_trials": 1}),
    Strategy("foretune_k3_rep", "foretune", K3),  # the probability rule against the 3rd best final, after one cut
    # round 7 (a stopped repeat is now told COMPLETE with the final of the run it re-ran, as the product records it):
    # `_ub` = rank a trial by the optimistic end of its 80% interval against the others' predicted finals, so a trial
    # whose interval is wide (few finished runs, a curve unlike them) is kept and one whose interval is tight is cut
    Strategy("foretune_ub_rungs3_rep", "foretune", UB | {"stop_repeats": True}),
    Strategy("foretune_ub_r3_r5_rep", "foretune", UB | {"rungs": LADDER, "stop_repeats": True}),  # 3 at 30%, 2 at 50%
    Strategy("foretune_ub10_r3_r5_rep", "foretune", UB | {"keep": 0.1, "rungs": LADDER, "stop_repeats": True}),
    Strategy(
        "foretune_ub_rungs2_rep", "foretune", UB | {"rungs": [{"fraction": 0.3, "keep": 2}], "stop_repeats": True}
    ),
    Strategy("foretune_ub10_rungs3_rep", "foretune", UB | {"keep": 0.1, "stop_repeats": True}),
    Strategy(
        "foretune_ub10_rungs2_rep",
        "foretune",
        UB | {"keep": 0.1, "rungs": [{"fraction": 0.3, "keep": 2}]} | {"stop_repeats": True},
    ),
    # round 8 (search.md: design-seed screen, then seeds 0-19 of k3_ub, k1_ub, ub10_r3s, k2_ub; none passed the choice
    # rule). A later first cut (20%), then the top 3 at 40%:
    Strategy("foretune_f20_r40_rep", "foretune", LATER),
    Strategy("foretune_f20ub_r40_rep", "foretune", LATER | {"use_upper_bound": True}),
    # the optimistic end at 10% only, the predicted final at the later rung (`rungs[].use_upper_bound: false`)
    Strategy("foretune_ub1_r3_rep", "foretune", UB | {"rungs": [STRICT3], "stop_repeats": True}),
    Strategy("foretune_ub1_r3_r6_rep", "foretune", UB | {"rungs": [STRICT3, STRICT6], "stop_repeats": True}),
    Strategy("foretune_ub1_r5_rep", "foretune", UB | {"rungs": [STRICT3 | {"fraction": 0.5}], "stop_repeats": True}),
    # the probability rule (from 30%, against the k-th best final) after an optimistic rank cut at 10%; `ub10`: the
    # optimistic top tenth at 10%; `r2s` / `r3s`: the top 2 / 3 at 30% by predicted final
    Strategy("foretune_k3_ub_rep", "foretune", K3 | {"use_upper_bound": True}),
    Strategy("foretune_k3_ub10_rep", "foretune", K3 | {"use_upper_bound": True, "rank_cut": 0.1}),
    Strategy("foretune_k1_ub_rep", "foretune", K3 | {"use_upper_bound": True, "k": 1}),
    Strategy("foretune_k3_ub_p3_rep", "foretune", K3 | {"use_upper_bound": True, "min_probability": 0.3}),
    Strategy("foretune_ub10_r3s_rep", "foretune", UB | {"keep": 0.1, "rungs": [STRICT3], "stop_repeats": True}),
    Strategy("foretune_k2_ub_rep", "foretune", K3 | {"use_upper_bound": True, "k": 2}),
    Strategy("foretune_ub_r2s_rep", "foretune", UB | {"rungs": [STRICT3 | {"keep": 2}], "stop_repeats": True}),
    Strategy(
        "foretune_ub10_r2s_rep", "foretune", UB | {"keep": 0.1, "rungs": [STRICT3 | {"keep": 2}], "stop_repeats": True}
    ),
    # round 9 (search.md: the frontier): the rules cheapest on the design seeds' frontier that kept the best run in
    # >= 90% of them on every set (`search_frontier.py`): the top 30% at 10% then the top 4 at 30% by predicted
    # final; one cut at 20% keeping the top 16%
    Strategy(
        "foretune_q30_r3t4_rep",
        "foretune",
        RUNGS | {"keep": 0.3, "rungs": [{"fraction": 0.3, "keep": 4}]} | {"stop_repeats": True},
    ),
    Strategy("foretune_f20_q16_rep", "foretune", {"fraction": 0.2, "keep": 0.16, "stop_repeats": True}),
    # round 16: the default rule with one in k stop verdicts overridden and run to the end (`early_stage.audit_every`)
    Strategy("foretune_audit3", "foretune", {"audit_every": 3}),
    Strategy("foretune_audit5", "foretune", {"audit_every": 5}),
    # round 35: the default job's rule (configs/default.yaml, its audit aside): one cut at 20%, the top quarter, 2 grace
    Strategy("foretune_job", "foretune", {"rule": "quantile", "fraction": 0.2, "keep": 0.25, "grace_trials": 2}),
]


def grid_strategies() -> list[Strategy]:
    """Probability-rule settings compared on the design sets (tuning seeds), never on the reported ones:
    each threshold with each combination of the safety nets (names: p0.3_conformal_best, ...)."""
    out = [
        Strategy("no_pruning", "none"),
        Strategy("asha", "asha"),
        Strategy("foretune_quantile", "foretune", QUANTILE),
    ]
    nets = {"conformal": "conformal", "spare_rising": "rising", "best_so_far": "best"}
    for p in (0.2, 0.3, 0.4):
        for chosen in itertools.product((False, True), repeat=len(nets)):
            early = {**PROBABILITY, "min_probability": p, **dict(zip(nets, chosen, strict=True))}
            name = f"p{p:g}" + "".join(f"_{short}" for short, on in zip(nets.values(), chosen, strict=True) if on)
            out.append(Strategy(name, "foretune", early))
    for keep in (0.2, 0.25, 1 / 3):  # the rank rule judged once at 10% instead of 20%
        out.append(
            Strategy(f"q0.1_keep{keep:.2g}", "foretune", {**QUANTILE, "fraction": 0.1, "keep": keep, "rungs": []})
        )
    for p in (0.05, 0.1, 0.2):  # Student-t plausible finals (heavier tails with few finished runs)
        early = {**PROBABILITY, "min_probability": p, "best_so_far": True}
        out.append(Strategy(f"p{p:g}_student_best", "foretune", early, shape="student"))
    out.append(Strategy("p0.1_best", "foretune", {**PROBABILITY, "min_probability": 0.1, "best_so_far": True}))
    for fraction, cut in ((0.1, 0.25), (0.2, 0.25), (0.1, 1 / 3)):  # a rank cut first, the probability from 30% on
        for p, nets in ((0.1, ("best_so_far",)), (0.2, ("best_so_far",)), (0.2, ("best_so_far", "conformal"))):
            early = {**PROBABILITY, "fraction": fraction, "rank_cut": cut, "stop_from": 0.3, "min_probability": p}
            name = f"cut{fraction:g}_{cut:.2g}_p{p:g}" + ("_conformal" if "conformal" in nets else "")
            out.append(Strategy(name, "foretune", early | dict.fromkeys(nets, True)))
    return out


def rung_strategies() -> list[Strategy]:
    """Multi-rung rank cuts on predicted finals (`early_stage.rungs`), compared on the design sets (round 5);
    names: `rF_K-F_K...` (each rung's budget fraction and kept share), `_g2` = 2 grace trials."""
    out = [Strategy("no_pruning", "none"), Strategy("asha", "asha"), STRATEGIES[4]]
    ladders = [  # (fraction, keep): keep <= 1 a share, > 1 the top `keep` of the trials that reached the rung
        ((0.1, 0.2), (0.3, 1 / 3)),
        ((0.1, 0.2), (0.3, 3)),
        ((0.1, 0.33), (0.3, 3)),
        ((0.1, 0.2), (0.3, 2)),
        ((0.1, 0.25), (0.3, 2)),
        ((0.1, 0.33), (0.3, 2)),
        ((0.1, 0.2), (0.2, 3), (0.4, 2)),
    ]
    for ladder in ladders:
        (fraction, keep), *later = ladder
        early = {"rule": "quantile", "fraction": fraction, "keep": keep}
        early["rungs"] = [{"fraction": f, "keep": k} for f, k in later]
        name = "r" + "-".join(f"{f:g}_" + (f"top{k:g}" if k > 1 else f"{k:.2g}") for f, k in ladder)
        out.append(Strategy(name, "foretune", early))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curves", type=Path, default=SCAN_BENCH / "vlm.csv", help="curve file (see above)")
    parser.add_argument("--mode", choices=("min", "max"), default="min")
    parser.add_argument("--metric", help="the objective column (default: val_loss, valid_loss for llm.csv)")
    parser.add_argument("--params", nargs="*", help="searched hyperparameters (default: every one recorded)")
    parser.add_argument("--scale", nargs="*", default=[], help="a long table's NAME=log|linear|categorical")
    parser.add_argument("--half", choices=("all", "even", "odd"), default="all", help="a long table's trial ids")
    parser.add_argument("--engine", choices=("inprocess", "ray"), default="inprocess")
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,3,5 (tune on others, e.g. 100-119)")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument(
        "--grid",
        nargs="?",
        const="probability",
        choices=("probability", "rungs"),
        help="compare probability-rule settings, or multi-rung rank cuts (on the tuning seeds only)",
    )
    parser.add_argument("--only", nargs="*", help="run only these strategies (and no_pruning, asha)")
    parser.add_argument("--timing", type=int, metavar="TRIALS", help="time the default rule's judgements instead")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search.md")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        scales = dict(item.split("=", 1) for item in args.scale)
        bank, described = load_bank(args.curves, Path(tmp), scales, args.half)
        metric = args.metric or ("valid_loss" if "valid_loss" in bank.reported_metrics else "val_loss")
        params = args.params or list(bank.scales)
        if args.timing:
            return timing(bank, args, metric, params, described)
        oracle = bank.best_final(metric, mode=args.mode)
        grids = {"probability": grid_strategies, "rungs": rung_strategies}
        strategies = grids[args.grid]() if args.grid else STRATEGIES
        keep = {"no_pruning", "asha"}
        strategies = [s for s in strategies if not args.only or s.name in keep or s.name in args.only]
        seeds = parse_seeds(args.seeds)
        if args.engine == "ray":
            from foretune.search.driver import start_ray

            start_ray(None, num_cpus=CONCURRENT)  # one Ray session for every search
        rows = [run_one(bank, s, seed, args, metric, params, oracle, Path(tmp)) for seed in seeds for s in strategies]
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    write(frame, args, described, metric, params, oracle, seeds, strategies)


def run_one(bank, strategy: Strategy, seed: int, args, metric, params, oracle: float, tmp: Path) -> dict:
    """One search of one strategy; its row of `OUT.csv`."""
    started = time.time()
    common = {"params": params, "metric": metric, "mode": args.mode, "seed": seed, "trials": args.trials}
    if args.engine == "ray":
        record = search_ray(bank, strategy, tmp=tmp, **common)
    else:
        record = search_inprocess(bank, strategy, **common)
    regret = (record["best"] - oracle) if args.mode == "min" else (oracle - record["best"])
    row = {"strategy": strategy.name, "seed": seed, "compute": record["compute"], "regret": regret}
    row |= {k: v for k, v in record.items() if k not in ("compute", "best")} | {"seconds": time.time() - started}
    print(f"{strategy.name:32s} seed {seed}: compute {record['compute']:.2f} regret {regret:.4f} "
          f"kept {record['best_kept']} ({row['seconds']:.1f} s)", flush=True)  # fmt: skip
    return row


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
            f"judgements, mean {per * 1000:.1f} ms, p95 {record['judge_p95_s'] * 1000:.0f} ms, max "
            f"{record['judge_max_s'] * 1000:.0f} ms per judgement (compute {record['compute']:.0%}); p95 "
            f"{record['finish_p95_s'] * 1000:.0f} ms per finished trial (refit and warm-up of the predictor)."
        )
        print(lines[-1], flush=True)
    with args.out.open("a") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
