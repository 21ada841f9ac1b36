"""shrink(): a real smaller model that computes what the gated model computes."""

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores


def conv1d_sensor_net():
    inputs = keras.Input((64, 3), name="accelerometer")
    x = layers.Conv1D(16, 5, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(24, 3, padding="same")(x)
    x = layers.LeakyReLU()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Conv1D(32, 3)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(16, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(6)(x), name="sensor")


def padded_prelu_net():
    inputs = keras.Input((12, 12, 3))
    x = layers.ZeroPadding2D(1)(inputs)
    x = layers.Conv2D(8, 3)(x)
    x = layers.PReLU()(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(12, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(10, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(3)(x), name="prelu")


MODELS = {
    "vgg16": (lambda: tfprune.models.vgg16_cifar(width=0.125), (32, 32, 3)),
    "small_cnn": (tfprune.models.small_cnn, (8, 8, 1)),
    "conv1d": (conv1d_sensor_net, (64, 3)),
    "prelu": (padded_prelu_net, (12, 12, 3)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("ratio", [0.3, 0.76, 0.94])
def test_shrunk_model_equals_gated_model(name, ratio):
    build, shape = MODELS[name]
    model = build()
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    tfprune.prune_now(gated, ratio)
    small = tfprune.shrink(gated)
    x = np.random.default_rng(1).uniform(0, 255, (8, *shape)).astype("f4")
    assert max_abs_diff(small, gated, x) <= 1e-4
    assert not any(isinstance(l, tfprune.ChannelGate) for l in small.layers)
    removed = 1 - small.count_params() / model.count_params()
    assert removed >= ratio and removed - ratio < 0.02


def test_weights_are_the_kept_slices():
    model = tfprune.models.small_cnn(widths=(4, 6), dense_units=5)
    randomize_bn(model)
    gated = tfprune.gate(model)
    gated.get_layer("conv1_gate").set_mask([1, 0, 1, 0])
    small = tfprune.shrink(gated)
    kernel = model.get_layer("conv1").get_weights()[0]
    np.testing.assert_array_equal(small.get_layer("conv1").get_weights()[0],
                                  kernel[..., [0, 2]])
    bn = [w[[0, 2]] for w in model.get_layer("bn1").get_weights()]
    for a, b in zip(small.get_layer("bn1").get_weights(), bn):
        np.testing.assert_array_equal(a, b)  # gamma, beta and statistics
    next_kernel = model.get_layer("conv2").get_weights()[0]
    np.testing.assert_array_equal(small.get_layer("conv2").get_weights()[0],
                                  next_kernel[:, :, [0, 2], :])


def test_flatten_to_dense_rows_follow_the_kept_channels():
    model = tfprune.models.small_cnn(widths=(4, 3), dense_units=5)
    gated = tfprune.gate(model)
    gated.get_layer("conv2_gate").set_mask([0, 1, 1])
    small = tfprune.shrink(gated)
    rows = model.get_layer("fc").get_weights()[0]  # 4x4 positions x 3
    expected = rows.reshape(16, 3, 5)[:, [1, 2], :].reshape(32, 5)
    np.testing.assert_array_equal(small.get_layer("fc").get_weights()[0],
                                  expected)


def test_shrunk_model_saves_and_loads(tmp_path):
    gated = tfprune.gate(conv1d_sensor_net())
    tfprune.prune_now(gated, 0.5)
    small = tfprune.shrink(gated)
    small.save(tmp_path / "small.keras")
    loaded = keras.models.load_model(tmp_path / "small.keras")
    x = np.ones((2, 64, 3), "float32")
    np.testing.assert_allclose(loaded(x), small(x), atol=1e-6)


def test_a_gate_with_no_channel_is_refused():
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(4, 6)))
    gated.get_layer("conv1_gate").set_mask([0, 0, 0, 0])
    with pytest.raises(tfprune.GraphError, match="'conv1_gate' keeps no"):
        tfprune.shrink(gated)
