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


def test_gate_says_how_much_it_reaches():
    with pytest.warns(UserWarning) as record:
        tfprune.gate(_grouped())
    report = tfprune.coverage(_grouped())
    messages = [str(w.message) for w in record]
    assert (f"pruning reaches {100 * report['params']:.1f}% of the "
            "parameters") in messages[-1]
    assert "tfprune.coverage(model) lists the 1 part(s) left out" in \
        messages[-1]


ZOO = {  # keras.applications families and an input side they accept
    "ConvNeXtTiny": 32, "DenseNet121": 32, "EfficientNetB0": 32,
    "EfficientNetV2B0": 32, "InceptionV3": 75, "MobileNet": 32,
    "MobileNetV2": 32, "MobileNetV3Small": 32, "ResNet50": 32,
    "ResNet50V2": 32, "VGG16": 32, "Xception": 71,
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_keras_applications_are_measured_and_mostly_reachable(name):
    kwargs = {}
    if name.startswith(("ConvNeXt", "EfficientNetV2", "MobileNetV3")):
        kwargs["include_preprocessing"] = False
    side = ZOO[name]
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(side, side, 3), classes=10,
        classifier_activation=None, **kwargs)
    assert tfprune.measure(model)["params"] == model.count_params()
    report = tfprune.coverage(model)
    assert report["params"] >= 0.9, report["left_out"][:1]
