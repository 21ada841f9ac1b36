"""What users reach for today: tensorflow-model-optimization's magnitude pruning.

    pip install tf-keras==2.21.* tensorflow-model-optimization
    python benchmarks/tfmot_baseline.py --seed=0 --epochs=30 \
        --results_dir=benchmarks/results/accuracy_e30

tfmot needs Keras 2, so this script runs in its own process with
`TF_USE_LEGACY_KERAS=1` and builds the same VGG-16-BN (x --width) in
`tf_keras`. Same data, epochs, optimizer (SGD + Nesterov, weight decay
5e-4, linear warm-up over one epoch to --learning_rate, cosine to 0) as
`benchmarks/accuracy.py`. `prune_low_magnitude` with `PolynomialDecay`
from 0 to --target sparsity (every Conv2D and Dense kernel) between the
same warm-up and ramp fractions as tfprune's schedule, `strip_pruning`,
full-integer int8 conversion. Writes `tfmot_params<target>_s<seed>.json`
and `.tflite` beside the other methods; the JSON holds the float and int8
accuracy, the `.tflite` bytes, its gzipped bytes and the LiteRT latency, and
the same three numbers for the tfprune `.tflite` of that seed if present
(pruning zeros weights but keeps every channel, so only gzip shrinks it).
"""

import gzip
import json
import os
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # before TensorFlow: tf.keras = Keras 2
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

flags.DEFINE_float("width", 0.25, "Width multiplier of VGG-16-BN.")
flags.DEFINE_float("target", 0.94, "Final sparsity of every kernel.")
flags.DEFINE_integer("epochs", 30, "Training epochs.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("data_dir", "../shared/datasets/cifar10",
                    "CIFAR-10 folder (see tfprune.data.cifar10_splits).")
flags.DEFINE_integer("val_size", 5000, "Training examples held out.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("train_limit", 0, "Use only this many training examples "
                     "(0: all; for smoke tests).")
flags.DEFINE_float("learning_rate", None, "Peak SGD learning rate (0.1 "
                   "after a one-epoch warm-up; with --init_from 0.02 at "
                   "once, as tfprune's fine-tune recipe).")
flags.DEFINE_float("warmup", None, "Fraction of training before pruning "
                   "(0.1; with --init_from 0).")
flags.DEFINE_float("ramp", None, "Fraction of training the sparsity ramps "
                   "(0.6; with --init_from 1: the tutorial's PolynomialDecay "
                   "ends at the last step).")
flags.DEFINE_string("init_from", None, "Start from this trained Keras 3 "
                    ".keras VGG-16-BN (its weights copied into the tf_keras "
                    "model): the fine-tune flow of tfmot's tutorial.")
flags.DEFINE_string("row", None, "Name the run tfmot_<row>_s<seed> (e.g. "
                    "macs0.5: the tfprune row whose removed parameters "
                    "--target matches). Default params<target>.")
flags.DEFINE_integer("latency_runs", 200, "LiteRT invocations per timing "
                     "(the fastest of 5 timings counts).")
flags.DEFINE_string("results_dir", "benchmarks/results/accuracy",
                    "Where the JSON and .tflite go.")
FLAGS = flags.FLAGS


