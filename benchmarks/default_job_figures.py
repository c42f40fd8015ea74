"""Figures of one run of the default job, and the 3-seed table of benchmarks/results/default_job.md.

`benchmarks/default_job.sh SEED` runs the job and then this script, which reads the run's study (the
same `trials_table` / `verdict_summary` as the report), writes `benchmarks/results/default_job/seed<N>.json`
and rewrites the table between the markers in default_job.md from every seed file there.

    .venv/bin/python benchmarks/default_job_figures.py runs/bench-default-job-s0 --seed 0 --wall 512
    .venv/bin/python benchmarks/default_job_figures.py --table-only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import optuna
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foretune.config import validate_config  # noqa: E402
from foretune.keys import CONFIG_ATTR, TEST_ATTR_PREFIX, ZERO_SHOT_ATTR  # noqa: E402
from foretune.predictors.metrics import spearman  # noqa: E402
from foretune.search.estimate import makespan  # noqa: E402
from foretune.search.hindsight import leave_one_out  # noqa: E402
from foretune.search.report import best_trial, load_study_for_report, trials_table, verdict_summary  # noqa: E402

# Per-phase costs measured with the machine to itself (the old default job, 2026-11-22; its full trials took
# 144-151 s, pruned 40-41 s, the job 548 s, which these reproduce): one core per trial.
ALONE_STEP_S = 3.0  # one optimizer step, batch 4 x ~95 tokens
ALONE_EVAL_S = 8.0  # one evaluation: generated answers for 12 validation products, and the eval loss
ALONE_TEST_S = 20.0  # the test evaluation of a complete trial (24 products)
ALONE_TRIAL_START_S = 13.0  # a trial's process: model load (~5 s) and Ray's actor start-up
ALONE_JOB_FIXED_S = 30.0  # Ray start, the zero-shot test evaluation at the end, the report
RESULTS = REPO / "benchmarks" / "results"
SEEDS_DIR = RESULTS / "default_job"
TABLE_FILE = RESULTS / "default_job.md"
BEGIN, END = "<!-- seeds:begin (benchmarks/default_job_figures.py) -->", "<!-- seeds:end -->"


def _rho(x: pd.Series, y: pd.Series) -> float | None:
    return float(spearman(x.astype(float), y.astype(float))) if len(x) >= 3 else None


def _durations(study: optuna.Study, state: str) -> list[float]:
    return [
        round((t.datetime_complete - t.datetime_start).total_seconds(), 1)
        for t in study.get_trials(deepcopy=False)
        if t.state.name == state and t.datetime_complete and t.datetime_start
    ]


def expected_alone_seconds(study: optuna.Study, table: pd.DataFrame) -> float:
    """The job's wall time with the machine to itself: each trial's phases (steps, evaluations, test up to
    where it stopped) at the alone per-phase costs, the trials in order on `max_concurrent_trials` slots."""
    config = validate_config(study.user_attrs[CONFIG_ATTR], "(stored with the study)")
    fractions = sorted(config.train.eval_fractions)
    durations = []
    for row in table.sort_values("trial").itertuples():
        reached = float(row.fraction_reached)
        evals = sum(f <= reached + 1e-9 for f in fractions)
        test = ALONE_TEST_S if row.state == "COMPLETE" and config.task.test_on_completion else 0.0
        steps = round(reached * config.train.max_steps)
        durations.append(ALONE_TRIAL_START_S + steps * ALONE_STEP_S + evals * ALONE_EVAL_S + test)
    return round(ALONE_JOB_FIXED_S + makespan(durations, config.search.max_concurrent_trials), 0)


def run_figures(run_dir: Path) -> dict:
    """What the default job's report claims, as numbers (None where the report says "not measured")."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, _ = load_study_for_report(run_dir, storage=None, study_name=None)
    table = trials_table(study)
    complete = table[table["state"] == "COMPLETE"]
    made = complete.dropna(subset=["predicted_final"])
    judged = table["final_in_interval"].dropna().astype(bool)
    spent = float(pd.to_numeric(table["fraction_reached"], errors="coerce").fillna(0.0).sum())
    hindsight = leave_one_out(study, "max")
    best = best_trial(study) or {}
    zero_shot = study.user_attrs.get(ZERO_SHOT_ATTR) or {}
    metric = "accuracy"
    return {
        "trials": len(table),
        "complete": len(complete),
        "pruned": int((table["state"] == "PRUNED").sum()),
        "early_vs_final_spearman": _rho(complete["early_rank"], complete["final_rank"]),
        "predicted_made": len(made),
        "predicted_vs_final_spearman": _rho(made["predicted_final"], made["final"]),
        "hindsight_spearman": _rho(hindsight["predicted"], hindsight["final"]),
        "hindsight_inside": int(
            ((hindsight["lower"] <= hindsight["final"]) & (hindsight["final"] <= hindsight["upper"])).sum()
        ),
        "hindsight_trials": len(hindsight),
        "inside_interval": int(judged.sum()),
        "interval_checked": len(judged),
        "compute_spent": round(spent / len(table), 3),
        "best_value": best.get("value"),
        "best_params": best.get("params"),
        "test_zero_shot": zero_shot.get(metric, zero_shot.get(f"{TEST_ATTR_PREFIX}{metric}")),
        "test_best": (best.get("test") or {}).get(metric),
        "expected_alone_seconds": expected_alone_seconds(study, table),
        "full_trial_seconds": _durations(study, "COMPLETE"),
        "pruned_trial_seconds": _durations(study, "PRUNED"),
        "summary": verdict_summary(table, "max", study),
    }


