#!/usr/bin/env bash
# The fine-tune protocol: the trained VGG-16-BN x0.25 of finetune_start/
# fine-tuned EPOCHS epochs to each budget by every method, each seed; then
# finetune.md and finetune.png over every finetune_e<E>/ folder.
#   bash benchmarks/finetune.sh [EPOCHS] [SEEDS] [BUDGETS] [METHODS]
# e.g. bash benchmarks/finetune.sh 5 "0 1"
# BUDGETS are metric:fraction pairs; METHODS are accuracy.py methods, plus
# tfprune_kd (self-distillation from the start model), dcp_kd and tfmot
# (unstructured, as many weights zeroed as the tfprune run of the same
# budget and seed removed; after it in METHODS; Keras 2 in its own venv:
# TFMOT_PYTHON=<venv>/bin/python with tf-keras==2.21.* and
# tensorflow-model-optimization). "unpruned" is the control: the start
# model fine-tuned the same way with no budget.
# Runs whose JSON exists are skipped, so the script resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-5}
SEEDS=${2:-"0 1"}
BUDGETS=${3:-"macs:0.5 macs:0.762 params:0.94"}
METHODS=${4:-"unpruned tfprune tfprune_kd dcp l1 l1oneshot random tfmot"}
START=benchmarks/results/finetune_start/unpruned_params0.94_s0.keras
OUT=benchmarks/results/finetune_e${EPOCHS}
mkdir -p "$OUT"
quiet() {  # TensorFlow's start-up chatter out, and no failure for no lines
  grep --line-buffered -v -E \
    "^(W|I)[0-9]{4}|cpu_feature|rebuild TensorFlow|^WARNING: All" || true
}
for budget in $BUDGETS; do
  metric=${budget%%:*}
  target=${budget##*:}
  for seed in $SEEDS; do
    for method in $METHODS; do
      case "$method" in
        tfmot)
          sparsity=$(python -c "import json, sys; print(round(json.load(
            open(sys.argv[1]))['removed']['params'], 2))" \
            "$OUT/tfprune_${metric}${target}_s${seed}.json")
          command=("${TFMOT_PYTHON:-python}" benchmarks/tfmot_baseline.py
                   --target="$sparsity" --row="${metric}${target}") ;;
        *_kd) command=(python benchmarks/accuracy.py --method="${method%_kd}"
                       --teacher=initial --metric="$metric"
                       --target="$target") ;;
        *) command=(python benchmarks/accuracy.py --method="$method"
                    --metric="$metric" --target="$target") ;;
      esac
      "${command[@]}" --init_from="$START" --epochs="$EPOCHS" \
        --seed="$seed" --results_dir="$OUT" 2>&1 | quiet
    done
  done
done
python benchmarks/collect_finetune.py --results_root=benchmarks/results
