#!/usr/bin/env bash
# Time the README's default job (a real search on configs/default.yaml) on this machine and print the
# per-trial durations from the study. Run it alone: other jobs on a 2-core box change the numbers.
#   bash benchmarks/default_job.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bench-default-job}
rm -rf "$out"
bash scripts/setup.sh >/dev/null
start=$(date +%s)
.venv/bin/foretune search configs/default.yaml --out "$out"
echo "default job: $(( $(date +%s) - start )) s wall"
.venv/bin/python - "$out" <<'PY'
import sys
import optuna
from foretune.search.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="demo", storage=open_storage(f"{sys.argv[1]}/study.journal"))
for t in study.trials:
    took = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else float("nan")
    print(f"trial {t.number}: {t.state.name:8s} {took:6.0f} s  value {t.value}")
PY
