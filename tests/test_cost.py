"""measure() and the cost polynomials behind the budget."""

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from tfprune import cost, polynomial
from tfprune.device import budgets
from tfprune.graph import ChannelGraph


def test_measure_matches_count_params_and_hand_counted_macs():
    inputs = keras.Input((10, 10, 3))
    x = layers.Conv2D(8, 3, padding="same")(inputs)        # 10x10x8
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)                            # 5x5x8
    x = layers.Conv2D(4, 3, use_bias=False)(x)              # 3x3x4
    x = layers.Flatten()(x)
    model = keras.Model(inputs, layers.Dense(5)(x))
    macs = 100 * 9 * 3 * 8 + 9 * 9 * 8 * 4 + 36 * 5
    assert tfprune.measure(model) == {
        "params": model.count_params(), "macs": macs, "channels": 17}


@pytest.mark.parametrize("width", [0.125, 0.5, 1.0])
def test_vgg16_params(width):
    model = tfprune.models.vgg16_cifar(width=width)
    assert tfprune.measure(model)["params"] == model.count_params()


def test_vgg16_full_width_matches_the_paper_scale():
    # 14.7 M in the paper (BN adds 2 non-trainable values per channel).
    model = tfprune.models.vgg16_cifar()
    assert 14.7e6 < tfprune.measure(model)["params"] < 15.1e6
    assert 313e6 < tfprune.measure(model)["macs"] < 315e6


def test_gated_model_measures_as_its_shrunk_model():
    model = tfprune.models.vgg16_cifar(width=0.125)
    gated = tfprune.gate(model)
    assert tfprune.measure(gated) == tfprune.measure(model)
    tfprune.prune_now(gated, 0.7, metric="macs")
    assert tfprune.measure(gated) == tfprune.measure(tfprune.shrink(gated))


def test_polynomial_matches_measure_at_random_widths():
    model = tfprune.models.small_cnn(widths=(6, 10), dense_units=12)
    gated = tfprune.gate(model)
    graph = ChannelGraph(gated)
    rng = np.random.default_rng(0)
    for _ in range(5):
        for group in graph.groups:
            mask = np.zeros(group.size)
            mask[rng.choice(group.size, rng.integers(1, group.size + 1),
                            replace=False)] = 1
            group.gate.set_mask(mask)
        widths = cost.group_widths(graph)
        small = tfprune.measure(tfprune.shrink(gated))
        for metric in cost.MEASURED:
            assert cost.cost_polynomial(graph, metric)(widths) == small[metric]


def test_polynomial_decrease_is_exact_for_one_group_at_a_time():
    poly = polynomial.Polynomial(2)
    poly.add({(0, 1): 9.0, (1, polynomial.CONSTANT): 1.0, (0, 0): 2.0})
    w = np.array([4.0, 8.0])
    saved = poly.decrease(w, [1, 2])
    assert saved[0] == poly(w) - poly([3, 8])
    assert saved[1] == poly(w) - poly([4, 6])


def test_unknown_metric():
    with pytest.raises(ValueError, match="Received: metric='flops'"):
        budgets.check_metric("flops")
    graph = ChannelGraph(tfprune.gate(tfprune.models.small_cnn()))
    # Device costs are built above this module, by budgets.cost_model.
    with pytest.raises(ValueError, match="Received: metric='flash'"):
        cost.cost_polynomial(graph, "flash")
