"""Graph patterns: merges, concatenation, depthwise, separable, reshape, pre-activation."""

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores


def _check(model, ratio=0.5, **kwargs):
    randomize_bn(model)
    gated = tfprune.gate(model, **kwargs)
    randomize_scores(gated)
    removed = tfprune.prune_now(gated, ratio)
    small = tfprune.shrink(gated)
    x = np.random.default_rng(1).uniform(
        -1, 1, (3, *model.input_shape[1:])).astype("float32")
    assert max_abs_diff(small, gated, x) <= 1e-4
    assert 1 - small.count_params() / model.count_params() == \
        pytest.approx(removed)
    return gated, small


@pytest.mark.parametrize("merge", [layers.Add, layers.Subtract,
                                   layers.Maximum, layers.Minimum,
                                   layers.Average, layers.Multiply])
def test_merges_prune_their_inputs_together(merge):
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(12, 3, padding="same", name="a")(inputs)
    b = layers.Conv2D(12, 1, name="b")(inputs)
    b = layers.BatchNormalization()(b)
    x = merge(name="merge")([a, b])
    x = layers.Conv2D(6, 3, name="c")(x)
    x = layers.GlobalAveragePooling2D()(x)
    gated, small = _check(keras.Model(inputs, layers.Dense(2)(x)))
    assert small.get_layer("a").filters == small.get_layer("b").filters
    assert small.get_layer("a").filters < 12


def test_squeeze_excitation_multiply_with_broadcast():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu",
                      name="body")(inputs)
    se = layers.GlobalAveragePooling2D()(x)
    se = layers.Dense(4, activation="relu", name="squeeze")(se)
    se = layers.Dense(16, activation="sigmoid", name="excite")(se)
    se = layers.Reshape((1, 1, 16))(se)
    x = layers.Multiply()([x, se])
    x = layers.Conv2D(8, 1, name="tail")(x)
    x = layers.GlobalAveragePooling2D()(x)
    _, small = _check(keras.Model(inputs, layers.Dense(2)(x)))
    assert small.get_layer("excite").units == small.get_layer("body").filters


def test_a_merge_with_a_model_input_keeps_those_channels():
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(4, 3, padding="same", name="res")(inputs)
    x = layers.Add()([inputs, x])
    x = layers.Conv2D(6, 3, name="next")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.warns(UserWarning, match=r"not pruning \['res'\]"):
        gated, small = _check(model, ratio=0.2)
    assert small.get_layer("res").filters == 4


def test_concatenate_keeps_offsets():
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(5, 3, padding="same", activation="relu", name="a")(inputs)
    b = layers.Conv2D(7, 1, activation="relu", name="b")(inputs)
    x = layers.Concatenate()([a, b])
    x = layers.MaxPooling2D()(x)
    c = layers.Conv2D(9, 3, padding="same", activation="relu", name="c")(x)
    x = layers.Concatenate()([x, c])  # cascaded concatenation
    x = layers.Flatten()(x)
    _check(keras.Model(inputs, layers.Dense(3)(x)))


def _depthwise_net(multiplier, bn_after):
    inputs = keras.Input((10, 10, 3))
    x = layers.Conv2D(8, 1, name="expand")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=multiplier,
                               use_bias=False, name="dw")(x)
    if bn_after:
        x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(6, 1, name="project")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))


@pytest.mark.parametrize("multiplier, bn_after", [(1, True), (3, False)])
def test_depthwise_follows_its_input(multiplier, bn_after):
    _, small = _check(_depthwise_net(multiplier, bn_after))
    kept = small.get_layer("expand").filters
    assert kept < 8
    assert small.get_layer("dw").get_weights()[0].shape[2] == kept


def test_depthwise_multiplier_then_batchnorm_is_pruned():
    # The gate sits before the depth_multiplier > 1 expansion; the
    # BatchNormalization after it turns masked zeros into constants, which
    # the 1x1 'project' convolution folds into its bias.
    _, small = _check(_depthwise_net(3, True), ratio=0.3)
    kept = small.get_layer("expand").filters
    assert kept < 8
    assert small.get_layer("project").get_weights()[0].shape[2] == 3 * kept


def test_separable_conv2d_and_conv1d_groups():
    inputs = keras.Input((10, 10, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="a")(inputs)
    x = layers.SeparableConv2D(12, 3, depth_multiplier=2, name="sep")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("swish")(x)
    x = layers.GlobalMaxPooling2D()(x)
    _, small = _check(keras.Model(inputs, layers.Dense(2)(x)))
    assert small.get_layer("sep").filters < 12


def test_pre_activation_bn_after_add_gets_a_second_gate_call():
    inputs = keras.Input((8, 8, 3))
    stem = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    y = layers.BatchNormalization()(stem)
    y = layers.ReLU()(y)
    y = layers.Conv2D(8, 3, padding="same", name="inner")(y)
    x = layers.Add()([stem, y])
    x = layers.BatchNormalization(name="post_bn")(x)  # BN(0) != 0
    x = layers.ReLU()(x)
    x = layers.Conv2D(4, 3, name="head")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    gated, small = _check(model, ratio=0.3)
    # BN(0) != 0, so the stem/inner space's gate is also called after each
    # BatchNormalization -> ReLU that feeds a convolution.
    assert len(gated.get_layer("stem_gate")._inbound_nodes) == 4
    assert small.get_layer("stem").filters < 8
    assert small.get_layer("post_bn").get_weights()[0].shape == (
        small.get_layer("stem").filters,)


def test_per_channel_normalization_inside_the_network():
    inputs = keras.Input((6, 6, 3))
    x = layers.Conv2D(6, 3, activation="relu", name="a")(inputs)
    x = layers.Normalization(mean=list(range(6)), variance=[1.0] * 6)(x)
    x = layers.Conv2D(4, 3, name="b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    _check(keras.Model(inputs, layers.Dense(2)(x)))


def test_reshape_that_mixes_channels_stops_pruning():
    inputs = keras.Input((4, 4, 6))
    x = layers.Conv2D(6, 1, name="a")(inputs)
    x = layers.Reshape((4, 6, 4))(x)
    x = layers.Conv2D(3, 1, name="b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.warns(UserWarning, match="changes the channel axis"):
        gated = tfprune.gate(model)
    names = [l.name for l in gated.layers
             if isinstance(l, tfprune.ChannelGate)]
    assert names == ["b_gate"]
