"""Prune a small CNN on scikit-learn's bundled 8x8 digits: offline, ~1 minute.

    python recipes/digits.py                      # 90% of parameters removed
    python recipes/digits.py --target=0.8 --metric=macs --out_dir=runs/d80

Writes model.keras, model_int8.tflite and report.json into --out_dir.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_float("target", 0.9, "Fraction of --metric to remove (0: none).")
flags.DEFINE_enum("metric", "params", ["params", "macs", "channels"],
                  "What the target counts.")
flags.DEFINE_integer("epochs", 30, "Training epochs.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_float("learning_rate", 0.05, "Peak SGD learning rate (linear warm-up "
                   "over the first epoch, then cosine decay).")
flags.DEFINE_integer("val_size", 297, "Examples held out for validation.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("out_dir", "runs/digits", "Output folder.")


def main(argv):
    del argv
    import keras
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    import tfprune
    from tfprune.pipeline import print_summary, train_prune_export

    keras.utils.set_random_seed(FLAGS.seed)
    digits = load_digits()
    x = digits.images[..., None].astype("float32")  # pixels 0..16
    y = digits.target.astype("int32")
    order = np.random.default_rng(FLAGS.seed).permutation(len(x))
    x, y = x[order], y[order]
    n = len(x) - FLAGS.val_size
    # Same order in every epoch E of a run, resumed or not.
    shuffle = tfprune.EpochShuffle(seed=FLAGS.seed)
    train = shuffle(tf.data.Dataset.from_tensor_slices((x[:n], y[:n])),
                    buffer_size=n).batch(FLAGS.batch_size)
    val = tf.data.Dataset.from_tensor_slices((x[n:], y[n:])).batch(256)
    model = tfprune.models.small_cnn(input_shape=(8, 8, 1), num_classes=10,
                                     pixel_max=16.0)
    report = train_prune_export(
        model, train, val, FLAGS.out_dir, target=FLAGS.target,
        metric=FLAGS.metric, epochs=FLAGS.epochs,
        learning_rate=FLAGS.learning_rate, verbose=2, callbacks=[shuffle])
    print_summary(report, (
        "removed", "val_accuracy_float", "val_accuracy_int8_litert",
        "val_accuracy_int8_tflm", "tflite_bytes", "layer_widths"),
        FLAGS.out_dir)


if __name__ == "__main__":
    app.run(main)
