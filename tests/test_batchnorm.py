"""`tfprune.batchnorm.recalibrate`: moving statistics from a few batches."""

import keras
import numpy as np

from tfprune import batchnorm


def _model():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 1, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn")(x)
    return keras.Model(inputs, x)


def test_moving_statistics_are_the_average_over_the_batches():
    model = _model()
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 4, 4, 2)).astype("float32") * (i + 1),
                np.zeros(8)) for i in range(3)]
    assert batchnorm.recalibrate(model, iter(batches), steps=3) == 3
    bn = model.get_layer("bn")
    stats = [keras.ops.convert_to_numpy(model.get_layer("conv")(x))
             for x, _ in batches]
    np.testing.assert_allclose(
        bn.moving_mean.numpy(),
        np.mean([z.mean(axis=(0, 1, 2)) for z in stats], axis=0),
        rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        bn.moving_variance.numpy(),
        np.mean([z.var(axis=(0, 1, 2)) for z in stats], axis=0),
        rtol=1e-3, atol=1e-5)
    assert bn.momentum == 0.9  # restored


def test_fewer_batches_than_steps_and_one_trace_per_model():
    model = _model()
    x = np.ones((8, 4, 4, 2), "float32")
    assert batchnorm.recalibrate(model, iter([x, x]), steps=5) == 2
    forward = batchnorm._training_forward(model)
    batchnorm.recalibrate(model, iter([x]), steps=1)
    assert batchnorm._training_forward(model) is forward
    assert forward.experimental_get_tracing_count() == 1
    assert batchnorm.recalibrate(keras.Sequential([keras.layers.Dense(2)]),
                                 iter([x]), steps=1) == 0