def vgg16_tf_keras(keras, width):
    """tfprune.models.vgg16_cifar, layer for layer, in tf_keras."""
    from tfprune.models import CIFAR10_MEAN, CIFAR10_STD, VGG16_PLAN

    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Normalization(
        mean=[255.0 * m for m in CIFAR10_MEAN],
        variance=[(255.0 * s) ** 2 for s in CIFAR10_STD])(inputs)
    for block in VGG16_PLAN:
        for channels in block:
            x = keras.layers.Conv2D(max(1, int(round(channels * width))), 3,
                                    padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def file_numbers(tflite_bytes):
    from tfprune.device import latency  # the same timing as tfprune's tables

    return {"tflite_bytes": len(tflite_bytes),
            "gzip_bytes": len(gzip.compress(tflite_bytes, 9)),
            "latency_ms_litert": latency.time_tflite(
                tflite_bytes, "litert", runs=FLAGS.latency_runs)}


def trained_weights(path, model):
    """The weights of the Keras 3 model at `path`, in `model`'s order
    (the same layers, so the same weights and shapes), or an error."""
    import keras as keras3  # beside tf_keras: Keras 3 reads its own file

    weights = keras3.models.load_model(path, compile=False).get_weights()
    shapes = [w.shape for w in weights]
    expected = [tuple(w.shape) for w in model.get_weights()]
    if shapes != expected:
        raise app.UsageError(
            f"--init_from={path} is not VGG-16-BN at --width={FLAGS.width}: "
            f"{len(shapes)} weights, expected {len(expected)} of this model's "
            "shapes.")
    return weights


def pruned_weights(wrapped, base):
    """`wrapped`'s weights, with `base`'s values for every variable of the
    same name (the pruning wrappers' masks and thresholds, which `base`
    lacks, keep their initial values)."""
    values = {v.name: v.numpy() for v in base.weights}
    return [values.get(v.name, v.numpy()) for v in wrapped.weights]


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    from tfprune import convert, data
    from tfprune.pipeline import write_atomically

    keras = tf.keras
    fine_tune = bool(FLAGS.init_from)
    peak = FLAGS.learning_rate or (0.02 if fine_tune else 0.1)
    warmup = FLAGS.warmup if FLAGS.warmup is not None else (
        0.0 if fine_tune else 0.1)
    ramp = FLAGS.ramp if FLAGS.ramp is not None else (
        1.0 if fine_tune else 0.6)
    row = FLAGS.row or f"params{FLAGS.target:g}"
    name = f"tfmot_{row}_s{FLAGS.seed}"
    report_path = os.path.join(FLAGS.results_dir, name + ".json")
    if os.path.exists(report_path):
        print(f"{report_path} exists; skipping.")
        return
    keras.utils.set_random_seed(FLAGS.seed)
    train, val = data.cifar10_pipelines(
        FLAGS.data_dir, FLAGS.val_size, FLAGS.batch_size, FLAGS.seed,
        FLAGS.train_limit)
    steps_per_epoch = int(train.cardinality())
    steps = steps_per_epoch * FLAGS.epochs
    if fine_tune:
        schedule = keras.optimizers.schedules.CosineDecay(peak, steps)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=steps - steps_per_epoch, warmup_target=peak,
            warmup_steps=steps_per_epoch)
    # tfmot prunes at steps begin + k * frequency only: end on one of them
    # so that the final sparsity is reached.
    begin, frequency = int(warmup * steps), 100
    end = min(int((warmup + ramp) * steps), steps - 1)
    end = begin + frequency * max((end - begin) // frequency, 1)
    sparsity = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=FLAGS.target,
        begin_step=begin, end_step=end, frequency=frequency)
    def wrap(layer):  # tfmot's documented way to prune some layers only
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=sparsity)
        return layer

    base = vgg16_tf_keras(keras, FLAGS.width)
    if fine_tune:
        base.set_weights(trained_weights(FLAGS.init_from, base))
    model = keras.models.clone_model(base, clone_function=wrap)
    if fine_tune:  # clone_model makes new weights; the wrappers keep names
        model.set_weights(pruned_weights(model, base))
    model.compile(
        keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                             weight_decay=5e-4),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    start = time.time()
    history = model.fit(
        train, validation_data=val, epochs=FLAGS.epochs, verbose=2,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    seconds = time.time() - start
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    kernels = [w for layer in stripped.layers for w in layer.get_weights()[:1]
               if type(layer).__name__ in ("Conv2D", "Dense")]
    zeros = sum(int(np.sum(k == 0)) for k in kernels)
    total = sum(k.size for k in kernels)
    images = np.concatenate([x.numpy() for x, _ in val])
    labels = np.concatenate([y.numpy() for _, y in val])
    float_logits = stripped.predict(images, batch_size=256, verbose=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(stripped)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [images[i:i + 1]] for i in range(min(200, len(images))))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite_bytes = converter.convert()
    logits = convert.run_tflite(tflite_bytes, images)
    report = {
        "method": "tfmot", "seed": FLAGS.seed, "width": FLAGS.width,
        "target": FLAGS.target, "metric": "params", "epochs": FLAGS.epochs,
        "row": row, "init_from": FLAGS.init_from,
        "schedule": {"learning_rate": peak, "warmup": warmup, "ramp": ramp},
        "kernel_sparsity": zeros / total,
        "params": int(stripped.count_params()),
        "val_accuracy_float": float(np.mean(
            np.argmax(float_logits, -1) == labels)),
        "val_accuracy_int8_litert": float(np.mean(
            np.argmax(logits, -1) == labels)),
        **file_numbers(tflite_bytes),
        "seconds": seconds,
        "history": {k: [float(v) for v in vs]
                    for k, vs in history.history.items()},
        "command": provenance.command(),
        "commit": provenance.commit(),
    }
    tfprune_file = os.path.join(
        FLAGS.results_dir, f"tfprune_{row}_s{FLAGS.seed}.tflite")
    if os.path.exists(tfprune_file):
        with open(tfprune_file, "rb") as f:
            report["tfprune_same_seed"] = file_numbers(f.read())
    os.makedirs(FLAGS.results_dir, exist_ok=True)

    def write_tflite(path):
        with open(path, "wb") as f:
            f.write(tflite_bytes)

    def write_report(path):
        with open(path, "w") as f:
            json.dump(report, f, indent=1)

    write_atomically(os.path.join(FLAGS.results_dir, name + ".tflite"),
                     write_tflite)
    write_atomically(report_path, write_report)
    print(json.dumps({k: v for k, v in report.items() if k != "history"},
                     indent=1))


if __name__ == "__main__":
    app.run(main)