def _cell(value, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _row(seed: int, f: dict) -> str:
    kept = next((line.split(": ", 1)[1].split(" (")[0] for line in f["summary"] if line.startswith("Best config")), "")
    cpu = f.get("cpu_seconds")
    return (
        f"| {seed} | {f.get('wall_seconds', 'n/a')} (load {f.get('load_before', 'n/a')}) | {_cell(cpu, '.0f')} "
        f"| {f['expected_alone_seconds']:.0f} "
        f"| {f['complete']} / {f['pruned']} | {_cell(f['early_vs_final_spearman'])} "
        f"| {_cell(f['predicted_vs_final_spearman'])} ({f['predicted_made']}) "
        f"| {f['inside_interval']} of {f['interval_checked']} "
        f"| {_cell(f['hindsight_spearman'])}, {f['hindsight_inside']} of {f['hindsight_trials']} "
        f"| {f['compute_spent']:.0%} | {kept} "
        f"| {_cell(f['best_value'], '.3f')} | {_cell(f['test_zero_shot'], '.3f')} -> {_cell(f['test_best'], '.3f')} |"
    )


def seeds_table() -> str:
    runs = {int(p.stem.removeprefix("seed")): json.loads(p.read_text()) for p in sorted(SEEDS_DIR.glob("seed*.json"))}
    header = (
        "| seed | wall s (1-min load before) | CPU s seen (undercounts: Ray workers escape it) | phase-model s "
        "| complete / pruned | early vs final Spearman "
        "| predicted vs final Spearman (trials with a prediction) | finals inside 80% interval "
        "| in hindsight (leave-one-out): Spearman, finals inside | compute spent "
        "| best kept | best val. accuracy | test accuracy zero-shot -> best |"
    )
    rows = [_row(seed, runs[seed]) for seed in sorted(runs)]
    inside = sum(f["inside_interval"] for f in runs.values())
    checked = sum(f["interval_checked"] for f in runs.values())
    h_inside = sum(f["hindsight_inside"] for f in runs.values())
    h_checked = sum(f["hindsight_trials"] for f in runs.values())
    pooled = (
        f"\nPooled over the seeds: {inside} of {checked} judged-and-kept trials' finals inside their 80% interval;"
        f" in hindsight, {h_inside} of {h_checked} complete trials' finals inside."
    )
    return "\n".join([header, "|" + "---|" * 13, *rows]) + "\n" + pooled


def write_table() -> None:
    text = TABLE_FILE.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{TABLE_FILE}: the markers {BEGIN!r} and {END!r} are missing; add them where the table goes")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    TABLE_FILE.write_text(f"{head}{BEGIN}\n{seeds_table()}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?", help="the job's run folder (its study.journal)")
    parser.add_argument("--seed", type=int, help="search.seed of the run")
    parser.add_argument("--wall", type=int, help="wall seconds, command start to report")
    parser.add_argument("--load-before", help="1-minute load average when the job started")
    parser.add_argument("--cpu", type=Path, help="benchmarks/cpu_seconds.py's --out file for the job")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from the seed files")
    args = parser.parse_args()
    if not args.table_only:
        if args.run_dir is None or args.seed is None:
            parser.error("give RUN_DIR and --seed (or --table-only)")
        figures = run_figures(args.run_dir)
        figures.update(wall_seconds=args.wall, load_before=args.load_before)
        if args.cpu and args.cpu.is_file():
            figures["cpu_seconds"] = json.loads(args.cpu.read_text())["cpu_seconds"]
        SEEDS_DIR.mkdir(parents=True, exist_ok=True)
        (SEEDS_DIR / f"seed{args.seed}.json").write_text(json.dumps(figures, indent=1) + "\n")
        print("\n".join(figures["summary"]))
    write_table()


if __name__ == "__main__":
    main()
