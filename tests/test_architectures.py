"""gate -> prune_now(0.5) -> shrink on real architectures: equal outputs, exact ratio."""

import keras
import numpy as np
import pytest

import tfprune
from conftest import max_abs_diff, randomize_bn, randomize_scores

ARCHITECTURES = {
    "resnet20": lambda: tfprune.models.resnet_cifar(20),
    "resnet56": lambda: tfprune.models.resnet_cifar(56, width=0.5),
    "mobilenet_v2_cifar": lambda: tfprune.models.mobilenet_v2_cifar(
        width=0.5),
    "conv1d_kws": tfprune.models.conv1d_kws,
    "keras_MobileNetV2": lambda: keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10),
    "keras_MobileNet": lambda: keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=10),
    "keras_ResNet50": lambda: keras.applications.ResNet50(
        input_shape=(32, 32, 3), weights=None, classes=10),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_prune_half_and_shrink(name):
    model = ARCHITECTURES[name]()
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5)
    small = tfprune.shrink(gated)
    x = np.random.default_rng(1).uniform(
        0, 255, (4, *model.input_shape[1:])).astype("float32")
    assert max_abs_diff(small, gated, x) <= 1e-4
    assert tfprune.measure(model)["params"] == model.count_params()
    removed = 1 - small.count_params() / model.count_params()
    assert abs(removed - 0.5) <= 0.005


def test_resnet_stage_trunks_share_one_gate():
    gated = tfprune.gate(tfprune.models.resnet_cifar(20))
    trunk = gated.get_layer("stem_conv_gate")
    calls = len(trunk._inbound_nodes)
    assert calls == 4  # the stem and the three stage-1 blocks' second convs
    tfprune.prune_now(gated, 0.6)
    small = tfprune.shrink(gated)
    widths = {small.get_layer(f"stage1_block{b}_2_conv").filters
              for b in (1, 2, 3)}
    assert widths == {small.get_layer("stem_conv").filters}


@pytest.mark.parametrize("round_to", [4, 8])
@pytest.mark.parametrize("metric", ["params", "macs"])
def test_round_to(round_to, metric):
    model = tfprune.models.resnet_cifar(20, width=2.0)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    removed = tfprune.prune_now(gated, 0.6, metric=metric, round_to=round_to)
    small = tfprune.shrink(gated)
    for layer in small.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.filters % round_to == 0, layer.name
    measured = 1 - tfprune.measure(small)[metric] / tfprune.measure(model)[
        metric]
    assert measured == pytest.approx(removed)
    assert abs(measured - 0.6) <= 0.005


def test_a_keras_application_nested_inside_a_model_is_inlined():
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    randomize_bn(backbone)
    gated = tfprune.gate(model)
    assert not any(isinstance(l, keras.Model) for l in gated.layers)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5)
    small = tfprune.shrink(gated)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("f4")
    assert max_abs_diff(small, gated, x) <= 1e-4
    # Before pruning, the flat gated copy computes what the nested model did.
    fresh = tfprune.gate(model)
    assert max_abs_diff(fresh, model, x) <= 1e-4
