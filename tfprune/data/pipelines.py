"""Batched training and evaluation `tf.data` pipelines, with tf.data's
autotuning thread off."""

import tensorflow as tf


def _as_float(x, y):
    return tf.cast(x, tf.float32), y


def without_autotuning(ds):
    """`ds` with tf.data's autotuning thread off.

    An iterator whose autotuning thread has run through an epoch waits for
    that thread's next wake-up when it is deleted: `model.fit` stalls for
    up to a minute after its last epoch (`benchmarks/studies/fit_end_stall.py`),
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


def eval_pipeline(ds, batch_size):
    """`ds` batched, as float32, in its order (autotuning off:
    `without_autotuning`)."""
    return without_autotuning(ds.batch(batch_size).map(
        _as_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE))
