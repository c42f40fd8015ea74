"""The two engines of the search benchmark (`benchmarks/search.py`): one search per call, one record out.

- `search_inprocess` (for the statistics): the search loop runs in this process, trials `CONCURRENT` at a time in
  lockstep (each evaluation is one time unit); pruned trials are told PRUNED, finished ones COMPLETE, a stopped
  repeat (`stop_repeats`) COMPLETE with the final of the run it re-ran, as `PrunedAwareOptunaSearch` does.
  foretune's strategies are the same `EarlyStageEvaluator` and rules the Ray scheduler wraps, fed every metric a
  replayed run reports as the scheduler feeds them; the baselines are Optuna's pruners (successive halving = ASHA,
  Hyperband, median) with the settings of the Ray baselines.
- `search_ray`: the whole stack (`run_search`: Ray Tune trials, journal study, report), Ray's ASHA / async
  HyperBand / median stopping; ~1-2 min per search, for a few seeds only.

A record: compute (budget spent / budget of running every trial to the end), best (best final among trials run
to the end), best_kept (1 when the best run among the configs this search sampled was run to the end), pruned,
repeat_compute, and the evaluator's time per judgement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from search_sets import CONCURRENT, config_for

from foretune.config import ExperimentConfig
from foretune.keys import BUDGET_PCT_KEY, REPEAT_OF_ATTR


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str  # "none" | "foretune" | "asha" | "hyperband" | "median"
    early: dict = field(default_factory=dict)  # early_stage overrides (foretune only)
    shape: str | None = None  # override of the probability rule's distribution (calibration.probability_better)


class ForetunePruner:
    """foretune's evaluator behind the same calls as an Optuna pruner; times each judgement."""

    def __init__(self, config: ExperimentConfig, shape: str | None) -> None:
        from foretune.search.audit import AuditDraw
        from foretune.search.evaluator import EarlyStageEvaluator
        from foretune.search.rule import ProbabilityRule, make_rule
        from foretune.search.tuner import make_predictor_factory

        rule = make_rule(config.early_stage, config.search.mode)
        if isinstance(rule, ProbabilityRule) and shape is not None:
            rule.shape = shape
        every = config.early_stage.audit_every
        self.evaluator = EarlyStageEvaluator(
            mode=config.search.mode,
            fraction=config.early_stage.fraction,
            make_predictor=make_predictor_factory(config),
            rule=rule,
            audit=AuditDraw(every, config.search.seed) if every else None,  # as `tuner.build_scheduler` draws
        )
        self.seconds: list[float] = []
        self.finish_seconds: list[float] = []  # a finished run may refit the predictor (`evaluator._warm`)
        self.before_judge: Callable[[str], None] | None = None  # benchmarks/search_diagnose.py notes the verdicts

    def stop(self, key: str, fraction: float, value: float, extras: dict[str, float] | None = None) -> bool:
        self.evaluator.observe(key, fraction, value, extras)
        if not self.evaluator.due(key, fraction):
            return False
        if self.before_judge is not None:
            self.before_judge(key)
        started = time.perf_counter()
        keep = self.evaluator.judge(key, fraction)
        self.seconds.append(time.perf_counter() - started)
        return not keep

    def finish(self, key: str) -> None:
        started = time.perf_counter()
        self.evaluator.finish(key)
        self.finish_seconds.append(time.perf_counter() - started)


def optuna_pruner(kind: str):
    import optuna

    if kind == "asha":  # rungs at 20% and 60%: Ray ASHA(grace_period=20, reduction_factor=3, max_t=100)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=20, reduction_factor=3)
    if kind == "hyperband":  # 3 brackets from 10%: Ray AsyncHyperBand(grace 10, rf 3, brackets 3)
        return optuna.pruners.HyperbandPruner(min_resource=10, max_resource=100, reduction_factor=3)
    if kind == "median":  # from 20%, once 3 trials have finished: Ray MedianStoppingRule(grace 20, min samples 3)
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=19)
    return optuna.pruners.NopPruner()


