"""Importance criteria: learned scores, filter L1 norm, BatchNorm |gamma|,
random."""

import numpy as np
import pytest

import tfprune
from tfprune.graph import ChannelGraph
from tfprune.importance import channel_importance


def _gated():
    return tfprune.gate(tfprune.models.small_cnn(widths=(4, 6),
                                                 dense_units=5))


def test_scores_compare_across_layers_relative_to_their_mean():
    gated = _gated()
    graph = ChannelGraph(gated)
    assert all((v == 1.0).all() for v in channel_importance(graph))
    gated.get_layer("conv1_gate").score.assign([4.0, 2.0, 2.0, 0.0])
    gated.get_layer("conv2_gate").score.assign([1.0] * 6)
    first, second = channel_importance(graph)[:2]
    assert first[0] > first[1] == first[2] > first[3]
    # Not normalized per layer: 2.0 in conv1 is worth twice 1.0 in conv2.
    np.testing.assert_allclose(first[1] / second[0], 2.0)


def test_negative_scores_set_by_hand_are_shifted():
    gated = _gated()
    gated.get_layer("conv1_gate").score.assign([1.0, -1.0, 0.0, -3.0])
    first = channel_importance(ChannelGraph(gated))[0]
    assert (first > 0).all()
    assert first[0] > first[2] > first[1] > first[3]


def test_random_importance_is_fixed_by_the_seed():
    graph = ChannelGraph(_gated())
    a = channel_importance(graph, "random", seed=1)
    b = channel_importance(graph, "random", seed=1)
    c = channel_importance(graph, "random", seed=2)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not all((x == y).all() for x, y in zip(a, c))


def test_l1_keeps_the_largest_filters():
    gated = _gated()
    conv = gated.get_layer("conv1")
    kernel = np.ones(conv.kernel.shape, "float32")
    kernel[..., 1] = 5.0
    kernel[..., 3] = 0.1
    conv.kernel.assign(kernel)
    first = channel_importance(ChannelGraph(gated), "l1")[0]
    np.testing.assert_allclose(first / first[0], [1.0, 5.0, 1.0, 0.1],
                               rtol=1e-6)
    # removing a few channels takes the smallest filter first
    tfprune.prune_now(gated, 0.05, metric="channels", importance="l1")
    assert gated.get_layer("conv1_gate").mask.numpy()[3] == 0


def test_bn_gamma_ranks_channels():
    gated = _gated()
    gated.get_layer("bn2").gamma.assign([1.0, 0.01, 2.0, 0.02, 1.5, 0.5])
    importance = channel_importance(ChannelGraph(gated), "bn")
    np.testing.assert_allclose(importance[1],
                               [1.0, 0.01, 2.0, 0.02, 1.5, 0.5], atol=1e-9)
    # the dense layer has no BatchNormalization: L1 of its kernel instead
    assert importance[2].shape == (5,) and (importance[2] > 0).all()


def test_bad_importance():
    gated = _gated()
    with pytest.raises(ValueError, match="Received: importance='taylor'"):
        tfprune.prune_now(gated, 0.5, importance="taylor")
    with pytest.raises(ValueError, match="Received: importance='taylor'"):
        tfprune.TargetRatio(0.5, ranking=tfprune.Ranking(importance="taylor"))


def test_one_shot_schedule_with_l1():
    import keras

    model = tfprune.models.small_cnn()
    gated = tfprune.gate(model)
    gated.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    x = np.random.default_rng(0).uniform(0, 16, (40, 8, 8, 1)).astype("f4")
    gated.fit(x, np.arange(40) % 10, epochs=3, batch_size=20, verbose=0,
              callbacks=[tfprune.TargetRatio(
                  0.7,
                  schedule=tfprune.PruningSchedule(warmup=2 / 3, ramp=0),
                  ranking=tfprune.Ranking(importance="l1"))])
    removed = 1 - tfprune.measure(gated)["params"] / model.count_params()
    assert abs(removed - 0.7) <= 0.005
