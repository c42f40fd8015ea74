#!/usr/bin/env bash
# The README's default job with one search seed, measured twice:
#   1. as shipped (`foretune search configs/default.yaml`, pruning on): wall time, compute saved, best kept, the
#      kept trials' finals against their 80% interval, zero-shot vs best test accuracy;
#   2. its pruning-off twin (`--set early_stage.enabled=false`): every trial is still predicted at 20% from the
#      trials finished so far, and runs to its final, so predicted final vs final can be measured on every trial
#      that got a prediction (no test evaluation: the twin only measures the 20% judgement).
# Then benchmarks/default_job_figures.py writes benchmarks/results/default_job/seed<SEED>.json and rebuilds the
# seed tables in benchmarks/results/default_job.md. The quality figures do not depend on load; the wall time does
# (time it alone): the 1-minute load average is sampled every 10 s during each part and its mean recorded.
#   bash benchmarks/default_job.sh [SEED] [RUN_DIR]        # SEED: search.seed (default 0)
#   PARTS=twin bash benchmarks/default_job.sh 1            # only the twin (PARTS=job: only the shipped job)
set -euo pipefail
cd "$(dirname "$0")/.."
# Ray starts its trial workers at nice 15; at 0 they run at the priority of this script (alone: no difference).
export RAY_worker_niceness=${RAY_worker_niceness:-0}
seed=${1:-0}
out=${2:-runs/bench-default-job-s$seed}
parts=${PARTS:-job twin}
bash scripts/setup.sh >/dev/null

# Run `foretune search` into $1 with the extra --set arguments after it; writes $1.timing.json.
timed_search() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$(dirname "$dir")" # the load sampler writes beside the run folder from the first second
    local loads="$dir.loads"
    (while true; do cut -d' ' -f1 /proc/loadavg >>"$loads"; sleep 10; done) &
    local sampler=$!
    local start
    start=$(date +%s)
    .venv/bin/foretune search configs/default.yaml --set "search.seed=$seed" "$@" --out "$dir"
    local wall=$(($(date +%s) - start))
    kill "$sampler" 2>/dev/null || true # a sampler that died must not end the script before its figures
    .venv/bin/python -c "import json, sys; loads = [float(x) for x in open(sys.argv[1])]; \
json.dump({'wall_seconds': int(sys.argv[2]), 'load_mean': round(sum(loads) / len(loads), 2), \
'load_max': max(loads)}, open(sys.argv[3], 'w'))" "$loads" "$wall" "$dir.timing.json"
    rm -f "$loads"
    echo "$dir: $wall s wall (1-min load average during it: $(cat "$dir.timing.json"))"
}

for part in $parts; do
    case $part in
    job) timed_search "$out" ;;
    twin) timed_search "$out-off" --set early_stage.enabled=false --set task.test_on_completion=false ;;
    *) echo "unknown part '$part' in PARTS (use job and/or twin)" >&2 && exit 2 ;;
    esac
done
# PARTS=job on a machine that never ran the twin: the seed file keeps the twin's recorded figures.
twin=()
if [[ -f "$out-off/study.journal" ]]; then twin=(--twin "$out-off"); fi
.venv/bin/python benchmarks/default_job_figures.py "$out" "${twin[@]}" --seed "$seed"
