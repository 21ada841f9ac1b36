"""Time spent after the last epoch of each `model.fit` call, before it returns.

    python benchmarks/studies/fit_end_stall.py --fits=5

`tfprune.fit` trains in segments, one `model.fit` call each, so whatever a
`fit` call costs beyond its epochs is paid once per rebuild. This calls
`fit` --fits times, one epoch each, on VGG-16-BN x0.25 with the recipe's
CIFAR-10 pipelines (train and validation, from --data_dir), and prints for
each call the time before `on_train_begin`, the epoch, and the time from
the last `on_epoch_end` until `fit` returns.

With --noautotune the pipelines run with tf.data's autotuning model off
(`tf.data.Options().autotune.enabled = False`): the wait is the iterator's
destructor waiting for the autotuning thread (a native stack dump shows
`RootDataset::Iterator::~Iterator` blocked on `Model::OptimizeLoop`).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import time  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_string("data_dir", "../shared/datasets/cifar10",
                    "CIFAR-10 image folder (the recipes' layout).")
flags.DEFINE_integer("fits", 5, "fit calls, one epoch each.")
flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("val_size", 5000, "Training examples held out.")
flags.DEFINE_bool("autotune", True, "Leave tf.data autotuning on.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    import tfprune
    from synthetic_batches import compiled
    from tfprune import data

    train, val = data.cifar10_pipelines(FLAGS.data_dir, FLAGS.val_size, 128,
                                        seed=0)
    if not FLAGS.autotune:
        import tensorflow as tf
        options = tf.data.Options()
        options.autotune.enabled = False
        train, val = train.with_options(options), val.with_options(options)
    model = compiled(tfprune.models.vgg16_cifar(width=FLAGS.width),
                     metrics=["accuracy"])
    marks = {}

    class Marks(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            marks["begin"] = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            marks["end"] = time.perf_counter()

    for call in range(FLAGS.fits):
        start = time.perf_counter()
        model.fit(train, epochs=1, verbose=0, validation_data=val,
                  callbacks=[Marks()])
        done = time.perf_counter()
        print(f"fit {call}: before on_train_begin "
              f"{marks['begin'] - start:.1f} s, epoch "
              f"{marks['end'] - marks['begin']:.1f} s, after the last "
              f"on_epoch_end {done - marks['end']:.1f} s", flush=True)


if __name__ == "__main__":
    app.run(main)
