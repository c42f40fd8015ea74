"""Figures of one seed of the default job and of its pruning-off twin, and the 3-seed tables of
benchmarks/results/default_job.md.

`benchmarks/default_job.sh SEED` runs the job (pruning on) and its twin (`early_stage.enabled=false`: every
trial predicted at 20% from the trials finished so far, and run to its final), then this script. It reads
each run's study (the same `trials_table` / `verdict_summary` / `leave_one_out` as the report) and the timing
file the shell script wrote beside it, writes `benchmarks/results/default_job/seed<N>.json` ({"job": ...,
"twin": ...}; a part whose run folder is missing, or whose run is older than the seed file, keeps its figures
from the file: `ran_since`) and rewrites the tables
between the markers in default_job.md from every seed file there.

Each time a twin's folder is given, its trials are also replayed offline with the predictor of this tree
(`default_job_replay.study_row`: every trial judged in its order from the runs finished before it) and stored
as the seed file's "replayed" entry: the figure of the current predictor on that twin's curves, beside the
figure the twin recorded live with the code it ran. A twin alone (no shipped-job folder) keeps the seed file's
job figures, or has none.

    .venv/bin/python benchmarks/default_job_figures.py runs/bench-default-job-s0 --twin runs/bench-default-job-s0-off --seed 0
    .venv/bin/python benchmarks/default_job_figures.py --twin /elsewhere/bench-default-job-s6-off --seed 6
    .venv/bin/python benchmarks/default_job_figures.py --table-only
    .venv/bin/python benchmarks/default_job_figures.py --share-only --twin runs/bench-default-job-s126-off --seed 126
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import optuna
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from default_job_replay import study_row  # noqa: E402
from default_job_seeds import SEED_ROLES  # noqa: E402

from foretune.config import validate_config  # noqa: E402
from foretune.keys import (  # noqa: E402
    CONFIG_ATTR,
    EARLY_FINISHED_USED_ATTR,
    JOURNAL_NAME,
    TEST_ATTR_PREFIX,
    ZERO_SHOT_ATTR,
)
from foretune.predictors._signal import FEW_RUNS  # noqa: E402
from foretune.predictors.metrics import spearman  # noqa: E402
from foretune.search.audit import audit_figures  # noqa: E402
from foretune.search.final_noise import agreement_draws, noise_figures  # noqa: E402
from foretune.search.hindsight import leave_one_out  # noqa: E402
from foretune.search.report import best_trial, compute_spent, trials_table, verdict_summary  # noqa: E402
from foretune.search.run_costs import makespan  # noqa: E402
from foretune.search.storage import load_study_for_report  # noqa: E402

# Per-phase costs measured with the machine to itself (the old default job, 2026-11-22; its full trials took
# 144-151 s, pruned 40-41 s, the job 548 s, which these reproduce): one core per trial.
ALONE_STEP_S = 3.0  # one optimizer step, batch 4 x ~95 tokens
ALONE_EVAL_S = 8.0  # one evaluation: generated answers for 12 validation products, and the eval loss
ALONE_TEST_S = 20.0  # the test evaluation of a complete trial (24 products; scaled to data.max_test_samples)
ALONE_TEST_PRODUCTS = 24
ALONE_TRIAL_START_S = 13.0  # a trial's process: model load (~5 s) and Ray's actor start-up
ALONE_JOB_FIXED_S = 10.0  # Ray start and the report (+ the zero-shot test evaluation at the end: one test)
RESULTS = REPO / "benchmarks" / "results"
SEEDS_DIR = RESULTS / "default_job"
TABLE_FILE = RESULTS / "default_job.md"
BEGIN, END = "<!-- seeds:begin (benchmarks/default_job_figures.py) -->", "<!-- seeds:end -->"
PARTS = ("job", "twin")
TARGET = 0.8  # issue 10: predicted vs final Spearman on each seed


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
    one_test = ALONE_TEST_S * (config.data.max_test_samples or ALONE_TEST_PRODUCTS) / ALONE_TEST_PRODUCTS
    durations = []
    for row in table.sort_values("trial").itertuples():
        reached = float(row.fraction_reached)
        evals = sum(f <= reached + 1e-9 for f in fractions)
        test = one_test if row.state == "COMPLETE" and config.task.test_on_completion else 0.0
        steps = round(reached * config.train.max_steps)
        durations.append(ALONE_TRIAL_START_S + steps * ALONE_STEP_S + evals * ALONE_EVAL_S + test)
    fixed = ALONE_JOB_FIXED_S + (one_test if config.task.test_on_completion else 0.0)
    return round(fixed + makespan(durations, config.search.max_concurrent_trials), 0)


def _inside(frame: pd.DataFrame, final: str = "final") -> int:
    return int(((frame["lower"] <= frame[final]) & (frame[final] <= frame["upper"])).sum())


def _timing(run_dir: Path) -> dict:
    """Wall seconds and the 1-minute load average sampled during the run (benchmarks/default_job.sh)."""
    path = Path(f"{run_dir}.timing.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def _common(study: optuna.Study, table: pd.DataFrame, run_dir: Path) -> dict:
    complete = table[table["state"] == "COMPLETE"]
    made = complete.dropna(subset=["predicted_final"])
    judged = table["final_in_interval"].dropna().astype(bool)
    loss = complete[["early_eval_loss", "final_rank"]].astype(float).dropna() if "early_eval_loss" in table else []
    return {
        "trials": len(table),
        "complete": len(complete),
        "pruned": int((table["state"] == "PRUNED").sum()),
        "early_vs_final_spearman": _rho(complete["early_rank"], complete["final_rank"]),
        "early_eval_loss_vs_final_spearman": _rho(loss["early_eval_loss"], loss["final_rank"]) if len(loss) else None,
        "predicted_made": len(made),
        "predicted_vs_final_spearman": _rho(made["predicted_final"], made["final"]),
        "inside_interval": int(judged.sum()),
        "interval_checked": len(judged),
        "full_trial_seconds": _durations(study, "COMPLETE"),
        "pruned_trial_seconds": _durations(study, "PRUNED"),
        "summary": verdict_summary(table, "max", study),
        **_timing(run_dir),
    }


def job_figures(run_dir: Path) -> dict:
    """What the shipped job's report claims, as numbers (None where the report says "not measured")."""
    study, _ = load_study_for_report(run_dir, storage=None, study_name=None)
    table = trials_table(study)
    spent, budgets = compute_spent(table)
    hindsight = leave_one_out(study, "max")
    best = best_trial(study) or {}
    zero_shot = study.user_attrs.get(ZERO_SHOT_ATTR) or {}
    metric = "accuracy"
    return {
        **_common(study, table, run_dir),
        "hindsight_spearman": _rho(hindsight["predicted"], hindsight["final"]),
        "hindsight_inside": _inside(hindsight),
        "hindsight_trials": len(hindsight),
        "compute_spent": round(spent / budgets, 3) if budgets else None,
        "best_value": best.get("value"),
        "best_params": best.get("params"),
        "test_zero_shot": zero_shot.get(metric, zero_shot.get(f"{TEST_ATTR_PREFIX}{metric}")),
        "test_best": (best.get("test") or {}).get(metric),
        "expected_alone_seconds": expected_alone_seconds(study, table),
        **_audit_figures(table),
    }


