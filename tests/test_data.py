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
