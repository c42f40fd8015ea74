"""How close is `foretune estimate` to the search it estimates? Runs the pilot, then the real search, per job.

    nice -n 10 .venv/bin/python benchmarks/estimate.py [--jobs default,small] [--out runs/bench-estimate]
    .venv/bin/python benchmarks/estimate.py --one-trial [--set k=v ...]   # pilot + one full trial, both at nice 15

Each job runs exactly what a user runs, as subprocesses: `foretune estimate CONFIG --json --out RUN`, then
`foretune search CONFIG --out RUN --quiet`, and compares the estimate with the measured wall time of the
search command and with the study's trials (their span, their time x cores, how many ran to the end).
The load average is sampled every 5 s during both, since on a shared machine it moves both numbers.
Writes benchmarks/results/estimate.md after each job with every finished job's row (jobs started as separate
processes, `--jobs default` and `--jobs small` side by side, share the results file); the markdown is
benchmarks/estimate_results.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from estimate_results import one_trial_section, write_one_trial, write_results  # beside this script

REPO = Path(__file__).resolve().parents[1]
FORETUNE = str(REPO / ".venv" / "bin" / "foretune")
RESULTS = REPO / "benchmarks" / "results" / "estimate.md"

# name -> (config, --set overrides, what it is)
JOBS = {
    "default": ("configs/default.yaml", [], "the default job (`make demo`: configs/default.yaml as it is)"),
    "small": (
        "configs/default.yaml",
        ["train.max_steps=10", "search.trials=6"],
        "a smaller budget: the default job with 6 trials of 10 steps",
    ),
    "small-again": (
        "configs/default.yaml",
        ["train.max_steps=10", "search.trials=6"],
        "the small job again, run alone once the other helpers' jobs had quietened",
    ),
    "default-again": ("configs/default.yaml", [], "the default job again, run alone on the machine"),
}


class LoadSampler:
    """Samples the 1-minute load average every `every` seconds while running (a thread)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every, self.samples = every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


def timed(command: list[str], log: Path) -> tuple[float, float, str]:
    """(wall seconds, mean load average, stdout) of `command`; its stderr goes to `log`."""
    started = time.perf_counter()
    with LoadSampler() as load, log.open("a") as err:
        done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}); see {log}")
    return time.perf_counter() - started, load.mean, done.stdout


def study_actuals(run_dir: Path, study_name: str) -> dict:
    """The trials' span, time x cores and how many ran to the end, from the study's journal."""
    import optuna
    from optuna.trial import TrialState

    from foretune.search.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=open_storage(str(run_dir / "study.journal")))
    started = [t.datetime_start for t in study.trials if t.datetime_start]
    trials = [t for t in study.trials if t.datetime_start and t.datetime_complete]
    if not trials:
        return {"finished": 0, "elapsed_seconds": time.time() - min(started).timestamp() if started else 0.0}
    cores = study.user_attrs["foretune_config"]["resources"]["cpus_per_trial"]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials]
    return {
        "finished": len(trials),
        "elapsed_seconds": time.time() - min(started).timestamp(),  # first trial start to now
        "trials_wall_seconds": (
            max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
        ).total_seconds(),
        "device_hours": sum(durations) * cores / 3600,
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "full_trial_seconds": [
            round(d) for d, t in zip(durations, trials, strict=True) if t.state == TrialState.COMPLETE
        ],
        "pruned_trial_seconds": [
            round(d) for d, t in zip(durations, trials, strict=True) if t.state == TrialState.PRUNED
        ],
    }


