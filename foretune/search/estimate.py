"""What a search and a sweep of a config will cost, projected from a pilot (`foretune estimate`).

The pilot (`foretune.search.pilot`) times a few optimizer steps and one evaluation of each model.
Here those timings become runs and runs become wall time and device-hours (the pieces, on plain numbers:
`foretune.search.run_costs`):

- a trial that runs to the end costs its start-up (a fresh process imports the trainer, once per slot with
  `search.reuse_workers`, and loads data and model) + budget x per-step time + its evaluations x evaluation
  time (the last on `data.max_final_eval_samples` products, as the pilot priced it) + one test evaluation when
  it leads the finals so far (`foretune.search.best_so_far`: the c-th to complete with probability 1 / c, the
  finals in random order); a pruned trial stops after its evaluation at the early fraction;
- which trials run to the end follows the early-stage rule (`EarlyStageRule`): the first
  `grace_trials` do, and the j-th trial judged ranks within the kept `allowed(j)` of j with
  probability allowed(j) / j when the order of trials says nothing about their quality; each of
  `early_stage.rungs` then stops its share of those that reached it, priced at the steps up to it;
- trials are handed to `slots` = min(search.max_concurrent_trials, CPUs / cpus_per_trial,
  GPUs / gpus_per_trial) in order as slots free up (list scheduling), the zero-shot baseline last (it takes the
  first free slot once every trial has started: `foretune.search.zero_shot`), which gives the wall time;
- device-hours = run seconds x the devices a run holds (GPUs per trial, else CPU cores per trial);
- the sweep runs every size of its grid, each seed, to its whole budget (`sweep.budget.run_steps`):
  an upper bound, as the adaptive choice runs fewer sizes and the early cut ends runs sooner;
- `early_stage.use_upper_bound` (keeps more trials) and `stop_repeats` (stops replays) are not modelled:
  the estimate lists them (`not_modelled`) and, with the first, gives the search without pruning too.

This module imports neither torch nor Ray. `foretune report` compares the saved `estimate.json` with the study's
trials (`foretune.search.estimate_vs_actual`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from itertools import accumulate
from pathlib import Path
from typing import Any

from foretune.config import ExperimentConfig
from foretune.errors import ForetuneError
from foretune.keys import ESTIMATE_NAME
from foretune.search.run_costs import PilotCosts, concurrent_slots, makespan, rung_probabilities

# --- the projections -----------------------------------------------------------------------------


def project_search(costs: PilotCosts, *, models: Sequence[str], trials: int | None = None) -> dict[str, Any]:
    """Wall time, device-hours and dollars of the search, its trials spread evenly over `models`."""
    config, plan = costs.config, costs.plan
    trials = trials or config.search.trials
    passed = rung_probabilities(config, trials)
    keep = [row[-1] for row in passed]
    # A reused worker (search.reuse_workers) imports the trainer once per slot, not once per trial.
    fresh = not config.search.reuses_workers
    full = {m: costs.run_seconds(m, plan.full, fresh_process=fresh) for m in models}
    test = {m: full[m] - costs.run_seconds(m, replace(plan.full, test=False), fresh_process=fresh) for m in models}
    # Only a trial that leads when it completes scores the test split (foretune.search.best_so_far): with the
    # finals in random order, the c-th trial to complete leads with probability 1 / c.
    leads = [1.0 / max(done, 1.0) for done in accumulate(keep)]
    rungs = _rung_stops(costs, models, passed, fresh_process=fresh)
    expected = [
        keep[i] * (full[models[i % len(models)]] - (1.0 - leads[i]) * test[models[i % len(models)]])
        + sum(rung["chances"][i] * rung["trial_seconds"][models[i % len(models)]] for rung in rungs)
        for i in range(trials)
    ]
    pruned = rungs[0]["trial_seconds"]
    trials_wall = makespan(expected, costs.slots)
    if config.search.time_budget_s is not None:
        trials_wall = min(trials_wall, config.search.time_budget_s)
    baseline_model = config.model.name if config.model.name in costs.timings else models[0]
    zero_shot = 0.0
    if config.task.test_on_completion:
        zero_shot = costs.run_seconds(baseline_model, plan.sweep[0], fresh_process=False)
    prepare = costs.prepare_seconds(models)
    with_baseline = trials_wall + zero_shot
    if config.search.time_budget_s is None:  # the baseline runs in the trials' tail, on the first free slot
        with_baseline = makespan([*expected, zero_shot], costs.slots)
    return {
        "trials": trials,
        "slots": costs.slots,
        "expected_complete": sum(keep),
        "expected_test_evaluations": sum(k * lead for k, lead in zip(keep, leads, strict=True)),
        "expected_pruned": trials - sum(keep),
        "full_trial_seconds": full,  # with its test evaluation
        "test_evaluation_seconds": test,  # of a complete trial that leads (`foretune report` compares like with like)
        "pruned_trial_seconds": pruned,
        "full_trial": vars(plan.full),
        "pruned_trial": vars(plan.pruned),
        "rungs": [{k: v for k, v in rung.items() if k != "chances"} for rung in rungs],
        "trials_wall_seconds": trials_wall,
        "zero_shot_seconds": zero_shot,
        "prepare_seconds": prepare,
        "wall_seconds": costs.import_seconds * (1 if fresh else 2) + prepare + with_baseline,
        **costs.device_costs(expected),
    }


def _rung_stops(
    costs: PilotCosts, models: Sequence[str], passed: list[list[float]], *, fresh_process: bool
) -> list[dict[str, Any]]:
    """Per rung: its fraction, each trial's chance to stop there, the expected stops, what a stopped trial costs."""
    early, plan = costs.config.early_stage, costs.plan
    fractions = [early.fraction] + [r.fraction for r in early.rungs][: len(passed[0]) - 1]
    shapes = [plan.pruned, *plan.rungs]
    if len(shapes) < len(fractions):
        raise ValueError(f"the plan stops trials at {len(shapes)} rungs, the config has {len(fractions)}")
    rungs = []
    for r, (fraction, shape) in enumerate(zip(fractions, shapes, strict=False)):
        chances = [(1.0 if r == 0 else row[r - 1]) - row[r] for row in passed]
        rungs.append(
            {
                "fraction": fraction,
                "chances": chances,
                "expected_stopped": sum(chances),
                "trial_seconds": {m: costs.run_seconds(m, shape, fresh_process=fresh_process) for m in models},
                "trial": vars(shape),
            }
        )
    return rungs


