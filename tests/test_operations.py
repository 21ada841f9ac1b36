"""Models written with operators (`x + y`, `x * ops.relu6(x + 3) / 6`,
`ops.mean`, `ops.concatenate`): read, gated, pruned and shrunk exactly."""

import keras
import numpy as np
import pytest
from keras import layers
from keras import ops

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores


def _conv(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", name=name)(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def hard_swish_net():
    inputs = keras.Input((8, 8, 3))
    x = _conv(inputs, 64, "c1")
    x = x * ops.relu6(x + 3.0) / 6.0  # hard-swish written with operators
    x = _conv(x, 96, "c2")
    x = ops.relu(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


def squeeze_excite_residual_net():
    inputs = keras.Input((8, 8, 3))
    stem = ops.relu(_conv(inputs, 16, "stem"))
    x = ops.relu(_conv(stem, 16, "a"))
    x = _conv(x, 16, "b")
    squeeze = ops.mean(x, axis=(1, 2), keepdims=True)  # SE with ops.mean
    squeeze = layers.Conv2D(4, 1, activation="relu", name="se_reduce")(
        squeeze)
    squeeze = layers.Conv2D(16, 1, name="se_expand")(squeeze)
    x = x * ops.sigmoid(squeeze)
    x = ops.relu(x + stem)  # residual written as x + y
    x = _conv(x, 32, "c3")
    x = ops.maximum(x, 0.0)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


def concat_net():
    inputs = keras.Input((8, 8, 3))
    a = ops.relu(_conv(inputs, 48, "a"))
    b = ops.relu(_conv(inputs, 64, "b"))
    x = ops.concatenate([a, b], axis=-1)
    x = _conv(x * 0.5, 96, "c")
    x = ops.sum(ops.relu(x), axis=(1, 2))
    return keras.Model(inputs, layers.Dense(10, name="classifier")(x))


MODELS = {"hard_swish": hard_swish_net,
          "squeeze_excite_residual": squeeze_excite_residual_net,
          "concat": concat_net}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.7])
def test_operator_models_prune_to_the_ratio_with_equal_logits(name, ratio):
    model = MODELS[name]()
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated, seed=int(ratio * 10))
    removed = tfprune.prune_now(gated, ratio)
    assert abs(removed - ratio) <= 0.005
    small = tfprune.shrink(gated)
    assert small.count_params() == tfprune.measure(gated)["params"]
    assert abs(1 - small.count_params() / model.count_params() - removed) \
        < 1e-9
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    assert max_abs_diff(gated, small, x) < 1e-4


def test_measure_counts_no_parameters_for_operations():
    model = hard_swish_net()
    assert tfprune.measure(model)["params"] == model.count_params()


def test_x_plus_constant_before_a_conv_gets_its_gate_again():
    # x + 3 turns pruned zeros into threes: the next conv must not see them.
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, name="c1")(inputs)
    x = layers.Conv2D(8, 3, name="c2")(x + 3.0)
    model = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))
    gated = tfprune.gate(model)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.4)
    small = tfprune.shrink(gated)
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    assert max_abs_diff(gated, small, x) < 1e-4


@pytest.mark.parametrize("build, message", [
    (lambda x: 3.0 / x, "dividing a constant by pruned channels"),
    (lambda x: x / ops.relu(x), "dividing by a tensor whose channels"),
    (lambda x: ops.mean(x, axis=-1, keepdims=True) * x,
     "reduces over the channel axis"),
    (lambda x: ops.reshape(x, (-1, 8, 4, 16)),
     r"reshape from \(None, 8, 8, 8\) to \(None, 8, 4, 16\) mixes"),
    (lambda x: ops.transpose(x, (0, 3, 1, 2)), "moves the channel axis"),
])
def test_operations_that_cannot_take_pruned_channels_keep_them(build,
                                                               message):
    model = _conv_then(build)
    tfprune.measure(model)  # never an internal error
    with pytest.warns(UserWarning, match=rf"not pruning \['conv'\].*"
                                         rf"{message}"):
        gated = tfprune.gate(model)
    assert [layer.name for layer in gated.layers
            if isinstance(layer, tfprune.ChannelGate)] == ["next_gate"]


