#!/usr/bin/env bash
# CPU-scale accuracy at a budget: VGG-16-BN x WIDTH on CIFAR-10 (validation =
# last 5,000 training images), trained for EPOCHS epochs each:
#   1. tfprune: pruned to TARGET of the parameters during one run;
#   2. the unpruned model;
#   3. a uniformly thinner VGG-16-BN with at most the pruned model's
#      parameters, trained from scratch;
#   4. L1-norm filter pruning (Li et al. 2017): one-shot at 2/3 of training,
#      then fine-tuning;
#   5. BN-scale pruning (Network Slimming's |gamma| ranking, without its
#      sparsity penalty): one-shot at 2/3 of training, then fine-tuning.
#   bash benchmarks/vgg16_cifar10.sh [DATA_DIR] [WIDTH] [EPOCHS] [TARGET]
# Paper scale (GPU): WIDTH=1 EPOCHS=160. Runs whose report exists are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets/cifar10}
WIDTH=${2:-0.25}
EPOCHS=${3:-15}
TARGET=${4:-0.94}
OUT=benchmarks/results/vgg16_w${WIDTH}_e${EPOCHS}
mkdir -p "$OUT"

run() {  # name, width, target, [extra flags]
  if [ ! -f "$OUT/report_$1.json" ]; then
    python recipes/cifar10.py --model=vgg16 --width="$2" --epochs="$EPOCHS" \
      --target="$3" ${4:-} --metric=params --data_dir="$DATA" --out_dir="runs/vgg16_$1" \
      --tflm_samples=500 2>&1 | grep -v -E "^(W|I)[0-9]{4}|cuda|cpu_feature|rebuild TensorFlow" \
      | python benchmarks/clean_log.py > "$OUT/$1.log"
    cp "runs/vgg16_$1/report.json" "$OUT/report_$1.json"
  fi
}

run "target_$TARGET" "$WIDTH" "$TARGET"
run "target_0" "$WIDTH" 0
THIN=$(python - "$OUT/report_target_$TARGET.json" 2>/dev/null <<'PY'
import json, sys
import tfprune
budget = json.load(open(sys.argv[1]))["after"]["params"]
low, high = 10, 1000  # width in thousandths; bisect for the widest that fits
while high - low > 1:
    mid = (low + high) // 2
    fits = tfprune.models.vgg16_cifar(width=mid / 1000).count_params() <= budget
    low, high = (mid, high) if fits else (low, mid)
print(low / 1000)
PY
)
run "uniform" "$THIN" 0
run "l1_oneshot" "$WIDTH" "$TARGET" "--importance=l1 --warmup=0.6667 --ramp=0"
run "bn_oneshot" "$WIDTH" "$TARGET" "--importance=bn --warmup=0.6667 --ramp=0"

python - "$OUT" "$TARGET" "$THIN" <<'PY'
import json, sys
out, target, thin = sys.argv[1], sys.argv[2], sys.argv[3]
names = {f"target_{target}": f"tfprune, −{float(target):.0%} params",
         "target_0": "unpruned",
         "uniform": f"uniform width ×{thin} from scratch",
         "l1_oneshot": "L1-norm filters, one-shot at 2/3, fine-tuned",
         "bn_oneshot": "BN gamma, one-shot at 2/3, fine-tuned"}
lines = ["| model | params | MACs | val acc float | val acc int8 (LiteRT) | "
         "int8 (TFLM, 500) | .tflite bytes | TFLM arena bytes |",
         "|---|---|---|---|---|---|---|---|"]
for key, label in names.items():
    r = json.load(open(f"{out}/report_{key}.json"))
    lines.append(
        f"| {label} | {r['after']['params']:,} | {r['after']['macs']:,} | "
        f"{r['val_accuracy_float']:.4f} | {r['val_accuracy_int8_litert']:.4f} | "
        f"{r['val_accuracy_int8_tflm']:.4f} | {r['tflite_bytes']:,} | "
        f"{format(r['tflm_arena_bytes'], ',') if 'tflm_arena_bytes' in r else 'n/a'} |")
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