def _audit_figures(table: pd.DataFrame) -> dict:
    """The audited trials (`early_stage.audit_every`): how many, their finals inside their interval, and how many
    beat every final of the trials the verdict kept (`audit.audit_figures`, as the report says it)."""
    f = audit_figures(table, "max")
    return {
        "audited": len(f.audited),
        "audited_inside": f.inside,
        "audited_checked": f.checked,
        "audited_beat_kept": None if f.best_kept is None else len(f.beat),
    }


def twin_figures(run_dir: Path) -> dict:
    """The pruning-off twin: every trial runs to its final; predicted final vs final where one was predicted."""
    study, _ = load_study_for_report(run_dir, storage=None, study_name=None)
    table = trials_table(study)
    made = table.dropna(subset=["predicted_final", "final"])
    errors = (made["predicted_final"] - made["final"]).abs()
    return {
        **_common(study, table, run_dir),
        "predicted_mae": round(float(errors.mean()), 3) if len(made) else None,
        "predicted_by": _predictors_used(table),
        "line_from_runs": FEW_RUNS,  # round 5's code drew the eval-loss line from 4 finished runs
        "noise": _noise(study, table),
        "finished_used": {
            t.number: t.user_attrs.get(EARLY_FINISHED_USED_ATTR) for t in study.get_trials(deepcopy=False)
        },
    }


def _noise(study: optuna.Study, table: pd.DataFrame) -> dict | None:
    """`noise_figures` (the job's accuracy: higher is better) and `agreement_at_target`: the share of the paired
    resampled draws of the validation items on which predicted vs final meets the target (absent without them)."""
    figures = noise_figures(study, table, "max")
    rhos = agreement_draws(study, table)
    if figures is not None and len(rhos):
        figures["agreement_at_target"] = round(float((rhos >= TARGET).mean()), 3)
    return figures


def predicted_by(basis: str) -> str:
    """The short name of what predicted a final ("eval_loss", "snapshot") from a trial's basis in words."""
    words = basis.removeprefix("predicted by ").split(" ")
    return words[2] if words[:2] == ["auto", "from"] else words[0]


