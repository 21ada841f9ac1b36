"""What the step-time benchmarks share: random CIFAR-shaped batches, the
SGD compile they train with, and a callback that times each step.

    >>> data = synthetic_batches.cifar_batches(128)
    >>> model = synthetic_batches.compiled(tfprune.models.vgg16_cifar())
    >>> timer = synthetic_batches.step_timer()
    >>> model.fit(data, steps_per_epoch=5, callbacks=[timer])
    >>> timer.times  # seconds of each of the 5 steps
"""

import time


def cifar_batches(batch_size, batches=4):
    """A repeating `tf.data.Dataset` of `batches` random batches of
    32x32x3 raw pixels (0-255) with labels 0-9; seeds Keras with 0 first."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(
        0, 255, (batch_size * batches, 32, 32, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, len(x))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(
        batch_size).repeat()


def compiled(model, metrics=None):
    """`model` compiled with SGD (0.01, momentum 0.9) on logits."""
    import keras

    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=metrics)
    return model


def step_timer():
    """A Keras callback whose `times` lists the seconds of each training
    step (batch begin to batch end) of the `fit` calls it is given to."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()
