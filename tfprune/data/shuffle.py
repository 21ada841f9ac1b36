"""`EpochShuffle`: a shuffle order that a resumed run sees again."""

import keras
import tensorflow as tf

from tfprune.validation import check_positive_int


class EpochShuffle(keras.callbacks.Callback):
    """Shuffles training data in an order fixed by the seed and the epoch.

    `Dataset.shuffle` draws a new order for every pass over the data from
    a random state that `keras.callbacks.BackupAndRestore` does not save, so
    a run resumed after an interruption sees other batches than an
    uninterrupted one. Data shuffled by an `EpochShuffle` (also a callback
    of the same `fit`) is in the same order in epoch E of both runs: the
    examples are cut into blocks of `buffer_size` consecutive ones, and each
    block is permuted by a stateless random shuffle seeded with
    `(seed, epoch, block)`. With `buffer_size` at least the dataset's size
    the whole dataset is permuted.

    Args:
        seed: an integer; the same seed gives the same orders.

    Examples:
        >>> shuffle = tfprune.EpochShuffle(seed=0)
        >>> train = shuffle(tf.data.Dataset.from_tensor_slices((x, y)),
        ...                 buffer_size=len(x)).batch(64)
        >>> model.fit(train, epochs=30, callbacks=[
        ...     shuffle, keras.callbacks.BackupAndRestore("backup")])
    """

    def __init__(self, seed=0):
        super().__init__()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(
                f"`seed` must be an integer. Received: seed={seed!r}")
        self.seed = seed
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False,
                                 name="epoch_shuffle_epoch")

    def __call__(self, dataset, buffer_size):
        """Returns `dataset` (unbatched) in this epoch's order."""
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(
                "EpochShuffle shuffles a tf.data.Dataset. Received: "
                f"{type(dataset).__name__}")
        check_positive_int("buffer_size", buffer_size)
        seed, epoch = tf.constant(self.seed, tf.int64), self.epoch

        def permuted(index, block):
            size = tf.shape(tf.nest.flatten(block)[0])[0]
            order = tf.random.experimental.stateless_shuffle(
                tf.range(size),
                seed=tf.stack([seed, epoch * 1_000_003 + index]))
            return tf.data.Dataset.from_tensor_slices(
                tf.nest.map_structure(lambda t: tf.gather(t, order), block))

        shuffled = dataset.batch(buffer_size).enumerate().flat_map(permuted)
        if dataset.cardinality() >= 0:  # flat_map forgets the size
            shuffled = shuffled.apply(tf.data.experimental.assert_cardinality(
                dataset.cardinality()))
        return shuffled

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)

    def get_config(self):
        return {"seed": self.seed}