def _predictors_used(table: pd.DataFrame) -> dict[str, int]:
    made = table.dropna(subset=["predicted_final"])
    return made["early_basis"].map(predicted_by).value_counts().sort_index().to_dict()


def _cell(value, spec: str = ".2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _when(f: dict) -> str:
    wall = f.get("wall_seconds")
    load = f"load mean {f['load_mean']}" if "load_mean" in f else f"load before {f.get('load_before', 'n/a')}"
    return f"{_cell(wall, 'd') if isinstance(wall, int) else _cell(wall, '.0f')} ({load})"


def _job_row(seed: int, f: dict) -> str:
    kept = next((line.split(": ", 1)[1].split(" (")[0] for line in f["summary"] if line.startswith("Best config")), "")
    return (
        f"| {seed} | {_when(f)} | {f['expected_alone_seconds']:.0f} "
        f"| {f['complete']} / {f['pruned']} | {_cell(f['early_vs_final_spearman'])} "
        f"| {_cell(f['predicted_vs_final_spearman'])} ({f['predicted_made']}) "
        f"| {f['inside_interval']} of {f['interval_checked']} "
        f"| {_cell(f['hindsight_spearman'])}, {f['hindsight_inside']} of {f['hindsight_trials']} "
        f"| {f['compute_spent']:.0%} | {kept} | {_audit_cell(f)} "
        f"| {_cell(f['best_value'], '.3f')} | {_cell(f['test_zero_shot'], '.3f')} -> {_cell(f['test_best'], '.3f')} |"
    )


def _audit_cell(f: dict) -> str:
    if not f.get("audited"):
        return "none" if "audited" in f else "n/a (before the audit)"
    beat = f["audited_beat_kept"]
    lost = "n/a" if beat is None else ("none beat the kept best" if beat == 0 else f"{beat} beat the kept best")
    return f"{f['audited']}: {f['audited_inside']} of {f['audited_checked']} inside, {lost}"


def _twin_row(seed: int, f: dict, replayed: dict | None) -> str:
    used = ", ".join(f"{name} {n}" for name, n in f.get("predicted_by", {}).items()) or "n/a"
    again = "n/a"
    if replayed:
        again = (
            f"{replayed['predicted']} ({replayed['by'] or 'none'}): {_cell(replayed['spearman'])}, "
            f"{replayed['inside']} of {replayed['predicted']} inside"
        )
    return (
        f"| {seed} ({SEED_ROLES.get(seed, 'fresh')}; line from {f.get('line_from_runs', 4)} runs) | {_when(f)} "
        f"| {f['complete']} | {f['predicted_made']} ({used}) "
        f"| {_cell(f['predicted_vs_final_spearman'])} | {f['inside_interval']} of {f['interval_checked']} "
        f"| {_cell(f['predicted_mae'], '.3f')} | {_cell(f['early_vs_final_spearman'])} "
        f"| {_cell(f.get('early_eval_loss_vs_final_spearman'))} | {_noise_cell(f)} | {again} |"
    )


def _noise_cell(f: dict) -> str:
    """Predicted vs final Spearman over the middle 90% of the finals' resampled validation items, the best's lead."""
    if "noise" not in f:
        return "n/a (before the draws)"
    noise = f["noise"] or {}
    low, high = noise.get("agreement") or (None, None)
    lead = f", best ahead in {noise['lead']:.0%}" if "lead" in noise else ""
    share = noise.get("agreement_at_target")
    at_target = "" if share is None else f"; {TARGET} or more in {share:.0%}"
    return f"{_cell(low)} to {_cell(high)}{at_target}{lead}"


def _read_seed(path: Path) -> dict:
    data = json.loads(path.read_text())
    return data if any(part in data for part in PARTS) else {"job": data}  # a file of the old layout: the job only


def seeds_table() -> str:
    runs = {int(p.stem.removeprefix("seed")): _read_seed(p) for p in sorted(SEEDS_DIR.glob("seed*.json"))}
    jobs = {seed: r["job"] for seed, r in runs.items() if "job" in r}
    twins = {seed: r["twin"] for seed, r in runs.items() if "twin" in r}
    replayed = {seed: r.get("replayed") for seed, r in runs.items()}
    job_header = (
        "| seed | wall s (1-minute load average) | phase-model s | complete / pruned | early vs final Spearman "
        "| predicted vs final Spearman (trials with a prediction) | finals inside 80% interval (kept and audited) "
        "| in hindsight (leave-one-out): Spearman, finals inside | compute spent "
        "| best kept | audited (finals inside their interval, beat the kept best) | best val. accuracy "
        "| test accuracy zero-shot -> best |"
    )
    twin_header = (
        "| seed | wall s (1-minute load average) | complete | predicted at 20% (by) | predicted vs final Spearman "
        "| finals inside 80% interval | mean abs. error | early score vs final Spearman (all trials) "
        "| eval loss at 20% vs final Spearman (all trials) "
        f"| on resampled validation items: predicted vs final Spearman (90% of draws); draws at {TARGET} or more, best final "
        "ahead of the next "
        "| replayed offline with the current predictor: predicted (by): Spearman, inside |"
    )
    pooled = []
    for line_from in sorted({f.get("line_from_runs", 4) for f in twins.values()}):
        same = [f for f in twins.values() if f.get("line_from_runs", 4) == line_from]
        inside, made = sum(f["inside_interval"] for f in same), sum(f["interval_checked"] for f in same)
        pooled.append(f"line from {line_from} runs: {inside} of {made}")
    return "\n".join(
        [
            "Shipped job (pruning on):",
            "",
            job_header,
            "|" + "---|" * 13,
            *[_job_row(seed, f) for seed, f in sorted(jobs.items())],
            "",
            "Pruning-off twin (`--set early_stage.enabled=false --set task.test_on_completion=false`):",
            "",
            twin_header,
            "|" + "---|" * 11,
            *[_twin_row(seed, f, replayed[seed]) for seed, f in sorted(twins.items())],
            "",
            f"Pooled over the twins, predicted finals inside their 80% interval: {'; '.join(pooled)}.",
        ]
    )


def write_table() -> None:
    text = TABLE_FILE.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{TABLE_FILE}: the markers {BEGIN!r} and {END!r} are missing; add them where the table goes")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    TABLE_FILE.write_text(f"{head}{BEGIN}\n{seeds_table()}\n{END}{tail}")


def ran_since(run_dir: Path, part: str, figures: dict, seed_file: Path) -> bool:
    """Whether `run_dir` holds a run the seed file has not recorded yet: the part is missing from it, or the
    run's timing file is newer. `PARTS=job` then leaves the twin's figures as measured (its folder may hold a
    run made with older code), and the other way round."""
    timing = Path(f"{run_dir}.timing.json")
    if part not in figures or not seed_file.is_file() or not timing.is_file():
        return True
    return timing.stat().st_mtime > seed_file.stat().st_mtime


def add_share(twin: Path, seed_file: Path) -> None:
    """Add `agreement_at_target` to a twin recorded before it was measured, from the twin's own folder, leaving
    every recorded figure as it was (the folder must hold the run the file recorded: the same agreement range)."""
    figures = _read_seed(seed_file)
    recorded = (figures.get("twin") or {}).get("noise") or {}
    study, _ = load_study_for_report(twin, storage=None, study_name=None)
    table = trials_table(study)
    now = _noise(study, table) or {}
    # json keeps floats exact: the same run gives the same range to the last digit
    if "agreement" not in recorded or list(now.get("agreement", ())) != recorded["agreement"]:
        raise SystemExit(f"{twin}: not the twin {seed_file.name} recorded (its agreement range differs), or no draws")
    recorded["agreement_at_target"] = now["agreement_at_target"]
    seed_file.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"{seed_file.name}: predicted vs final >= {TARGET} on {now['agreement_at_target']:.0%} of the draws")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?", help="the shipped job's run folder (its study.journal)")
    parser.add_argument("--twin", type=Path, help="the pruning-off twin's run folder")
    parser.add_argument("--seed", type=int, help="search.seed of the runs")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the tables from the seed files")
    parser.add_argument(
        "--share-only", action="store_true", help="only add the twin's draws at the target to its seed file"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.share_only:
        if args.twin is None or args.seed is None:
            parser.error("--share-only needs --twin DIR and --seed")
        add_share(args.twin, SEEDS_DIR / f"seed{args.seed}.json")
    elif not args.table_only:
        if (args.run_dir is None and args.twin is None) or args.seed is None:
            parser.error("give RUN_DIR and/or --twin DIR, and --seed (or --table-only)")
        if args.twin is not None and not (args.twin / JOURNAL_NAME).is_file():
            parser.error(f"--twin {args.twin}: no {JOURNAL_NAME} there; give the twin's run folder (runs/...-off)")
        path = SEEDS_DIR / f"seed{args.seed}.json"
        figures = _read_seed(path) if path.is_file() else {}
        for part, run_dir, figure in (("job", args.run_dir, job_figures), ("twin", args.twin, twin_figures)):
            if run_dir is not None and (run_dir / JOURNAL_NAME).is_file() and ran_since(run_dir, part, figures, path):
                figures[part] = figure(run_dir)
                print(f"{part}:\n  " + "\n  ".join(figures[part]["summary"]))
        if args.twin is not None:
            figures["replayed"] = study_row(args.twin)
            print(f"replayed with the current predictor: {figures['replayed']}")
        SEEDS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=1) + "\n")
    write_table()


if __name__ == "__main__":
    main()
