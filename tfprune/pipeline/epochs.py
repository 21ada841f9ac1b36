"""Small callbacks of the recipes' runs: timing epochs, stopping early."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time, in seconds, to the logs (`"seconds"`)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.time() - self._start


class StopAfterEpoch(keras.callbacks.Callback):
    """Ends `fit` after epoch `last` (0-based)."""

    def __init__(self, last):
        super().__init__()
        self.last = last

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.last:
            self.model.stop_training = True