def project_sweep(costs: PilotCosts, *, models: Sequence[str]) -> dict[str, Any]:
    """The whole grid of the sweep (every size, every seed, whole budgets) for each of `models`."""
    repeats, sweep = costs.config.sweep.repeats, costs.plan.sweep
    runs = [
        (model, n, costs.run_seconds(model, shape, fresh_process=False))
        for model in models
        for n, shape in sweep.items()
        for _ in range(repeats)
    ]
    durations = [seconds for _, _, seconds in runs]
    # Ray tasks reuse their worker processes: the trainer is imported once per slot, not per run.
    wall = makespan(durations, costs.slots) + costs.import_seconds + costs.prepare_seconds(models)
    return {
        "models": list(models),
        "sizes": list(sweep),
        "repeats": repeats,
        "slots": costs.slots,
        "steps": {str(n): shape.steps for n, shape in sweep.items()},
        "run_seconds": {f"{m} n={n}": s for m, n, s in runs[::repeats]},
        "wall_seconds": wall,
        **costs.device_costs(durations),
    }


def ranks_optimistically(config: ExperimentConfig) -> bool:
    """Whether some rung of `config`'s pruning ranks by the optimistic end of the interval (not projected)."""
    early = config.early_stage
    return early.enabled and (early.use_upper_bound or any(r.use_upper_bound for r in early.rungs))


def not_modelled(config: ExperimentConfig) -> list[str]:
    """The early-stage options of `config` that the projection leaves out, and which way each moves the cost."""
    early = config.early_stage
    notes = []
    if ranks_optimistically(config):
        notes.append(
            "early_stage.use_upper_bound: a trial ranked by the optimistic end of its interval is kept more often "
            "than the projected share, so more trials run on (at most all: the search without pruning)"
        )
    if early.enabled and early.stop_repeats:
        notes.append(
            "early_stage.stop_repeats: a trial that replays a finished run stops early, so fewer steps run "
            "(how many repeats the sampler draws is not known before the search)"
        )
    return notes


def price_per_device_hour(config: ExperimentConfig, given: float | None) -> float | None:
    """`--price`, else the config's `cost.price_per_device_hour` (None: no dollars)."""
    if given is not None:
        if given < 0:
            raise ForetuneError(f"--price {given:g}: give a non-negative price per device-hour, e.g. --price 2.5")
        return given
    return config.cost.price_per_device_hour


def pilot_models(config: ExperimentConfig) -> list[str]:
    """Every distinct model the search and the sweep of `config` train (and the search's zero-shot baseline)."""
    from foretune.search import pilot

    models = [*pilot.searched_models(config), *pilot.swept_models(config)]
    if config.task.test_on_completion:
        models.append(config.model.name)
    return list(dict.fromkeys(models))