def search_inprocess(
    bank, strategy: Strategy, *, params, metric, mode, seed, trials, trace: list | None = None, before_judge=None
) -> dict:
    """One search, trials `CONCURRENT` at a time in lockstep; returns its record. With `trace`, one dict per trial
    is appended to it as the trial ends (its final, fraction reached, verdict attributes, runs finished then, the
    recorded run it replays, its params, and the time units of its first and last evaluation)."""
    import optuna

    from foretune.search.searcher import reported_extras
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
    if ours:
        ours.before_judge = before_judge
    dists = to_distributions(config.search.space)
    running: list[list] = []  # [optuna trial, recorded run, index of the next evaluation]
    records = []  # (true final of the replayed run, fraction reached, completed, replays a run already finished)
    finished: set[str] = set()  # recorded runs some trial of this search already ran to the end
    told: dict[str, float] = {}  # trial number -> final told to Optuna
    finals: dict[str, float | None] = {}  # trial number -> the final it reached (None: stopped)
    started = 0
    unit = 0  # time in evaluations: every running trial makes one evaluation per unit
    while started < trials or running:
        while len(running) < CONCURRENT and started < trials:
            trial = study.ask(dists)
            run = bank.nearest(trial.params)
            if ours:
                ours.evaluator.add(str(trial.number), trial.params)
            running.append([trial, run, 0, unit])
            started += 1
        for slot in list(running):  # every running trial makes one evaluation per time unit
            trial, run, i, start = slot
            fraction = fractions[i]
            value = run.at(metric, fraction)
            trial.report(value, int(round(fraction * 100)))
            if ours:  # the other metrics the run reports, as the scheduler passes them (`reported_extras`)
                reported = {m: run.at(m, fraction) for m in bank.reported_metrics}
                stop = ours.stop(str(trial.number), fraction, value, reported_extras(reported, metric))
            else:
                stop = trial.should_prune()
            last = i == len(fractions) - 1
            original = ours.evaluator.verdicts.get(str(trial.number), {}).get(REPEAT_OF_ATTR) if ours else None
            if not tell_if_ended(study, trial, value, stop=stop, last=last, original=original, told=told):
                slot[2] += 1
                continue
            if ours:
                ours.finish(str(trial.number))
            if trace is not None:
                attrs = dict(ours.evaluator.verdicts.get(str(trial.number), {})) if ours else {}
                finished_then = len(ours.evaluator._finished_runs()) if ours else 0
                trace.append({"number": trial.number, "final": run.final(metric), "reached": fraction} | {
                    "complete": last, "attrs": attrs, "finished_then": finished_then, "run": run,
                    "params": dict(trial.params), "start": start, "end": unit,
                })  # fmt: skip
            records.append((run.final(metric), fraction, last, run.run_id in finished))
            finals[str(trial.number)] = run.final(metric) if last else None
            finished |= {run.run_id} if last else set()
            running.remove(slot)
        unit += 1
    record = outcome(records, mode, ours.seconds if ours else [])
    finish = ours.finish_seconds if ours else []
    audit = audit_outcome(ours.evaluator.verdicts, finals, mode) if ours else {}
    return record | audit | {"finish_p95_s": float(np.percentile(finish, 95)) if finish else 0.0}


def tell_if_ended(study, trial, value: float, *, stop: bool, last: bool, original: str | None, told: dict) -> bool:
    """Tell Optuna how `trial` ended, as `PrunedAwareOptunaSearch` records it, if it ended at this evaluation: a
    stopped repeat (`original`: the trial it re-ran) COMPLETE with that trial's final, another stopped trial PRUNED,
    one at its last evaluation COMPLETE with `value` (noted in `told`); returns whether it ended."""
    from optuna.trial import TrialState

    if stop and not last and original is not None:
        study.tell(trial, told[original])
    elif stop and not last:
        study.tell(trial, state=TrialState.PRUNED)
    elif last:
        study.tell(trial, value)
        told[str(trial.number)] = value
    else:
        return False
    return True


def audit_outcome(verdicts: dict[str, dict], finals: dict[str, float | None], mode: str) -> dict:
    """`early_stage.audit_every`: audited trials, their finals inside the 80% interval, and whether one beat every
    final of the trials the verdict kept (`audit.audit_figures`, as the report says it)."""
    from foretune.keys import EARLY_DECISION_ATTR, PREDICTED_LOWER_ATTR, PREDICTED_UPPER_ATTR
    from foretune.search.audit import audit_figures

    rows = []
    for trial, verdict in verdicts.items():
        final = finals.get(trial)
        inside = None
        if final is not None and PREDICTED_LOWER_ATTR in verdict:
            inside = verdict[PREDICTED_LOWER_ATTR] <= final <= verdict[PREDICTED_UPPER_ATTR]
        state = "PRUNED" if final is None else "COMPLETE"
        rows.append(
            {"trial": trial, "state": state, "early_decision": verdict.get(EARLY_DECISION_ATTR)}
            | {"final": final, "final_in_interval": inside}
        )
    f = audit_figures(
        pd.DataFrame(rows, columns=["trial", "state", "early_decision", "final", "final_in_interval"]), mode
    )
    return {
        "audited": f.complete,
        "audited_checked": f.checked,
        "audited_inside": f.inside,
        "audit_beat": int(bool(f.beat)),
    }


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
        # the compute share among the other trials (each replaying a run no earlier trial had finished)
        "new_compute": float(np.mean([r[1] for r in records if not r[3]] or [np.nan])),
        "judgements": len(seconds),
        "judge_s": float(np.sum(seconds)),
        "judge_p95_s": float(np.percentile(seconds, 95)) if seconds else 0.0,
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