def run_job(name: str, out: Path, *, reuse_pilot: bool = False) -> dict:
    config, overrides, what = JOBS[name]
    run_dir = out / name
    log = run_dir.parent / f"{name}.log"
    sets = [arg for pair in overrides for arg in ("--set", pair)]
    saved = run_dir / "pilot.json"
    if reuse_pilot and saved.is_file():  # the search failed to start (Ray); keep the pilot, run the search again
        pilot_wall, pilot_load, estimate = json.loads(saved.read_text())
        for path in run_dir.iterdir():
            if path.name not in ("pilot.json", "estimate.json"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        log.unlink(missing_ok=True)
        print(f"{time.strftime('%H:%M:%S')} {name}: pilot", flush=True)
        command = [FORETUNE, "estimate", config, "--json", "--out", str(run_dir), *sets]
        pilot_wall, pilot_load, printed = timed(command, log)
        estimate = json.loads(printed)
        saved.write_text(json.dumps([pilot_wall, pilot_load, estimate]))
    print(f"{time.strftime('%H:%M:%S')} {name}: search (estimated {estimate['search_wall_seconds']:.0f} s)", flush=True)
    search_wall, search_load, _ = timed([FORETUNE, "search", config, "--out", str(run_dir), "--quiet", *sets], log)
    actual = study_actuals(run_dir, estimate["config"])
    print(f"{time.strftime('%H:%M:%S')} {name}: search took {search_wall:.0f} s", flush=True)
    return {
        "name": name,
        "what": what,
        "command": f"foretune search {config}" + "".join(f" --set {pair}" for pair in overrides),
        "pilot_wall": pilot_wall,
        "pilot_reused": reuse_pilot,
        "pilot_load": pilot_load,
        "search_wall": search_wall,
        "search_load": search_load,
        "estimate": estimate,
        "actual": actual,
    }


# A full trial as Ray runs it, in a fresh process (the pilot's threads and niceness), each phase timed.
_TRIAL = """
import json, sys, time
started = time.time()
from foretune.config import load_config
from foretune.trainers.lora import LoraTrainer
from foretune.trainers.reporters import Decision
imported = time.time()
config = load_config(sys.argv[1], json.loads(sys.argv[2]))
steps, reports = [], []
class Clock:
    def report(self, fraction, step, metrics):
        reports.append((fraction, step, time.time(), metrics.get("n_products")))
        return Decision.CONTINUE
trainer = LoraTrainer(config, on_step=lambda step, total, loss: steps.append(time.time()))
trainer.fit(Clock())
ended = time.time()
print(json.dumps({"started": started, "imported": imported, "steps": steps, "reports": reports, "ended": ended}))
"""


def one_trial(config: str, overrides: dict[str, str], out: Path) -> dict:
    """`foretune estimate` of `config`, then one full trial of it timed phase by phase, like with like: the
    estimate's full trial (import, start-up, steps, evaluations, the final on max_final_eval_samples products,
    the test evaluation) against the trial's own clock; the load average sampled during both."""
    from foretune.search.pilot import RAY_WORKER_NICENESS

    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    log = out / "one-trial.log"
    started = time.time()
    pilot_wall, pilot_load, printed = timed([FORETUNE, "estimate", config, "--json", *sets], log)
    estimate = json.loads(printed)
    env = {**os.environ, "OMP_NUM_THREADS": str(next(iter(estimate["pilot"]["models"].values()))["threads"])}
    with LoadSampler() as load:
        done = subprocess.run(
            [sys.executable, "-c", _TRIAL, config, json.dumps(overrides)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.nice(RAY_WORKER_NICENESS),
            check=True,
        )
    trial = json.loads(done.stdout)
    row = {"config": config, "overrides": overrides, "pilot_wall": pilot_wall, "pilot_load": pilot_load}
    row["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    return row | {"trial_load": load.mean, "estimate": estimate, "trial": trial}


def collect_rows(out: Path) -> list[dict]:
    """Every job's row under `out` (jobs may run as separate processes), in the order of JOBS; a job whose
    search still runs gets a partial row from its saved pilot and the trials finished so far."""
    rows = []
    for name, (config, overrides, what) in JOBS.items():
        folder = out / name
        if (folder / "row.json").is_file():
            rows.append(json.loads((folder / "row.json").read_text()))
        elif (folder / "pilot.json").is_file() and (folder / "study.journal").is_file():
            pilot_wall, pilot_load, estimate = json.loads((folder / "pilot.json").read_text())
            command = f"foretune search {config}" + "".join(f" --set {pair}" for pair in overrides)
            actual = study_actuals(folder, estimate["config"])
            rows.append(
                {"name": name, "what": what, "command": command, "pilot_wall": pilot_wall, "pilot_load": pilot_load}
                | {"search_wall": None, "search_load": os.getloadavg()[0], "estimate": estimate, "actual": actual}
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="default,small", help="comma-separated: " + ", ".join(JOBS))
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench-estimate")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write-only", action="store_true", help="Only rewrite the results from finished jobs.")
    parser.add_argument("--reuse-pilot", action="store_true", help="Keep a job's saved pilot; rerun its search only.")
    parser.add_argument("--one-trial", action="store_true", help="Only the pilot and one full trial of --config.")
    parser.add_argument("--config", default="configs/default.yaml", help="The config of --one-trial.")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="k=v overrides of --one-trial.")
    args = parser.parse_args()
    if args.one_trial:
        args.out.mkdir(parents=True, exist_ok=True)
        overrides = dict(pair.split("=", 1) for pair in args.sets)
        row = one_trial(args.config, overrides, args.out)
        (args.out / "one-trial.json").write_text(json.dumps(row, indent=2))
        write_one_trial(row, args.results)
        print("\n".join(one_trial_section(row)))
        return
    if args.write_only:
        write_results(collect_rows(args.out), args.results)
        return
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        sys.exit(f"unknown job(s) {unknown}; known: {', '.join(JOBS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        row = run_job(name, args.out, reuse_pilot=args.reuse_pilot)
        (args.out / name / "row.json").write_text(json.dumps(row, indent=2))
        write_results(collect_rows(args.out), args.results)
    print(args.results.read_text())


if __name__ == "__main__":
    main()
