#!/usr/bin/env bash
# The MLPerf Tiny IC protocol: the benchmark's ResNet-8 on CIFAR-10, unpruned
# and at 1/2 and 1/4 of the reference int8 file's bytes (98,496 B) by every
# method, EPOCHS epochs, each seed; then summary.md and the plot.
#   bash benchmarks/mlperf_ic.sh [EPOCHS] [SEEDS] [METHODS]
# e.g. bash benchmarks/mlperf_ic.sh 10 "0 1"
# Runs whose JSON exists are skipped, so the script resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-10}
SEEDS=${2:-"0 1"}
METHODS=${3:-"tfprune l1 dcp thin"}
OUT=benchmarks/results/mlperf_ic
[ "$EPOCHS" = 10 ] || OUT=${OUT}_e${EPOCHS}
mkdir -p "$OUT"
common=(--model=resnet8 --width=1 --epochs="$EPOCHS" --results_dir="$OUT")
quiet() {
  grep --line-buffered -v -E \
    "^(W|I)[0-9]{4}|cpu_feature|rebuild TensorFlow|^WARNING: All" || true
}
for seed in $SEEDS; do
  python benchmarks/accuracy.py --method=unpruned --seed="$seed" \
    "${common[@]}" 2>&1 | quiet
  for flash in 49248 24624; do
    for method in $METHODS; do
      python benchmarks/accuracy.py --method="$method" --seed="$seed" \
        --flash_bytes="$flash" "${common[@]}" 2>&1 | quiet
    done
  done
done
python benchmarks/collect_mlperf_ic.py --results_dir="$OUT"
