"""CIFAR-10 as the recipes and benchmarks read it: tfds, or a local folder
of TFRecord shards (`image/encoded`, `image/class/label`); its
augmentation and batched pipelines."""

import os

import tensorflow as tf

from tfprune.data.pipelines import eval_pipeline, training_pipeline

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
    over single examples, `benchmarks/studies/input_pipeline.py`), with stateless
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
