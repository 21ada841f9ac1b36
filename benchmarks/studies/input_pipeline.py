"""Does the CIFAR-10 input pipeline keep up with the training step?

    python benchmarks/studies/input_pipeline.py --data_dir=../shared/datasets/cifar10

Measures, in one process, one after the other:

1. the recipe's training pipeline alone (`tfprune.data.cifar10_pipelines`:
   decoded images cached, shuffled, augmented by `augment_cifar_batch`,
   batched, prefetched): images/s and process CPU time per image, on the
   first pass (JPEG decoding fills the cache) and on cached passes;
2. the pipeline as it was before (`augment_cifar` mapped over single
   examples, then a separate float cast), on the same cached images;
3. the training step of VGG-16-BN x`--width`, gated and compiled as the
   recipe does (SGD with Nesterov momentum, weight decay 5e-4,
   cross-entropy, accuracy), fed from one batch in memory: images/s;
4. the same `fit` fed by the pipeline: images/s (equal to 3 when the
   pipeline does not starve the step); 3 and 4 are measured in turn,
   `--repeats` times, and the medians printed.

and prints pipeline images/s, step images/s and their ratio. CPU time per
image does not depend on what else runs on the machine; images/s does
(the load average is printed).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import time  # noqa: E402

from absl import app, flags  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string("data_dir", os.path.join(REPO, "..", "shared",
                                             "datasets", "cifar10"),
                    "Folder of CIFAR-10 TFRecord shards.")
flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("val_size", 5000, "Validation examples held out.")
flags.DEFINE_integer("cached_passes", 2, "Timed passes over cached data.")
flags.DEFINE_integer("steps", 10, "Timed training steps per measurement.")
flags.DEFINE_integer("repeats", 3, "Measurements of the step, fed from "
                     "memory and by the pipeline in turn (median).")
flags.DEFINE_string("note", "", "A line printed with the results, e.g. "
                    "what else ran on the machine.")
FLAGS = flags.FLAGS


def _previous_pipeline(train, batch_size, seed):
    """`training_pipeline(train, augment=augment_cifar)` as it was before
    the batched augmentation: per-example augmentation, then a sequential
    per-example cast."""
    import tensorflow as tf

    from tfprune import data

    ds = train.shuffle(10000, seed=seed).map(
        data.augment_cifar, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _time_pass(dataset):
    """`(images/s, CPU microseconds per image)` of one pass."""
    start, cpu, images = time.perf_counter(), time.process_time(), 0
    for x, _ in dataset:
        images += int(x.shape[0])
    wall = time.perf_counter() - start
    return images / wall, 1e6 * (time.process_time() - cpu) / images


def _time_fit(model, data, steps):
    """`(images/s, CPU microseconds per image)` of `steps` steps of `fit`
    (after one untimed step, which starts the iterator)."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.start = time.perf_counter(), time.process_time()

        def on_train_end(self, logs=None):
            wall, cpu = self.start
            self.wall = time.perf_counter() - wall
            self.cpu = time.process_time() - cpu

    timer = Timer()
    model.fit(data, steps_per_epoch=steps + 1, epochs=1, verbose=0,
              callbacks=[timer])
    images = steps * FLAGS.batch_size
    return images / timer.wall, 1e6 * timer.cpu / images


def main(argv):
    del argv
    import keras
    import numpy as np
    import tensorflow as tf

    import tfprune
    from tfprune import data

    keras.utils.set_random_seed(0)
    started = time.perf_counter()

    def say(line):
        print(line, flush=True)

    say(f"CIFAR-10 input pipeline against the VGG-16-BN x{FLAGS.width} "
        f"training step, batch {FLAGS.batch_size}, "
        f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}, "
        f"{os.cpu_count()} CPUs")
    if FLAGS.note:
        say(f"Note: {FLAGS.note}")

    train, _ = data.cifar10_pipelines(FLAGS.data_dir, FLAGS.val_size,
                                      FLAGS.batch_size, seed=0)
    first, first_cpu = _time_pass(train)
    say(f"pipeline, first pass (decode, fill cache): {first:8.0f} images/s"
        f"  {first_cpu:6.0f} CPU us/image")
    cached = [_time_pass(train) for _ in range(FLAGS.cached_passes)]
    pipeline = float(np.median([c[0] for c in cached]))
    pipeline_cpu = float(np.median([c[1] for c in cached]))
    say(f"pipeline, cached passes (median of {len(cached)}):  "
        f"{pipeline:8.0f} images/s  {pipeline_cpu:6.0f} CPU us/image")
    images, _ = data.cifar10_splits(FLAGS.data_dir, FLAGS.val_size)
    images = images.cache()
    for _ in images.batch(1000):  # fill the cache, untimed
        pass
    before = [_time_pass(_previous_pipeline(images, FLAGS.batch_size, 0))
              for _ in range(FLAGS.cached_passes)]
    say(f"previous pipeline (per-example augment), cached: "
        f"{float(np.median([b[0] for b in before])):8.0f} images/s  "
        f"{float(np.median([b[1] for b in before])):6.0f} CPU us/image")

    gated = tfprune.gate(tfprune.models.vgg16_cifar(width=FLAGS.width))
    gated.compile(
        keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True,
                             weight_decay=5e-4),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    x = np.random.default_rng(0).uniform(
        0, 255, (FLAGS.batch_size, 32, 32, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, FLAGS.batch_size)
    memory = tf.data.Dataset.from_tensors((x, y)).repeat()
    gated.fit(memory, steps_per_epoch=2, epochs=1, verbose=0)  # trace
    runs = {"memory": [], "pipeline": []}
    for _ in range(FLAGS.repeats):  # in turn: the load beside it changes
        runs["memory"].append(_time_fit(gated, memory, FLAGS.steps))
        runs["pipeline"].append(_time_fit(gated, train.repeat(),
                                          FLAGS.steps))
    step, step_cpu = (float(np.median(v)) for v in zip(*runs["memory"]))
    fed = float(np.median([r[0] for r in runs["pipeline"]]))
    say(f"training step, batch from memory:          {step:8.1f} images/s"
        f"  {step_cpu:6.0f} CPU us/image  (median of {FLAGS.repeats} x "
        f"{FLAGS.steps} steps)")
    say(f"training step, fed by the pipeline:        {fed:8.1f} images/s"
        f"  ({fed / step:.2f} of the step from memory)")
    say(f"ratio pipeline / step: {pipeline / step:.1f}x images/s (cached), "
        f"{first / step:.1f}x on the first pass; the pipeline costs "
        f"{100 * pipeline_cpu / step_cpu:.1f}% of the step's CPU time per "
        "image")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    say(f"load average at the end (1, 5, 15 min): {load}; "
        f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    app.run(main)
