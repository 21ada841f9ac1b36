"""Writes small TFRecord folders in the layout of ../shared/datasets."""

import os

import numpy as np
import tensorflow as tf


def write_image_folder(folder, count, shape=(32, 32, 3), shards=2, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    writers = [tf.io.TFRecordWriter(os.path.join(
        folder, f"train-{i:05d}-of-{shards:05d}.tfrecord"))
        for i in range(shards)]
    for i in range(count):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        encoded = tf.io.encode_png(image).numpy()
        example = tf.train.Example(features=tf.train.Features(feature={
            "image/encoded": tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[encoded])),
            "image/format": tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[b"png"])),
            "image/class/label": tf.train.Feature(
                int64_list=tf.train.Int64List(value=[int(labels[i])])),
        }))
        writers[i % shards].write(example.SerializeToString())
    for w in writers:
        w.close()
    return labels
