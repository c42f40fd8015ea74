"""What a driver's read of the study's other trials costs (README, "Several drivers on one study").

Before each trial's first verdict (and at most every 10 s before later ones) a driver reads the trials the other
drivers ran: `storage.past_trials(study, other_than=<its tag>)`. This times that read on a real PostgreSQL server
(started here as the tests start theirs: `initdb` + `pg_ctl`, on 127.0.0.1) and on a journal file, for studies of
`--sizes` trials written as drivers write them: 10 evaluations each (intermediate values), the other metrics per
evaluation (`extras`: eval and train loss), the driver's tag, the early verdict's attributes, the costs; a quarter
of the trials are this driver's own (read and skipped), a tenth are still running.

    .venv/bin/python benchmarks/storage_read.py --sizes 100 300 1000 --out /tmp/storage_read.md
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution, IntDistribution

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from foretune.keys import DRIVER_ATTR, EXTRAS_ATTR  # noqa: E402
from foretune.search.storage import open_storage, past_trials  # noqa: E402
from tests.postgres_server import PASSWORD_ENV, PostgresDB, _free_port, find_bin_dir  # noqa: E402

THIS_DRIVER, OTHER_DRIVER = "this-host:1:0-1", "other-host:2:0-1"
SPACE = {"learning_rate": FloatDistribution(1e-4, 1e-2, log=True), "lora.r": IntDistribution(4, 16)}


def fill(study: optuna.Study, trials: int) -> None:
    """`trials` trials as foretune's searchers record them (see the module docstring)."""
    for i in range(trials):
        trial = study.ask(SPACE)
        trial.set_user_attr(DRIVER_ATTR, THIS_DRIVER if i % 4 == 0 else OTHER_DRIVER)
        steps = range(10, 101, 10) if i % 3 == 0 else (10, 20)  # a third run to the end, the rest stop at 20%
        extras = {"eval_loss": {}, "train_loss": {}}
        for step in steps:
            trial.report(1.0 / step + i * 1e-4, step)
            extras["eval_loss"][str(step)] = 2.0 / step
            extras["train_loss"][str(step)] = 2.5 / step
        trial.set_user_attr(EXTRAS_ATTR, extras)
        for key, value in {"early_score": 0.1, "early_decision": "kept", "predicted_final": 0.5}.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("cost.device_hours", 0.01 * len(steps))
        if i % 10 == 9:
            continue  # still running
        if len(steps) == 10:
            study.tell(trial, 1.0 / 100 + i * 1e-4)
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)


def time_reads(storage_url: str, name: str, trials: int, repeats: int) -> dict:
    """Fill a study with a first handle, read it with another (as another driver's process would)."""
    writer = optuna.create_study(study_name=name, storage=open_storage(storage_url), direction="minimize")
    fill(writer, trials)
    reader = optuna.load_study(study_name=name, storage=open_storage(storage_url))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        read = past_trials(reader, other_than=THIS_DRIVER)
        seconds.append(time.perf_counter() - start)
    return {
        "trials": trials,
        "read": len(read),
        "median_ms": 1000 * statistics.median(seconds),
        "max_ms": 1000 * max(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="foretune-storage-read-"))
    bin_dir = find_bin_dir()
    server = None
    if bin_dir is not None:
        pg_folder = Path(tempfile.mkdtemp(prefix="foretune-pg-"))  # handed to the `postgres` user when run as root
        server = PostgresDB(bin_dir, pg_folder, _free_port(), secrets.token_urlsafe(18))
        os.environ[PASSWORD_ENV] = server.password
        server.start()
    try:
        for size in args.sizes:
            backends = {"journal": str(folder / f"study-{size}.journal")}
            if server is not None:
                backends["PostgreSQL"] = server.url
            for backend, url in backends.items():
                row = {"backend": backend} | time_reads(url, f"read-{size}", size, args.repeats)
                print(row, flush=True)
                rows.append(row)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    lines = ["| backend | trials in the study | trials read (not this driver's) | median ms per read | max ms |"]
    lines.append("|---|---|---|---|---|")
    lines += [
        f"| {r['backend']} | {r['trials']} | {r['read']} | {r['median_ms']:.0f} | {r['max_ms']:.0f} |" for r in rows
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
