"""Training speed of progressively shrunk training against masked training.

    python benchmarks/studies/shrink_speed.py --width=0.25 --epochs=10 \
        --train_limit=5120 > benchmarks/results/studies/shrink_speed.txt

Trains VGG-16-BN (width multiplier --width) on a CIFAR-10 subset, in one
process and on the same batches, three ways with the recipe's optimizer
(SGD + Nesterov, cosine) and TargetRatio schedule (warm-up 0.1, ramp 0.6,
then hold): (a) the unpruned model with `model.fit`; (b) the gated model
with `model.fit` and `TargetRatio(--target)`, masked to the end; (c) the
same with `tfprune.fit`, which rebuilds the network narrower as channels
settle. Prints each run's wall time (rebuilds and retraces included),
steps/s, epoch times, the ratios, and the removed fraction each ends at.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import time  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_float("target", 0.94, "Fraction of the parameters removed.")
flags.DEFINE_integer("epochs", 10, "Epochs per run.")
flags.DEFINE_integer("train_limit", 5120, "Training examples used.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_string("data_dir", os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "datasets", "cifar10"),
    "Folder of CIFAR-10 train-*.tfrecord shards.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    import tfprune
    from tfprune.data import cifar10_pipelines
    from tfprune.pipeline import learning_rate_schedule

    train, _ = cifar10_pipelines(FLAGS.data_dir, batch_size=FLAGS.batch_size,
                                 train_limit=FLAGS.train_limit)
    steps = int(train.cardinality())
    for _ in train:  # decode and cache the JPEGs before any timing
        pass

    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    def compiled(model):
        schedule = learning_rate_schedule(0.1, FLAGS.epochs * steps, steps)
        model.compile(keras.optimizers.SGD(schedule, momentum=0.9,
                                           nesterov=True, weight_decay=5e-4),
                      keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True), metrics=["accuracy"])
        return model

    def run(name, how):
        keras.utils.set_random_seed(0)
        model = tfprune.models.vgg16_cifar(width=FLAGS.width)
        timer = EpochTimes()
        start = time.perf_counter()
        trained, removed = how(model, timer)
        seconds = time.perf_counter() - start
        rate = FLAGS.epochs * steps / seconds
        epochs = " ".join(f"{t:.1f}" for t in timer.times)
        print(f"{name:<12} {seconds:7.1f} s  {rate:6.2f} steps/s  removed "
              f"{removed:.4f}  epochs (s): {epochs}", flush=True)
        return seconds

    def plain(model, timer):
        compiled(model).fit(train, epochs=FLAGS.epochs, verbose=0,
                            callbacks=[timer])
        return model, 0.0

    def pruned(fit):
        def how(model, timer):
            gated = compiled(tfprune.gate(model))
            history = fit(gated, train, epochs=FLAGS.epochs, verbose=0,
                          callbacks=[timer, tfprune.TargetRatio(
                              FLAGS.target, calibration_data=train)])
            small = tfprune.shrink(history.model)
            return small, 1 - small.count_params() / model.count_params()
        return how

    print(f"VGG-16-BN x{FLAGS.width}, {FLAGS.train_limit} CIFAR-10 examples, "
          f"{steps} steps/epoch, {FLAGS.epochs} epochs, batch "
          f"{FLAGS.batch_size}, target -{FLAGS.target:.0%} params, oneDNN "
          f"{os.environ['TF_ENABLE_ONEDNN_OPTS']}", flush=True)
    a = run("unpruned", plain)
    b = run("masked", pruned(lambda m, *args, **kw: m.fit(*args, **kw)))
    c = run("progressive", pruned(tfprune.fit))
    print(f"masked / unpruned      {b / a:.3f}")
    print(f"progressive / unpruned {c / a:.3f}")
    print(f"progressive / masked   {c / b:.3f}  (steps/s ratio "
          f"{b / c:.2f}x)")


if __name__ == "__main__":
    app.run(main)
