#!/usr/bin/env bash
# CPU-scale accuracy at a budget: VGG-16-BN x WIDTH on CIFAR-10 (validation =
# last 5,000 training images), pruned to TARGET of the parameters in one run,
# against the unpruned model trained for the same number of epochs.
#   bash benchmarks/vgg16_cifar10.sh [DATA_DIR] [WIDTH] [EPOCHS] [TARGET]
# Paper scale (GPU): WIDTH=1 EPOCHS=160.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/datasets/cifar10}
WIDTH=${2:-0.25}
EPOCHS=${3:-15}
TARGET=${4:-0.94}
OUT=benchmarks/results/vgg16_w${WIDTH}_e${EPOCHS}
mkdir -p "$OUT"
for t in "$TARGET" 0; do
  python recipes/cifar10.py --model=vgg16 --width="$WIDTH" --epochs="$EPOCHS" \
    --target="$t" --metric=params --data_dir="$DATA" --out_dir="runs/vgg16_t$t" \
    --tflm_samples=500 2>&1 | grep -v -E "^(W|I)[0-9]{4}|cuda|cpu_feature|rebuild TensorFlow" \
    > "$OUT/target_$t.log"
  cp "runs/vgg16_t$t/report.json" "$OUT/report_target_$t.json"
done
python - "$OUT" "$TARGET" <<'PY'
import json, sys
out, target = sys.argv[1], sys.argv[2]
rows = []
for t in (target, "0"):
    r = json.load(open(f"{out}/report_target_{t}.json"))
    rows.append((t, r["after"]["params"], r["removed"]["params"],
                 r["removed"]["macs"], r["val_accuracy_float"],
                 r["val_accuracy_int8_litert"], r["val_accuracy_int8_tflm"],
                 r["tflite_bytes"]))
lines = ["| target | params | params removed | MACs removed | val acc float | "
         "val acc int8 (LiteRT) | int8 (TFLM, 500) | .tflite bytes |",
         "|---|---|---|---|---|---|---|---|"]
for t, p, rp, rm, f, q, m, b in rows:
    lines.append(f"| {t} | {p:,} | {rp:.2%} | {rm:.2%} | {f:.4f} | {q:.4f} | "
                 f"{m:.4f} | {b:,} |")
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
