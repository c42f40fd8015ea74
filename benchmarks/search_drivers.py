"""Several drivers on one study (README, "Several drivers on one study"): does each driver's verdict see the others?

A search of `--trials` trials is shared by `--drivers` drivers, `--slots` trials at a time each, in lockstep on
recorded curves (the replay bank of `search_sets.py`; each evaluation is one time unit), as `foretune search`
processes on one PostgreSQL study share it: each driver samples with its own seed (TPE reads every trial of the
study), asks a trial only while fewer than `--trials` are finished or running, and judges its own trials with its
own `EarlyStageEvaluator` (the default rule of `foretune search`). Three ways, paired per seed:

- `shared`: each evaluator also reads the trials the other drivers ended, from the study's storage
  (`storage.past_trials(study, other_than=tag)`, as `driver.run_trials` wires it), before each judgement;
- `own_only`: each evaluator knows only its own trials (foretune before round 17);
- `one_driver`: one driver with all the slots (the reference: one evaluator sees every trial).

Per search: compute, regret, best kept (`search_engines.outcome`), and per judgement the finished runs the
prediction was fitted on and whether a final was predicted at all (below 3 finished runs there is none).

    nice -n 10 .venv/bin/python benchmarks/search_drivers.py --curves benchmarks/data/lora_curves.csv --mode max \\
        --metric accuracy --params learning_rate lora.r lora.alpha warmup_ratio \\
        --scale learning_rate=log warmup_ratio=linear --out benchmarks/results/search_drivers_lora.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from search_engines import outcome, tell_if_ended
from search_sets import REPO, add_curve_set_arguments, config_for, load_set, parse_seeds

from foretune.keys import DRIVER_ATTR, EARLY_FINISHED_USED_ATTR, PREDICTED_FINAL_ATTR, REPEAT_OF_ATTR

WAYS = ("one_driver", "own_only", "shared")


def search_drivers(bank, *, way, drivers, slots, params, metric, mode, seed, trials) -> dict:
    """One search shared by `drivers` drivers (one with every slot for `one_driver`); its record."""
    import optuna

    from foretune.search.audit import AuditDraw
    from foretune.search.evaluator import EarlyStageEvaluator
    from foretune.search.rule import make_rule
    from foretune.search.space import make_sampler, to_distributions
    from foretune.search.storage import past_trials
    from foretune.search.tuner import make_predictor_factory

    if way == "one_driver":
        drivers, slots = 1, drivers * slots
    config = config_for(bank, params, metric=metric, mode=mode, seed=seed, trials=trials, early={})
    early, fractions = config.early_stage, [round(f, 9) for f in config.train.eval_fractions]
    storage = optuna.storages.InMemoryStorage()
    direction = "minimize" if mode == "min" else "maximize"
    optuna.create_study(study_name="shared", storage=storage, direction=direction)
    members = []
    for d in range(drivers):  # each driver's own sampler seed, as `drivers.seed_offset` gives drivers started together
        search = config.search.model_copy(update={"seed": config.search.seed + d * 100_003})
        study = optuna.load_study(study_name="shared", storage=storage, sampler=make_sampler(search))
        tag = f"driver-{d}"
        evaluator = EarlyStageEvaluator(
            mode=mode,
            fraction=early.fraction,
            make_predictor=make_predictor_factory(config),
            rule=make_rule(early, mode),
            audit=AuditDraw(early.audit_every, search.seed) if early.audit_every else None,
            peers=partial(past_trials, study, other_than=tag) if way == "shared" else None,
        )
        evaluator.earlier.refresh_s = 0.0  # lockstep time: read before every judgement
        members.append({"study": study, "tag": tag, "evaluator": evaluator, "running": []})
    dists = to_distributions(config.search.space)
    records, told, started = [], {}, 0
    while started < trials or any(m["running"] for m in members):
        for _ in range(slots):  # the drivers ask in turn, one trial each, while the target allows
            for m in members:
                if len(m["running"]) < slots and started < trials:
                    trial = m["study"].ask(dists)
                    trial.set_user_attr(DRIVER_ATTR, m["tag"])
                    m["evaluator"].add(str(trial.number), trial.params)
                    m["running"].append([trial, bank.nearest(trial.params), 0])
                    started += 1
        for m in members:
            evaluator = m["evaluator"]
            for slot in list(m["running"]):
                trial, run, i = slot
                key, fraction = str(trial.number), fractions[i]
                value = run.at(metric, fraction)
                trial.report(value, int(round(fraction * 100)))
                evaluator.observe(key, fraction, value)
                stop = evaluator.due(key, fraction) and not evaluator.judge(key, fraction)
                last = i == len(fractions) - 1
                original = evaluator.verdicts.get(key, {}).get(REPEAT_OF_ATTR)
                if not tell_if_ended(m["study"], trial, value, stop=stop, last=last, original=original, told=told):
                    slot[2] += 1
                    continue
                evaluator.finish(key)
                records.append((run.final(metric), fraction, last, False))
                m["running"].remove(slot)
    verdicts = [v for m in members for v in m["evaluator"].verdicts.values() if EARLY_FINISHED_USED_ATTR in v]
    used = [int(v[EARLY_FINISHED_USED_ATTR]) for v in verdicts]
    predicted = [PREDICTED_FINAL_ATTR in v for v in verdicts]
    return outcome(records, mode, []) | {
        "finished_used": float(np.mean(used)) if used else 0.0,
        "predicted_share": float(np.mean(predicted)) if predicted else 0.0,
    }


def write(frame: pd.DataFrame, args, described: str, metric: str, oracle: float) -> None:
    mean = frame.groupby("way", sort=False)[["compute", "regret", "best_kept", "finished_used", "predicted_share"]]
    table = mean.mean().reindex(WAYS)
    pivot = frame.pivot(index="seed", columns="way", values="regret")
    lines = [
        f"# Several drivers on one study: {args.curves.name}",
        "",
        f"{described}; objective `{metric}` ({'lower' if args.mode == 'min' else 'higher'} is better; best recorded "
        f"final {oracle:.4f}). {args.trials} trials per search shared by {args.drivers} drivers, {args.slots} at a "
        f"time each (`one_driver`: one driver, {args.drivers * args.slots} at a time), seeds {args.seeds} "
        f"({frame['seed'].nunique()}); the default rule of `foretune search` (`benchmarks/search_drivers.py`).",
        "",
        "| way | compute | regret | − shared (paired), seeds worse / better | best sampled run kept | finished runs "
        "a judgement fitted on (mean) | judgements with a predicted final |",
        "|---|---|---|---|---|---|---|",
    ]
    for way, row in table.iterrows():
        diff = pivot[way] - pivot["shared"]
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        worse, better = int((diff > 1e-12).sum()), int((diff < -1e-12).sum())
        lines.append(
            f"| {way} | {row['compute']:.0%} | {row['regret']:.4f} | {diff.mean():+.4f} ± {se:.4f}, {worse} / "
            f"{better} | {row['best_kept']:.0%} | {row['finished_used']:.1f} | {row['predicted_share']:.0%} |"
        )
    lines += [
        "",
        "Machine: 2-core AMD EPYC VM, 24 GiB RAM, no GPU (the figures are counts of replayed evaluations, not times).",
        "",
        f"Reproduce: `.venv/bin/python {' '.join(sys.argv)}` (one row per way and seed in the `.csv` beside this file).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_curve_set_arguments(parser, seeds="0-19")
    parser.add_argument("--drivers", type=int, default=4)
    parser.add_argument("--slots", type=int, default=2, help="trials at a time per driver")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "search_drivers.md")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        bank, described, metric, params = load_set(args, Path(tmp))
        oracle = bank.best_final(metric, mode=args.mode)
        rows = []
        for seed in parse_seeds(args.seeds):
            for way in WAYS:
                began = time.time()
                record = search_drivers(
                    bank, way=way, drivers=args.drivers, slots=args.slots, params=params, metric=metric,
                    mode=args.mode, seed=seed, trials=args.trials,
                )  # fmt: skip
                regret = (record["best"] - oracle) if args.mode == "min" else (oracle - record["best"])
                rows.append({"way": way, "seed": seed, "regret": regret} | record)
                print(f"{way:10s} seed {seed}: compute {record['compute']:.2f} regret {regret:.4f} kept "
                      f"{record['best_kept']} fitted on {record['finished_used']:.1f} ({time.time() - began:.1f} s)",
                      flush=True)  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    write(frame, args, described, metric, oracle)


if __name__ == "__main__":
    sys.exit(main())
