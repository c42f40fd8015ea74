#!/usr/bin/env bash
# foretune's GPU paths on one CUDA machine, with the built-in model: the LoRA tests on CUDA, `foretune train` with
# bf16 (auto) and without, a Ray Tune search of four trials per GPU (gpus_per_trial 0.25) on AE-110K products, and
# the estimate of that search (`foretune report` compares the two when estimate.json is copied beside the study).
# Results: benchmarks/results/gpu_h200.md (how it was run on a machine with no network: the wheels carried).
#   PATH=.venv/bin:$PATH bash benchmarks/gpu_check.sh [OUT] [AE110K_FOLDER]   # python3: one that imports foretune
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/gpu-check}
ae110k=${2:-../shared/data/product-attributes/ae110k-opentag}
mkdir -p "$out"
step() { echo; echo "=== $(date +%T) $*"; }
step environment
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
step the LoRA tests on CUDA
timeout 300 python3 -m pytest -q -p no:cacheprovider tests/trainers/test_lora.py 2>&1 | tail -15
for bf16 in auto off; do
    step "foretune train configs/default.yaml, train.bf16=$bf16"
    (time timeout 300 python3 -m foretune.cli train configs/default.yaml --set train.bf16=$bf16 --out "$out/train_$bf16") 2>&1 | tail -30
done
sets=(--set "data.source=$ae110k" --set search.trials=8 --set train.max_steps=200 --set data.max_eval_samples=64
      --set data.max_test_samples=200 --set resources.gpus_per_trial=0.25 --set resources.cpus_per_trial=3
      --set search.max_concurrent_trials=4)
step "foretune search configs/gpu.yaml, four trials per GPU"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 15 >"$out/nvidia_smi.csv" &
sampler=$!
(time timeout 1200 python3 -m foretune.cli search configs/gpu.yaml "${sets[@]}" --out "$out/search") 2>&1 | tail -40
kill $sampler
step "foretune estimate of the same search"
(time timeout 600 python3 -m foretune.cli estimate configs/gpu.yaml "${sets[@]}" --out "$out/estimate") 2>&1 | tail -25
cp "$out/estimate/estimate.json" "$out/search/" && python3 -m foretune.cli report "$out/search" | tail -20
