"""Where an int8 classifier loses accuracy at its output: tied top logits.

    python benchmarks/studies/int8_ties.py \
        --results_dir=benchmarks/results/accuracy_e30

For every `.tflite` of an accuracy run in --results_dir (raw 0-255 pixels
in, int8 logits out), runs the validation images through LiteRT and prints
the output tensor's quantization step and range, the int8 top-1 accuracy,
and the share of images whose largest int8 logit is shared by two classes
or more (argmax then takes the first of them). A model whose logits span a
wide range gets a coarse step, and close classes fall on the same level.
Writes the table to <results_dir>/int8_ties.md.
"""

import glob
import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("results_dir", "benchmarks/results/accuracy",
                    "Folder of <run>.tflite files (with their <run>.json).")
flags.DEFINE_string("data_dir", "../shared/datasets/cifar10",
                    "CIFAR-10 training split (TFRecords or image folder).")
flags.DEFINE_integer("val_size", 5000, "Training examples held out, as in "
                     "benchmarks/accuracy.py.")
FLAGS = flags.FLAGS


def output_quantization(tflite_bytes):
    """`(scale, zero_point)` of the model's output tensor."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=tflite_bytes).get_output_details()[0]
    return details["quantization"]


def main(argv):
    del argv
    import numpy as np

    from tfprune import data
    from tfprune.convert import run_tflite

    paths = [p for p in sorted(glob.glob(
        os.path.join(FLAGS.results_dir, "*.tflite")))
        if os.path.exists(p[:-len(".tflite")] + ".json")]
    if not paths:
        raise app.UsageError(
            f"No <run>.tflite with its <run>.json in {FLAGS.results_dir}.")
    _, val = data.cifar10_splits(FLAGS.data_dir, FLAGS.val_size)
    images, labels = [], []
    for x, y in val.as_numpy_iterator():
        images.append(x.astype("float32"))
        labels.append(int(y))
    labels = np.array(labels)
    lines = [
        f"{len(labels)} validation images, LiteRT, 1 thread.",
        "",
        "| run | output step | output range | int8 top-1 | top logit tied |",
        "|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path, "rb") as f:
            tflite_bytes = f.read()
        scale, zero_point = output_quantization(tflite_bytes)
        logits = run_tflite(tflite_bytes, images)
        top = logits.max(axis=-1, keepdims=True)
        tied = float(np.mean((logits == top).sum(axis=-1) > 1))
        accuracy = float(np.mean(logits.argmax(axis=-1) == labels))
        lines.append(
            f"| {os.path.basename(path)[:-len('.tflite')]} | {scale:.4f} | "
            f"{(-128 - zero_point) * scale:.1f} .. "
            f"{(127 - zero_point) * scale:.1f} | {accuracy:.2%} | "
            f"{tied:.1%} |")
        print(lines[-1], flush=True)
    with open(os.path.join(FLAGS.results_dir, "int8_ties.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
