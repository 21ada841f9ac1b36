"""Property tests: random functional models from the supported layers."""

import keras
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import layers

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores

BLOCKS = ["conv", "residual", "projection", "concat", "depthwise", "pool",
          "se", "separable"]


def build(blocks, widths, head):
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(widths[0], 3, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for kind, w in zip(blocks, widths[1:]):
        if kind == "conv":
            x = layers.Conv2D(w, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        elif kind in ("residual", "projection"):
            shortcut = x
            if kind == "projection":
                shortcut = layers.Conv2D(w, 1)(x)
            y = layers.Conv2D(w // 2 + 1, 3, padding="same",
                              activation="relu")(x)
            y = layers.Conv2D(shortcut.shape[-1], 3, padding="same")(y)
            y = layers.BatchNormalization()(y)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
        elif kind == "concat":
            a = layers.Conv2D(w, 1, activation="relu")(x)
            b = layers.Conv2D(w // 2 + 1, 3, padding="same",
                              activation="relu")(x)
            x = layers.Concatenate()([a, b, x])
        elif kind == "depthwise":
            x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU(6.0)(x)
        elif kind == "pool":
            if x.shape[1] > 3:
                x = layers.MaxPooling2D()(x)
        elif kind == "se":
            s = layers.GlobalAveragePooling2D()(x)
            s = layers.Dense(w // 2 + 1, activation="relu")(s)
            s = layers.Dense(x.shape[-1], activation="sigmoid")(s)
            x = layers.Multiply()([x, layers.Reshape((1, 1, x.shape[-1]))(s)])
        elif kind == "separable":
            x = layers.SeparableConv2D(w, 3, padding="same")(x)
            x = layers.LeakyReLU()(x)
    if head == "flatten":
        x = layers.Flatten()(layers.MaxPooling2D()(x))
    else:
        x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(3)(x))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=5),
    widths=st.lists(st.integers(2, 12), min_size=6, max_size=6),
    head=st.sampled_from(["flatten", "gap"]),
    ratio=st.floats(0.1, 0.8),
    seed=st.integers(0, 100),
)
def test_random_model_shrinks_exactly(blocks, widths, head, ratio, seed):
    keras.utils.set_random_seed(seed)
    model = build(blocks, widths, head)
    randomize_bn(model, seed)
    gated = tfprune.gate(model)
    randomize_scores(gated, seed)
    try:
        removed = tfprune.prune_now(gated, ratio)
    except tfprune.BudgetError:
        return  # a tiny model whose fixed layers exceed the budget
    small = tfprune.shrink(gated)
    x = np.random.default_rng(seed).normal(size=(2, 12, 12, 3)).astype("f4")
    assert max_abs_diff(small, gated, x) <= 1e-4
    measured = 1 - small.count_params() / model.count_params()
    assert measured >= ratio
    assert abs(measured - removed) < 1e-9
    assert tfprune.measure(model)["params"] == model.count_params()
