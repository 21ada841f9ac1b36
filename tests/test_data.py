"""Input pipelines: local TFRecord folders, tfds, and the shipped CIFAR-10 copy."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import SHARED_CIFAR
from helpers_data import write_image_folder
from tfprune import data


def test_tfrecord_folder_splits(tmp_path):
    write_image_folder(str(tmp_path), 40)
    train, val = data.image_folder_splits(str(tmp_path), val_size=10)
    assert int(train.cardinality()) == 30 and int(val.cardinality()) == 10
    image, label = next(iter(val))
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8
    assert label.dtype == tf.int32
    batches = data.training_pipeline(train, 8, augment=data.augment_cifar)
    x, y = next(iter(batches))
    assert x.shape == (8, 32, 32, 3) and x.dtype == tf.float32
    assert int(batches.cardinality()) == 4


def test_tfrecord_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No files matching"):
        data.image_folder_splits(str(tmp_path), val_size=10)
    write_image_folder(str(tmp_path), 10)
    with pytest.raises(ValueError, match="Received: val_size=10"):
        data.image_folder_splits(str(tmp_path), val_size=10)


def test_cifar10_splits_through_tfds_offline():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        train, val = data.cifar10_splits(data_dir=None, val_size=5)
        image, label = next(iter(train))
    assert image.shape == (32, 32, 3) and label.dtype == tf.int64


@pytest.mark.skipif(not os.path.isdir(SHARED_CIFAR),
                    reason="shared CIFAR-10 copy not present")
def test_shipped_cifar10_copy_reads():
    train, val = data.cifar10_splits(SHARED_CIFAR, val_size=5000)
    assert int(train.cardinality()) == 45000
    images, labels = next(iter(val.batch(256)))
    assert images.shape == (256, 32, 32, 3)
    assert set(np.unique(labels.numpy())) <= set(range(10))


class _Recorder:
    """Records the labels of every batch `fit` draws (first element each)."""

    def __init__(self):
        self.seen = []

    def __call__(self, x, y):
        def record(labels):
            self.seen.append(labels.numpy().tolist())
            return labels

        labels = tf.py_function(record, [y], tf.int64)
        return x, tf.ensure_shape(labels, [None])


def _fit_orders(initial_epoch, epochs=3, seed=5):
    import keras

    import tfprune

    shuffle = tfprune.EpochShuffle(seed=seed)
    recorder = _Recorder()
    examples = tf.data.Dataset.from_tensor_slices(
        (np.arange(24, dtype="float32")[:, None], np.arange(24)))
    train = shuffle(examples, buffer_size=24).batch(24).map(recorder)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(train, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
              callbacks=[shuffle])
    return recorder.seen


def test_epoch_shuffle_order_depends_on_the_epoch_not_on_the_start():
    straight = _fit_orders(initial_epoch=0)
    resumed = _fit_orders(initial_epoch=1)  # what BackupAndRestore does
    assert len(straight) == 3 and len(resumed) == 2
    assert resumed == straight[1:]
    assert straight[0] != straight[1] != straight[2]  # reshuffled per epoch
    assert all(sorted(order) == list(range(24)) for order in straight)
    assert _fit_orders(0, seed=6) != straight


def test_epoch_shuffle_in_blocks_keeps_the_length():
    import tfprune

    shuffled = tfprune.EpochShuffle(seed=0)(tf.data.Dataset.range(10), 4)
    assert int(shuffled.cardinality()) == 10
    values = [int(v) for v in shuffled]
    assert sorted(values) == list(range(10))
    assert sorted(values[:4]) == [0, 1, 2, 3]  # blocks of 4 stay together


def test_labelled_data_in_every_form_keeps_working_and_lengths_are_checked():
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    x = np.arange(12, dtype="float32").reshape(4, 3)
    y = np.arange(4)
    onehot = np.eye(4, dtype="float32")
    forms = {
        "arrays": (x, y),
        "one-hot arrays": (x, onehot),
        "batched dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(3),
        "unbatched dataset": tf.data.Dataset.from_tensor_slices((x, y)),
        "unbatched one-hot": tf.data.Dataset.from_tensor_slices((x, onehot)),
    }
    for name, form in forms.items():
        examples = list(data.iterate_examples(form, model))
        assert len(examples) == 4, name
        np.testing.assert_array_equal(examples[3][0], x[3])
    assert [int(np.argmax(e[1])) for e in data.iterate_examples(
        forms["unbatched one-hot"], model)] == [0, 1, 2, 3]
    data.check_same_length(x, y)
    with pytest.raises(ValueError, match=r"The training data has 4 inputs but "
                                         r"3 labels.*labels of shape \(3,\)"):
        data.check_same_length(x, y[:3], what="training data")
    with pytest.raises(ValueError, match="has 1 input but 2 labels"):
        list(data.iterate_examples((x[:1], y[:2]), model))
    # A later batch of a dataset is checked as it comes.
    uneven = tf.data.Dataset.zip((
        tf.data.Dataset.from_tensor_slices(x).batch(2),
        tf.data.Dataset.from_tensor_slices(np.arange(3)).batch(2)))
    with pytest.raises(ValueError, match="The data has 2 inputs but 1 label:"):
        list(data.iterate_examples(uneven, model))


def test_batch_augmentation_crops_and_flips_each_image_reproducibly():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
    seed = tf.constant([1, 2], tf.int64)
    out, _ = data.augment_cifar_batch(tf.constant(images), None, seed)
    again, _ = data.augment_cifar_batch(tf.constant(images), None, seed)
    assert out.dtype == tf.uint8 and out.shape == images.shape
    np.testing.assert_array_equal(out, again)
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    offsets, flips = set(), []
    for image, result in zip(padded, out.numpy()):
        crops = [(dy, dx, flip) for dy in range(9) for dx in range(9)
                 for flip in (False, True) if np.array_equal(result, (
                     image[dy:dy + 32, dx:dx + 32][:, ::-1] if flip
                     else image[dy:dy + 32, dx:dx + 32]))]
        assert crops, "not a crop of the padded image"
        offsets.update(crops[0][:2])
        flips.append(crops[0][2])
    assert len(offsets) > 5 and 0 < np.mean(flips) < 1  # each image its own


def test_batch_augmented_pipeline_keeps_the_seeded_order():
    """The shuffled order is the one per-example augmentation gives; the
    augmentation changes from pass to pass, and repeats with the seed."""
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3),
                                               dtype=np.uint8)
    examples = tf.data.Dataset.from_tensor_slices((images, np.arange(40)))

    def passes(**augmentation):
        ds = data.training_pipeline(examples, 16, shuffle=40, seed=3,
                                    **augmentation)
        return [[(x.numpy(), y.numpy().tolist()) for x, y in ds]
                for _ in range(2)]

    batched = passes(batch_augment=data.augment_cifar_batch)
    per_example = passes(augment=data.augment_cifar)
    assert [[y for _, y in p] for p in batched] == \
        [[y for _, y in p] for p in per_example]
    assert batched[0][0][0].dtype == np.float32
    assert int(data.training_pipeline(
        examples, 16, batch_augment=data.augment_cifar_batch)
        .cardinality()) == 3
    again = passes(batch_augment=data.augment_cifar_batch)
    for first, second in zip(batched, again):
        for (x1, _), (x2, _) in zip(first, second):
            np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(batched[0][0][0], batched[1][0][0])


def test_the_pipelines_run_without_the_autotuning_thread():
    """Its shutdown stalls the end of each `fit` call
    (`data.without_autotuning`); parallel maps and prefetch stay."""
    examples = tf.data.Dataset.from_tensor_slices(
        (np.zeros((8, 4, 4, 3), np.uint8), np.arange(8)))
    train = data.training_pipeline(examples, 4,
                                   batch_augment=data.augment_cifar_batch)
    val = data.eval_pipeline(examples, 4)
    for ds in (train, val):
        assert ds.options().autotune.enabled is False
    assert [y.numpy().tolist() for _, y in val] == [[0, 1, 2, 3],
                                                    [4, 5, 6, 7]]
    assert sorted(sum((y.numpy().tolist() for _, y in train), [])) == \
        list(range(8))


def test_without_autotuning_refuses_what_is_not_a_dataset():
    with pytest.raises(TypeError, match=r"tf.data.Dataset. Received: "
                       r"ds=\[1, 2\] of type list"):
        data.without_autotuning([1, 2])
