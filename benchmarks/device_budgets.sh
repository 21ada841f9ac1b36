#!/usr/bin/env bash
# Pruned during fit to device budgets (#11): VGG-16-BN x0.25 and ResNet-20 to
# each flash budget (bytes of the int8 .tflite) and each TFLite Micro arena
# budget, and beside each flash run a parameter-ratio run removing the same
# fraction of parameters; then the table and the accuracy-vs-bytes plot.
#   bash benchmarks/device_budgets.sh [EPOCHS] [SEED] [MODELS]
# Budgets (bytes, space-separated) come from FLASH and ARENA, by default
# FLASH=65536 ARENA=24576 (set empty for none); RATIO_RUNS=0 leaves out the
# parameter-ratio runs. E.g. more points for the plot:
#   FLASH="32768 131072" ARENA=32768 RATIO_RUNS=0 \
#     bash benchmarks/device_budgets.sh 10 0 vgg16
# Runs whose JSON exists are skipped, so the script resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-30}
SEED=${2:-0}
MODELS=${3:-"vgg16 resnet20"}
FLASH=${FLASH-65536}
ARENA=${ARENA-24576}
RATIO_RUNS=${RATIO_RUNS:-1}
OUT=benchmarks/results/device_budgets_e${EPOCHS}
mkdir -p "$OUT"
run() {  # model, then accuracy.py flags
  local model=$1; shift
  local width=0.25; [ "$model" = resnet20 ] && width=1
  local dir="$OUT/$model"
  mkdir -p "$dir"
  python benchmarks/accuracy.py --method=tfprune --model="$model" \
    --width="$width" --epochs="$EPOCHS" --seed="$SEED" \
    --results_dir="$dir" "$@" 2>&1 \
    | grep --line-buffered -v -E \
        "^(W|I)[0-9]{4}|cpu_feature|rebuild TensorFlow|^WARNING: All" \
    > "$dir/log_$(echo "$*" | tr -c 'a-z0-9\n' '_').txt"
}
for model in $MODELS; do
  for bytes in $FLASH; do
    run "$model" --flash_bytes="$bytes"
    [ "$RATIO_RUNS" = 0 ] && continue
    removed=$(python -c "import json,sys; print(round(json.load(open(sys.argv[1]))['removed']['params'], 4))" \
      "$OUT/$model/tfprune_flash${bytes}_s${SEED}.json")
    run "$model" --metric=params --target="$removed"
  done
  for bytes in $ARENA; do
    run "$model" --arena_bytes="$bytes"
  done
done
python benchmarks/collect_device_budgets.py --results_dir="$OUT"