def run_pilot(
    config: ExperimentConfig, *, steps: int | None = None, on_event: Callable[[str], None] = lambda _message: None
) -> dict[str, Any]:
    """Each model's pilot, in a fresh process started as a trial's: its imports, `steps` optimizer steps, one
    evaluation (timed as is and with answers capped); the machine's CPUs and GPUs."""
    from foretune.search import pilot

    steps = steps or pilot.PILOT_STEPS
    _check_request(config, steps=steps)
    models = pilot_models(config)
    started = time.perf_counter()
    timings = {}
    for model in models:
        on_event(f"{model}: starting a fresh process as a trial's (threads, niceness; its imports timed)")
        timings[model] = pilot.pilot_in_trial_process(config, model, steps=steps, on_event=on_event).to_dict()
    import_seconds = sum(t["import_seconds"] for t in timings.values()) / len(timings)
    cpus, gpus = pilot.local_devices(config)
    return {
        "steps": steps,
        "wall_seconds": time.perf_counter() - started,
        "import_seconds": import_seconds,
        "machine": {"cpus": cpus, "gpus": gpus},
        "models": timings,
    }


def project(
    config: ExperimentConfig,
    pilot: Mapping[str, Any],
    *,
    price: float | None = None,
    trials: int | None = None,
    plan: Any = None,
) -> dict[str, Any]:
    """The search's and the sweep's cost from a pilot's measurements (a JSON-ready dict); `plan`: the
    config's `pilot.plan_runs` when already made."""
    from foretune.search import pilot as pilots

    _check_request(config, trials=trials)
    price = price_per_device_hour(config, price)
    missing = [m for m in pilot_models(config) if m not in pilot["models"]]
    if missing:
        raise ForetuneError(f"the pilot did not time {', '.join(missing)}; run the pilot of this config")
    plan = plan or pilots.plan_runs(config)
    slots = concurrent_slots(config, **pilot["machine"])
    costs = PilotCosts(config, pilot["models"], plan, pilot["import_seconds"], slots, price)
    search = project_search(costs, models=pilots.searched_models(config), trials=trials)
    unmodelled = not_modelled(config)
    if ranks_optimistically(config):  # the cost's upper end
        unpruned = replace(costs, config=config.with_overrides({"early_stage.enabled": False}, where="estimate"))
        every = project_search(unpruned, models=pilots.searched_models(config), trials=trials)
        search["without_pruning"] = {k: every[k] for k in ("wall_seconds", "device_hours", "usd", "expected_complete")}
    sweep = project_sweep(costs, models=pilots.swept_models(config))
    return {
        "config": config.name,
        "search_wall_seconds": search["wall_seconds"],
        "search_device_hours": search["device_hours"],
        "search_usd": search["usd"],
        "sweep_wall_seconds": sweep["wall_seconds"],
        "sweep_device_hours": sweep["device_hours"],
        "sweep_usd": sweep["usd"],
        "price_per_device_hour": price,
        "search": search,
        "sweep": sweep,
        "pilot": dict(pilot),
        "not_counted": "Ray's own start-up and shutdown; the first step's warm-up is counted once per run as "
        "start-up, not in the per-step time",
        "not_modelled": unmodelled,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _check_request(
    config: ExperimentConfig, *, steps: int | None = None, price: float | None = None, trials: int | None = None
) -> None:
    if steps is not None and steps < 2:
        raise ForetuneError(f"--steps {steps}: the pilot needs at least 2 steps (the first is warm-up)")
    if trials is not None and trials < 1:
        raise ForetuneError(f"--trials must be at least 1, got {trials}")
    price_per_device_hour(config, price)


def estimate(
    config: ExperimentConfig,
    *,
    steps: int | None = None,
    price: float | None = None,
    trials: int | None = None,
    on_event: Callable[[str], None] = lambda _message: None,
) -> dict[str, Any]:
    """Run the pilot of each model of `config` and project the search and the sweep (a JSON-ready dict)."""
    from foretune.search import pilot

    _check_request(config, steps=steps, price=price, trials=trials)  # bad input fails before the pilot
    gpus = pilot.local_devices(config)[1]
    if gpus < config.resources.gpus_per_trial:  # the search would refuse it too (driver.check_resources)
        raise ForetuneError(
            f"resources.gpus_per_trial={config.resources.gpus_per_trial:g} but this machine has {gpus} GPU(s): the "
            "pilot times a trial on the device it will train on, so run the estimate on a machine of the search "
            "(or set resources.gpus_per_trial=0 to estimate a search on CPUs)"
        )
    plan = pilot.plan_runs(config)  # so do data and budget errors
    measured = run_pilot(config, steps=steps, on_event=on_event)
    return project(config, measured, price=price, trials=trials, plan=plan)


def write_estimate(result: Mapping[str, Any], run_dir: str | Path) -> Path:
    """Save the estimate as `RUN_DIR/estimate.json` (atomically); `foretune report` compares it with the study."""
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ESTIMATE_NAME
    staging = path.with_suffix(".json.tmp")
    staging.write_text(json.dumps(result, indent=2) + "\n")
    staging.replace(path)
    return path
