#!/usr/bin/env bash
# Run the README's default job (a real search on configs/default.yaml) with one search seed, then write its
# figures (wall and CPU time, rank agreement, interval coverage, compute saved, best kept) to
# benchmarks/results/default_job/seed<SEED>.json and rebuild the seed table in benchmarks/results/default_job.md.
# The quality figures do not depend on load; the wall time does (time it alone), the CPU time barely.
#   bash benchmarks/default_job.sh [SEED] [RUN_DIR]        # SEED: search.seed (default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
# Ray starts its trial workers at nice 15; at 0 they run at the priority of this script (alone: no difference).
export RAY_worker_niceness=${RAY_worker_niceness:-0}
seed=${1:-0}
out=${2:-runs/bench-default-job-s$seed}
rm -rf "$out"
bash scripts/setup.sh >/dev/null
load_before=$(cut -d' ' -f1 /proc/loadavg)
start=$(date +%s)
.venv/bin/python benchmarks/cpu_seconds.py --out "$out.cpu.json" -- \
    .venv/bin/foretune search configs/default.yaml --set "search.seed=$seed" --out "$out"
wall=$(( $(date +%s) - start ))
echo "default job, seed $seed: $wall s wall (1-min load average before: $load_before, after: $(cut -d' ' -f1 /proc/loadavg))"
.venv/bin/python benchmarks/default_job_figures.py "$out" --seed "$seed" --wall "$wall" --load-before "$load_before" \
    --cpu "$out.cpu.json"
