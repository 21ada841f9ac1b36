"""Prune a CNN on CIFAR-10 to a target ratio, shrink, export int8 TFLite.

Models: VGG-16-BN (the paper's), ResNet-20/56, a MobileNetV2-style net.

    python recipes/cifar10.py --model=vgg16 --width=0.25 --target=0.94 \
        --epochs=15 --data_dir=../shared/datasets/cifar10 --out_dir=runs/vgg

--data_dir holding train-*.tfrecord shards (keys image/encoded,
image/class/label) is read directly; otherwise tensorflow_datasets loads
cifar10 there (downloading it if needed). The validation split is the last
--val_size training examples. --target=0 trains the unpruned baseline.
Paper scale (GPU): --width=1 --epochs=160 --batch_size=128.

Prune a trained model with a short fine-tune instead (the fine-tune recipe,
tfprune.pipeline.Recipe.fine_tune; docs/prune-a-trained-model.md):

    python recipes/cifar10.py --init_from=runs/vgg_unpruned/model.keras \
        --metric=macs --target=0.5 --epochs=5 --out_dir=runs/vgg_ft

Several ratios at once: --target=params=0.941,macs=0.762 (every one met).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow

from absl import app, flags  # noqa: E402

from tfprune.pipeline.flags import define_training_flags  # noqa: E402

FLAGS = flags.FLAGS
MODELS = {
    "vgg16": lambda width: tfprune_models().vgg16_cifar(width=width),
    "resnet20": lambda width: tfprune_models().resnet_cifar(20, width=width),
    "resnet56": lambda width: tfprune_models().resnet_cifar(56, width=width),
    "mobilenet_v2": lambda width: tfprune_models().mobilenet_v2_cifar(
        width=width),
    # MLPerf Tiny's image classifier (78,666 parameters at width 1).
    "resnet8": lambda width: tfprune_models().resnet8_tiny(width=width),
}


def tfprune_models():
    import tfprune

    return tfprune.models


define_training_flags()
flags.DEFINE_string("target", "0.94", "Fraction of --metric to remove (0: "
                    "none), or several at once: params=0.941,macs=0.762.")
flags.DEFINE_string("device", None, "Instead of --target: prune until the "
                    "int8 model fits a device preset's flash and RAM "
                    "(tfprune.get_device: cortex-m0plus, cortex-m4, "
                    "cortex-m7, esp32-s3); --flash_bytes/--arena_bytes "
                    "override its numbers.")
flags.DEFINE_float("latency_ms", 0, "Instead of --target (or with the "
                   "byte budgets): the longest int8 inference in ms, as "
                   "--latency_table predicts it (0: no limit).")
flags.DEFINE_string("latency_table", "tflm",
                    "For --latency_ms: 'tflm' or 'litert' profiles the "
                    "model on this host (tfprune.profile_latency), or the "
                    "path of a JSON table measured on your device "
                    "(tfprune.LatencyTable.get_config()).")
flags.DEFINE_enum("importance", "scores", ["scores", "l1", "bn", "random"],
                  "Channel ranking: learned gate scores, filter L1 norm, "
                  "BatchNorm |gamma|, or fixed random values.")
flags.DEFINE_string("out_dir", "runs/cifar10", "Output folder.")


def load_latency_table(model):
    """--latency_table: profiled here, or read from a JSON file."""
    import json

    import tfprune

    if FLAGS.latency_table in ("tflm", "litert"):
        table = tfprune.profile_latency(model, runtime=FLAGS.latency_table)
        print(f"Latency table ({FLAGS.latency_table}, this host): "
              f"{json.dumps(table.get_config())}")
        return table
    if not os.path.isfile(FLAGS.latency_table):
        raise app.UsageError(
            "--latency_table must be 'tflm', 'litert' or a JSON file. "
            f"Received: --latency_table={FLAGS.latency_table!r} (no such "
            "file).")
    with open(FLAGS.latency_table) as f:
        return tfprune.LatencyTable.from_config(json.load(f))


def parse_target(text):
    """--target: a fraction, or `metric=fraction,...` (a dict)."""
    try:
        if "=" not in text:
            return float(text)
        pairs = [item.split("=") for item in text.split(",")]
        return {metric.strip(): float(value) for metric, value in pairs}
    except ValueError:
        raise app.UsageError(
            "--target must be a fraction (0.94) or metric=fraction pairs "
            f"(params=0.941,macs=0.762). Received: --target={text!r}"
        ) from None


def recipe():
    """The fine-tune recipe with --init_from, else the one from scratch;
    the flags given override it."""
    from tfprune.pipeline import Recipe

    changes = {k: FLAGS[k].value for k in (
        "epochs", "learning_rate", "warmup", "ramp")
        if FLAGS[k].value is not None}
    if FLAGS.init_from:
        return Recipe.fine_tune(**changes)
    return Recipe(**changes)


def starting_model():
    """--init_from's trained model, or a fresh --model at --width."""
    import keras

    if not FLAGS.init_from:
        return MODELS[FLAGS.model](FLAGS.width)
    if not os.path.isfile(FLAGS.init_from):
        raise app.UsageError(
            f"--init_from must be a trained .keras file. Received: "
            f"--init_from={FLAGS.init_from!r} (no such file).")
    return keras.models.load_model(FLAGS.init_from, compile=False)


def main(argv):
    del argv
    import keras

    from tfprune import DeviceBudget, data
    from tfprune.pipeline import print_summary, train_prune_export

    target = parse_target(FLAGS.target)
    keras.utils.set_random_seed(FLAGS.seed)
    keras.mixed_precision.set_global_policy(FLAGS.precision)
    model = starting_model()  # a bad --init_from fails before the data loads
    train, val = data.cifar10_pipelines(
        FLAGS.data_dir, FLAGS.val_size, FLAGS.batch_size, FLAGS.seed,
        FLAGS.train_limit)
    teacher = FLAGS.teacher
    if teacher and teacher not in ("unpruned", "warmup", "initial"):
        teacher = keras.models.load_model(teacher)
    latency_table = load_latency_table(model) if FLAGS.latency_ms else None
    flash_bytes, arena_bytes = FLAGS.flash_bytes, FLAGS.arena_bytes
    if FLAGS.device:
        import tfprune

        device = tfprune.get_device(FLAGS.device)
        flash_bytes = flash_bytes or device.flash_bytes
        arena_bytes = arena_bytes or device.ram_bytes
    report = train_prune_export(
        model, train, val, FLAGS.out_dir, target=target,
        metric=FLAGS.metric, recipe=recipe(), tflm_samples=FLAGS.tflm_samples,
        importance=FLAGS.importance,
        prune_options={"seed": FLAGS.seed}, teacher=teacher,
        shrink_for_hold=FLAGS.shrink_for_hold, lr_rewind=FLAGS.lr_rewind,
        shrink_during_training=FLAGS.shrink_during_training,
        device=DeviceBudget(
            flash_bytes=flash_bytes or None, arena_bytes=arena_bytes or None,
            latency_ms=FLAGS.latency_ms or None, latency_table=latency_table)
        if flash_bytes or arena_bytes or FLAGS.latency_ms else None)
    print_summary(report, (
        "before", "after", "removed", "val_accuracy_float",
        "val_accuracy_int8_litert", "val_accuracy_int8_tflm", "tflite_bytes",
        "tflm_arena_bytes", "latency_ms", "layer_widths", "seconds"),
        FLAGS.out_dir)


if __name__ == "__main__":
    app.run(main)
