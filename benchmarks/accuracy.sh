#!/usr/bin/env bash
# The accuracy-at-a-budget protocol: every method, every seed, one after the
# other (runs whose JSON exists are skipped, so the script resumes), then the
# table and plots.
#   bash benchmarks/accuracy.sh [EPOCHS] [METRIC] [TARGET] [SEEDS] [METHODS]
# e.g. bash benchmarks/accuracy.sh 30 params 0.94 "0 1"
# scratch trains the architecture of the tfprune run of the same seed, so it
# comes after tfprune. METHODS may include tfmot (needs: pip install tf-keras==2.21.*
# tensorflow-model-optimization; it runs benchmarks/tfmot_baseline.py).
# Paper scale (GPU): add --width=1 --epochs=160 to the python line.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-30}
METRIC=${2:-params}
TARGET=${3:-0.94}
SEEDS=${4:-"0 1"}
METHODS=${5:-"unpruned tfprune l1 random slimming dcp thin scratch"}
OUT=benchmarks/results/accuracy_e${EPOCHS}
mkdir -p "$OUT"
for seed in $SEEDS; do
  for method in $METHODS; do
    if [ "$method" = tfmot ]; then  # Keras 2, its own process
      script=(benchmarks/tfmot_baseline.py)
    else
      script=(benchmarks/accuracy.py --method="$method" --metric="$METRIC")
    fi
    python "${script[@]}" --seed="$seed" --epochs="$EPOCHS" \
      --target="$TARGET" --results_dir="$OUT" 2>&1 \
      | grep -v -E "^(W|I)[0-9]{4}|cpu_feature|rebuild TensorFlow|^WARNING: All" \
      > "$OUT/${method}_${METRIC}${TARGET}_s${seed}.log"
  done
done
python benchmarks/collect_accuracy.py --results_dir="$OUT"
