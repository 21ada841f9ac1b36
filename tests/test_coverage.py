"""`tfprune.coverage`: the share of a model pruning can reach, and what not."""

import keras
import pytest
from keras import layers

import tfprune


def test_a_plain_cnn_is_covered_whole():
    report = tfprune.coverage(tfprune.models.vgg16_cifar(width=0.125))
    assert report["params"] > 0.999 and report["macs"] > 0.999
    assert report["groups"] == 13 and report["left_out"] == []
    assert report["total_params"] == tfprune.measure(
        tfprune.models.vgg16_cifar(width=0.125))["params"]


def _grouped():
    inputs = keras.Input((8, 8, 4))
    x = layers.Conv2D(16, 3, name="a")(inputs)
    x = layers.Conv2D(16, 3, groups=4, name="grouped")(x)
    x = layers.Conv2D(32, 1, name="b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(3, name="out")(x))


def test_groups_left_out_are_named_with_their_reason():
    model = _grouped()
    report = tfprune.coverage(model)
    assert report["left_out"] == [{
        "layers": ["a"],
        "reason": "their channels reach 'grouped', and grouped convolutions "
                  "(groups=4) are not supported yet"}]
    # 'a' and 'grouped' stay whole; 'b' (input from 'grouped' is not
    # prunable, output is) and 'out' are reachable.
    a, grouped, b, out = (model.get_layer(n).count_params()
                          for n in ("a", "grouped", "b", "out"))
    assert report["reachable_params"] == b + out
    assert report["params"] == pytest.approx((b + out) / (a + grouped + b +
                                                          out))


@keras.saving.register_keras_serializable(package="tests")
class Mystery(layers.Layer):
    def call(self, x):
        return x[..., ::-1]


def test_an_unknown_layer_is_reported_not_raised():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 3, name="a")(inputs)
    x = Mystery(name="mystery")(x)
    x = layers.Conv2D(8, 3, name="b")(x)
    model = keras.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))
    with pytest.raises(tfprune.GraphError, match="Mystery"):
        tfprune.gate(model)
    report = tfprune.coverage(model)
    assert [entry["layers"] for entry in report["left_out"]] == [["a"]]
    assert "mystery" in report["left_out"][0]["reason"]
    assert 0 < report["params"] < 1 and report["groups"] == 1


def test_nothing_to_prune():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
    report = tfprune.coverage(model)
    assert report["params"] == 0 and report["groups"] == 0
    assert "has nothing to prune" in report["left_out"][0]["reason"]
