"""Training throughput with oneDNN off and on (each in its own process).

    python benchmarks/studies/onednn_speed.py --width=0.25

TF_ENABLE_ONEDNN_OPTS is read when TensorFlow starts, so every measurement
runs in a fresh subprocess; the two settings alternate --repeats times and
the medians are compared. Only training steps are timed (after tracing and
a warm-up fit, from the end of the first timed step to the end of the last).
"""

import os
import subprocess
import sys

from absl import app, flags

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 20, "Timed steps per measurement.")
flags.DEFINE_integer("repeats", 3, "Measurements per setting.")
FLAGS = flags.FLAGS

CHILD = """
import time, numpy as np, keras, tensorflow as tf, tfprune
width, batch, steps = {width}, {batch}, {steps}
model = tfprune.models.vgg16_cifar(width=width)
model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(True))
x = np.random.default_rng(0).uniform(0, 255, (batch * 4, 32, 32, 3)).astype("float32")
y = np.random.default_rng(1).integers(0, 10, len(x))
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat()
marks = []
class Clock(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        marks.append(time.perf_counter())
model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
model.fit(data, steps_per_epoch=steps + 1, epochs=1, verbose=0,
          callbacks=[Clock()])
print(batch * steps / (marks[-1] - marks[0]))  # steps 2..N+1 only
"""

def measure(setting):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting,
               TF_CPP_MIN_LOG_LEVEL="2")
    code = CHILD.format(width=FLAGS.width, batch=FLAGS.batch_size,
                        steps=FLAGS.steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    import statistics

    speeds = {"0": [], "1": []}
    for _ in range(FLAGS.repeats):
        for setting in speeds:
            speeds[setting].append(measure(setting))
    off, on = (statistics.median(speeds[s]) for s in ("0", "1"))
    print(f"VGG-16-BN x{FLAGS.width}, batch {FLAGS.batch_size}, "
          f"{FLAGS.steps} steps, {FLAGS.repeats} runs each (median)")
    print(f"oneDNN off: {off:7.1f} img/s  {speeds['0']}")
    print(f"oneDNN on : {on:7.1f} img/s  {speeds['1']}")
    print(f"speed-up on/off: {on / off:.2f}x")


if __name__ == "__main__":
    app.run(main)