def test_an_unknown_operation_gets_a_clear_error():
    model = _conv_then(lambda x: ops.cumsum(x, axis=-1))
    tfprune.measure(model)
    with pytest.raises(tfprune.GraphError,
                       match=r"Operation 'cumsum.*' \(Cumsum\) receives "
                             r"prunable channels from \['conv'\].*"
                             r"tfprune.register_rule"):
        tfprune.gate(model)


def _conv_then(build):
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = layers.Conv2D(8, 1, name="next")(build(x))
    return keras.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))


def test_mobilenet_v3_hard_swish_written_with_operators():
    # keras.applications writes hard-sigmoid as ReLU(6)(x + 3) * (1 / 6).
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classifier_activation=None,
        include_preprocessing=False)
    with pytest.warns(UserWarning, match=r"not pruning \['logits'\]"):
        gated = tfprune.gate(model)
    randomize_scores(gated)
    assert abs(tfprune.prune_now(gated, 0.5) - 0.5) <= 0.005
    small = tfprune.shrink(gated)
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype(
        "float32")
    reference = np.abs(keras.ops.convert_to_numpy(gated(x))).max()
    assert max_abs_diff(gated, small, x) <= 1e-4 * reference


def reshape_transpose_net():
    """Channels kept last through ops.reshape and ops.transpose, then a
    reshape that flattens, as `Flatten` does."""
    inputs = keras.Input((4, 4, 3))
    x = ops.relu(_conv(inputs, 32, "a"))
    x = ops.reshape(x, (-1, 16, 32))  # positions merged, channels last
    x = ops.reshape(x, (-1, 4, 4, 32))
    x = ops.transpose(x, (0, 2, 1, 3))  # H and W swapped
    x = ops.relu(_conv(x, 24, "b"))
    x = ops.reshape(x, (-1, 4 * 4 * 24))
    return keras.Model(inputs, layers.Dense(4, name="classifier")(x))


@pytest.mark.parametrize("ratio", [0.3, 0.5])
def test_reshape_and_transpose_keeping_channels_are_pruned(ratio):
    model = reshape_transpose_net()
    randomize_bn(model)
    gated = tfprune.gate(model)
    assert len([l for l in gated.layers
                if isinstance(l, tfprune.ChannelGate)]) == 2
    randomize_scores(gated)
    removed = tfprune.prune_now(gated, ratio)
    small = tfprune.shrink(gated)
    assert abs(removed - ratio) <= 0.005
    assert 1 - small.count_params() / model.count_params() == \
        pytest.approx(removed)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4, 4, 3)).astype(
        "float32")
    assert max_abs_diff(gated, small, x) <= 1e-5


def per_channel_constants_net():
    """A hand-written affine `x * gamma + beta` with NumPy constants, and a
    spatial weighting map broadcast over channels."""
    rng = np.random.default_rng(3)
    inputs = keras.Input((6, 6, 3))
    x = layers.Conv2D(24, 3, padding="same", name="a")(inputs)
    x = x * rng.uniform(0.5, 1.5, 24).astype("float32")
    x = ops.relu(x + rng.normal(0, 0.5, (1, 1, 24)).astype("float32"))
    x = x * rng.uniform(0, 1, (6, 6, 1)).astype("float32")
    x = layers.Conv2D(16, 3, padding="same", name="b")(x)
    x = ops.mean(ops.relu(x), axis=(1, 2))
    return keras.Model(inputs, layers.Dense(4, name="classifier")(x))


def test_per_channel_constants_are_sliced_with_their_channels():
    model = per_channel_constants_net()
    gated = tfprune.gate(model)
    randomize_scores(gated)
    assert abs(tfprune.prune_now(gated, 0.5) - 0.5) <= 0.005
    small = tfprune.shrink(gated)
    assert small.get_layer("a").filters < 24
    x = np.random.default_rng(0).uniform(-1, 1, (2, 6, 6, 3)).astype(
        "float32")
    assert max_abs_diff(gated, small, x) <= 1e-5
