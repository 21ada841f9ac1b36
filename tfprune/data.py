"""Input data in the forms users have: arrays, `tf.data`, generator functions.

Also the CIFAR-10 pipeline used by the recipes: tfds, or a local folder of
TFRecord shards (`image/encoded`, `image/class/label`).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfprune.validation import check_positive_int


def _as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _split(element):
    """`(inputs, labels or None)` from a dataset element."""
    if isinstance(element, dict):
        raise ValueError(
            "Dataset elements that are dicts are not supported; yield "
            "`inputs` or `(inputs, labels)`.")
    if isinstance(element, (tuple, list)):
        return element[0], (element[1] if len(element) > 1 else None)
    return element, None


def _model_input(model):
    if len(model.inputs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(model.inputs)} inputs; tfprune's "
            "data helpers support single-input models.")
    return model.inputs[0]


def check_same_length(inputs, labels, what="data"):
    """Raises ValueError unless `inputs` and `labels` (arrays or tensors,
    first axis: examples) hold as many examples.

    >>> check_same_length(x_train, y_train, what="training data")
    """
    x_count = int(np.shape(inputs)[0]) if np.ndim(inputs) else None
    y_count = int(np.shape(labels)[0]) if np.ndim(labels) else None
    if x_count is None or x_count != y_count:
        raise ValueError(
            f"The {what} has {_count(x_count, 'input')} but "
            f"{_count(y_count, 'label')}: inputs and labels must hold the "
            "same examples, along their first axis. Received: inputs of "
            f"shape {tuple(np.shape(inputs))}, labels of shape "
            f"{tuple(np.shape(labels))}")


def _count(n, noun):
    if n is None:
        return f"a single {noun} without a batch axis"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def iterate_examples(data, model, limit=None, what="data"):
    """Yields `(x, y)` single examples (NumPy, `y` may be None) from `data`.

    `data` is a NumPy array of inputs, a tuple `(inputs, labels)` of arrays,
    a `tf.data.Dataset` of `inputs` or `(inputs, labels)` (batched or not),
    or a generator function yielding lists `[inputs]` as
    `tf.lite.TFLiteConverter.representative_dataset` takes it.

    Raises ValueError (naming `what`) when a tuple, or a batch of a
    dataset, holds more or fewer labels than inputs.
    """
    rank = len(_model_input(model).shape)
    count = 0
    batched = False  # arrays always have a batch axis; datasets may not
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(
            data[0], tf.data.Dataset):
        batches, batched = [(np.asarray(data[0]), np.asarray(data[1]))], True
    elif isinstance(data, np.ndarray):
        batches, batched = [(data, None)], True
    elif isinstance(data, tf.data.Dataset):
        batches = (_split(e) for e in data)
    elif callable(data):
        batches = ((item[0] if isinstance(item, (list, tuple)) else item,
                    None) for item in data())
    else:
        raise TypeError(
            "Expected a NumPy array, a tuple (inputs, labels), a "
            "tf.data.Dataset or a generator function. Received: "
            f"{type(data).__name__}")
    for x, y in batches:
        x = _as_numpy(x)
        y = None if y is None else _as_numpy(y)
        if not batched and x.ndim == rank - 1:  # one unbatched example
            x = x[None]
            y = None if y is None else np.asarray(y)[None]
        if y is not None:
            check_same_length(x, y, what)
        for i in range(x.shape[0]):
            if limit is not None and count >= limit:
                return
            yield x[i], (None if y is None else y[i])
            count += 1


def check_data(data, model, what="data"):
    """Raises ValueError if the first example does not fit `model`'s input.

    Returns the first `(x, y)` example.
    """
    expected = tuple(_model_input(model).shape[1:])
    try:
        x, y = next(iterate_examples(data, model, limit=1, what=what))
    except StopIteration:
        raise ValueError(f"The {what} is empty.") from None
    shape_ok = len(x.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, x.shape))
    if not shape_ok:
        raise ValueError(
            f"The {what} has examples of shape {tuple(x.shape)}, but model "
            f"'{model.name}' expects inputs of shape {expected} (batch axis "
            "excluded).")
    if not (np.issubdtype(x.dtype, np.integer)
            or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(
            f"The {what} has dtype {x.dtype}, but model '{model.name}' takes "
            f"numbers ({_model_input(model).dtype}): pass integer or float "
            "inputs.")
    return x, y


def representative_dataset(data, model, num_samples=200):
    """A TFLite representative-dataset function over `num_samples` examples."""
    check_data(data, model, what="representative data")
    dtype = _model_input(model).dtype

    def generate():
        for x, _ in iterate_examples(data, model, limit=num_samples,
                                     what="representative data"):
            yield [x[None].astype(dtype)]

    return generate


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


# --- CIFAR-10 -------------------------------------------------------------

_CIFAR_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def _parse_image_record(record, image_shape):
    example = tf.io.parse_single_example(record, _CIFAR_FEATURES)
    image = tf.io.decode_image(example["image/encoded"],
                               channels=image_shape[-1],
                               expand_animations=False)
    image = tf.reshape(image, image_shape)
    return image, tf.cast(example["image/class/label"], tf.int32)


def image_folder_splits(folder, val_size, image_shape=(32, 32, 3),
                        pattern="train-*.tfrecord"):
    """`(train, val)` unbatched datasets of `(uint8 image, label)`.

    Reads TFRecord shards of `tf.train.Example`s with keys `image/encoded`
    and `image/class/label`, and keeps the last `val_size` records for
    validation.
    """
    files = sorted(tf.io.gfile.glob(os.path.join(folder, pattern)))
    if not files:
        raise FileNotFoundError(
            f"No files matching '{pattern}' in data folder '{folder}'.")
    records = tf.data.TFRecordDataset(files)
    total = int(records.reduce(0, lambda n, _: n + 1))
    if not 0 < val_size < total:
        raise ValueError(
            f"`val_size` must be between 1 and {total - 1} for '{folder}'. "
            f"Received: val_size={val_size}")
    parse = lambda r: _parse_image_record(r, image_shape)  # noqa: E731
    records = records.apply(tf.data.experimental.assert_cardinality(total))
    train = records.take(total - val_size).map(
        parse, num_parallel_calls=tf.data.AUTOTUNE)
    val = records.skip(total - val_size).map(
        parse, num_parallel_calls=tf.data.AUTOTUNE)
    return train, val


def cifar10_splits(data_dir=None, val_size=5000):
    """CIFAR-10 `(train, val)`: the validation split is carved from train.

    `data_dir` holding `train-*.tfrecord` shards is read directly;
    otherwise `tensorflow_datasets` loads (and if needed downloads)
    `cifar10` into `data_dir`.
    """
    if data_dir and tf.io.gfile.glob(os.path.join(data_dir,
                                                  "train-*.tfrecord")):
        return image_folder_splits(data_dir, val_size)
    import tensorflow_datasets as tfds  # heavy; only for this path

    try:
        train = tfds.load("cifar10", split=f"train[:-{val_size}]",
                          data_dir=data_dir, as_supervised=True)
    except (OSError, ConnectionError) as error:  # offline, no tfds copy
        raise FileNotFoundError(
            f"No CIFAR-10 data: the folder {data_dir!r} holds no "
            "train-*.tfrecord shards, and tensorflow_datasets could not "
            f"load or download 'cifar10' there ({type(error).__name__}: "
            f"{str(error)[:200]}). Point data_dir to a folder of TFRecord "
            "shards, or run once with internet access.") from error
    val = tfds.load("cifar10", split=f"train[-{val_size}:]",
                    data_dir=data_dir, as_supervised=True)
    return train, val


def augment_cifar(image, label):
    """Random 4-pixel-padded crop and horizontal flip, on raw pixels."""
    image = tf.image.resize_with_crop_or_pad(image, 40, 40)
    image = tf.image.random_crop(image, [32, 32, 3])
    image = tf.image.random_flip_left_right(image)
    return image, label


def augment_cifar_batch(images, labels, seed, padding=4):
    """`augment_cifar` for a whole batch at once, drawn from `seed`.

    Each image gets its own random crop of the image zero-padded by
    `padding` pixels on every side (offsets 0 to `2 * padding`, uniform)
    and its own horizontal flip (probability 1/2), as from
    `augment_cifar`; the batch is transformed by a few vectorized ops
    (about a third of the CPU time per image of `augment_cifar` mapped
    over single examples, `benchmarks/input_pipeline.py`), with stateless
    random ops, so the same `seed` gives the same crops and flips.

    Args:
        images: `(batch, height, width, channels)` raw pixels.
        labels: passed through.
        seed: a shape `[2]` integer tensor.
        padding: pixels added on each side before cropping. Default 4.

    Returns:
        `(images, labels)`, images of the same shape and dtype.

    Examples:
        >>> images, labels = tfprune.data.augment_cifar_batch(
        ...     images, labels, seed=tf.constant([0, 1]))
    """
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = tf.pad(images, [[0, 0], [padding, padding],
                             [padding, padding], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [batch, 2], seeds[0], 0, 2 * padding + 1, tf.int32)
    images = tf.gather(padded, offsets[:, :1] + tf.range(height), axis=1,
                       batch_dims=1)
    images = tf.gather(images, offsets[:, 1:] + tf.range(width), axis=2,
                       batch_dims=1)
    flip = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
    images = tf.where(flip[:, None, None, None], tf.reverse(images, [2]),
                      images)
    return images, labels


def _as_float(x, y):
    return tf.cast(x, tf.float32), y


def without_autotuning(ds):
    """`ds` with tf.data's autotuning thread off.

    An iterator whose autotuning thread has run through an epoch waits for
    that thread's next wake-up when it is deleted: `model.fit` stalls for
    up to a minute after its last epoch (`benchmarks/fit_end_stall.py`),
    and `tfprune.fit` ends a `model.fit` call at every rebuild. Without it,
    `AUTOTUNE` parallelism is the number of cores and `prefetch(AUTOTUNE)`
    still grows its buffer when the model waits. `tfprune.fit` applies it
    to datasets that do not set `autotune.enabled` themselves.

    Example:

    >>> ds = tfprune.data.without_autotuning(
    ...     tf.data.Dataset.range(8).prefetch(2))
    >>> ds.options().autotune.enabled
    False
    """
    if not isinstance(ds, tf.data.Dataset):
        raise TypeError("`without_autotuning` takes a tf.data.Dataset. "
                        f"Received: ds={ds!r} of type {type(ds).__name__}")
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def training_pipeline(train, batch_size, augment=None, shuffle=10000,
                      seed=0, batch_augment=None):
    """Shuffled, augmented, batched float32 batches for `fit`.

    Args:
        train: an unbatched dataset of `(image, label)`; cache it (decoded)
            first when it fits in memory.
        batch_size: examples per batch (the last batch may be smaller).
        augment: optional `augment(image, label)` for single examples,
            mapped in parallel in the shuffled order.
        shuffle: shuffle buffer size; the order is fixed by `seed` (and a
            new one is drawn on every pass over the data).
        seed: seeds the shuffle and `batch_augment`.
        batch_augment: optional `batch_augment(images, labels, seed)` for
            whole batches (e.g. `augment_cifar_batch`), mapped in parallel
            with a `seed` drawn for each batch from `seed` (other seeds on
            every pass, the same ones in every run).

    Returns:
        A batched `tf.data.Dataset` of `(float32 images, labels)`, with a
        known number of batches when `train` has one, autotuning off
        (`without_autotuning`).
    """
    ds = train.shuffle(shuffle, seed=seed)
    if augment is not None:
        ds = ds.map(lambda x, y: _as_float(*augment(x, y)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    if batch_augment is not None:
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, s: _as_float(*batch_augment(*batch, s)),
            num_parallel_calls=tf.data.AUTOTUNE)
    elif augment is None:
        ds = ds.map(_as_float, num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def cifar10_pipelines(data_dir=None, val_size=5000, batch_size=128,
                      seed=0, train_limit=0):
    """Batched CIFAR-10 `(train, val)` as the recipes and benchmarks use it.

    Training batches are shuffled and augmented (`augment_cifar_batch`:
    random 4-pixel-padded crops and horizontal flips, drawn from `seed`);
    `train_limit` keeps only that many training examples (0: all). The
    decoded images are cached in memory (about 140 MB for 45,000), so only
    the first pass decodes JPEG.
    """
    train, val = cifar10_splits(data_dir, val_size)
    if train_limit:
        train = train.take(train_limit)
    train = training_pipeline(train.cache(), batch_size, seed=seed,
                              batch_augment=augment_cifar_batch)
    return train, eval_pipeline(val.cache(), 256)


def eval_pipeline(ds, batch_size):
    """`ds` batched, as float32, in its order (autotuning off:
    `without_autotuning`)."""
    return without_autotuning(ds.batch(batch_size).map(
        _as_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE))
