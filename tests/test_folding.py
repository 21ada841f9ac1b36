"""Pruned channels that are constants, not zeros, folded into the next bias.

A BatchNormalization after a `Concatenate` of several groups (DenseNet), or
after a `depth_multiplier > 1` expansion, turns masked channels into one
constant each. A following Dense or 1x1 (or 'valid') convolution absorbs
them: into its bias, or into the moving mean of the BatchNormalization
right after it when it has no bias.
"""

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores


def _dense_block_net(growth=6, layers_per_block=3, second_conv="same"):
    """A small DenseNet: BN-ReLU-Conv1x1-BN-ReLU-Conv3x3 layers whose outputs
    are concatenated, a transition (BN-ReLU-Conv1x1-AvgPool), a classifier
    after BN-ReLU-GAP. The 1x1 convolutions have no bias, as in Keras's
    DenseNet."""
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(
        inputs)
    for block in range(2):
        for i in range(layers_per_block):
            y = layers.BatchNormalization()(x)
            y = layers.ReLU()(y)
            y = layers.Conv2D(2 * growth, 1, use_bias=False,
                              name=f"b{block}_{i}_1x1")(y)
            y = layers.BatchNormalization()(y)
            y = layers.ReLU()(y)
            y = layers.Conv2D(growth, 3, padding=second_conv,
                              use_bias=False, name=f"b{block}_{i}_3x3")(y)
            if second_conv == "valid":
                y = layers.ZeroPadding2D(1)(y)
            x = layers.Concatenate()([x, y])
        if block == 0:
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.Conv2D(10, 1, use_bias=False, name="transition")(x)
            x = layers.AveragePooling2D(2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(4, name="classifier")(x))


def _prune(model, ratio):
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    removed = tfprune.prune_now(gated, ratio)
    return gated, removed, tfprune.shrink(gated)


def _input(model, n=3):
    return np.random.default_rng(1).uniform(
        -1, 1, (n, *model.input_shape[1:])).astype("float32")


@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.7])
def test_a_dense_block_is_pruned_whole_with_equal_logits(ratio, recwarn):
    model = _dense_block_net()
    gated, removed, small = _prune(model, ratio)
    assert not [w for w in recwarn if "not pruning" in str(w.message)]
    assert tfprune.coverage(model)["params"] == 1.0
    assert abs(removed - ratio) <= 0.005
    # The cost model counts the one bias `shrink` adds (the transition has
    # no BatchNormalization right after it), so it predicts count_params.
    assert tfprune.measure(gated)["params"] == small.count_params()
    assert small.get_layer("transition").use_bias
    assert not small.get_layer("b0_1_1x1").use_bias  # folded into BN
    x = _input(model)
    reference = np.abs(keras.ops.convert_to_numpy(gated(x))).max()
    assert max_abs_diff(gated, small, x) <= 1e-5 * reference


def test_shrink_leaves_the_gated_model_unchanged():
    model = _dense_block_net()
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5)
    before = [w.copy() for w in gated.get_weights()]
    tfprune.shrink(gated)
    after = gated.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_a_padded_convolution_cannot_fold_so_those_groups_stay():
    # 3x3 'same' after BN of a concatenation: at the borders the constant
    # meets padding zeros, which no bias reproduces.
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(6, 3, padding="same", name="a")(inputs)
    b = layers.Conv2D(6, 3, padding="same", name="b")(inputs)
    x = layers.Concatenate()([a, b])
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(5, 3, padding="same", name="c")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.warns(UserWarning, match=r"not pruning \['a'\].*not zero"):
        gated = tfprune.gate(model)
    names = [l.name for l in gated.layers
             if isinstance(l, tfprune.ChannelGate)]
    assert names == ["c_gate"]


def test_a_dense_after_flatten_folds_constants_of_every_position():
    inputs = keras.Input((4, 4, 3))
    a = layers.Conv2D(5, 3, padding="same", name="a")(inputs)
    b = layers.Conv2D(4, 1, name="b")(inputs)
    x = layers.Concatenate()([a, b])
    x = layers.BatchNormalization()(x)
    x = layers.Activation("sigmoid")(x)
    x = layers.Flatten()(x)
    model = keras.Model(inputs, layers.Dense(3, name="out")(x))
    gated, removed, small = _prune(model, 0.4)
    assert small.get_layer("a").filters + small.get_layer("b").filters < 9
    assert max_abs_diff(gated, small, _input(model)) <= 1e-5
