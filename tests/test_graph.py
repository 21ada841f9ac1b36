"""gate(): where gates go, and clear errors for what cannot be pruned."""

import keras
import numpy as np
import pytest
from keras import layers

import tfprune


def _gate_names(gated):
    return [l.name for l in gated.layers if isinstance(l, tfprune.ChannelGate)]


def test_gates_follow_bn_relu_pool_chain_and_skip_the_classifier():
    gated = tfprune.gate(tfprune.models.vgg16_cifar(width=0.125))
    names = _gate_names(gated)
    assert len(names) == 13 and "classifier_gate" not in names
    order = [l.name for l in gated.layers]
    i = order.index("block1_conv2_gate")
    assert order[i - 4:i] == ["block1_conv2", "block1_bn2", "block1_relu2",
                              "block1_pool"]


def test_gate_copies_weights_and_leaves_the_model_alone():
    model = tfprune.models.small_cnn(widths=(4, 8), dense_units=8)
    before = [w.copy() for w in model.get_weights()]
    gated = tfprune.gate(model)
    x = np.random.default_rng(0).uniform(0, 16, (3, 8, 8, 1)).astype("f4")
    np.testing.assert_allclose(gated(x), model(x), atol=1e-6)
    gated.layers[2].set_weights([np.zeros_like(w)
                                 for w in gated.layers[2].get_weights()])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sequential_models_are_accepted():
    model = keras.Sequential([
        keras.Input((16, 3)),
        layers.Conv1D(8, 3, activation="relu"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(4),
    ])
    gated = tfprune.gate(model)
    assert _gate_names(gated) == [model.layers[0].name + "_gate"]


def test_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(tfprune.GraphError,
                       match="subclassed model.*functional API"):
        tfprune.gate(Net())


def test_nothing_to_prune():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2)(inputs), name="tiny")
    with pytest.raises(tfprune.GraphError, match="'tiny' has nothing to prune"):
        tfprune.gate(model)


class Mixer(layers.Layer):
    """A custom layer that mixes channels: tfprune cannot see through it."""

    def call(self, x):
        return x[..., ::-1]


def _model_with_custom_layer():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(6, 3, name="conv_a")(inputs)
    x = Mixer(name="mixer")(x)
    x = layers.Conv2D(4, 3, name="conv_b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(2)(x))


def test_unknown_layer_is_a_clear_error_with_skip_hint():
    with pytest.raises(tfprune.GraphError) as info:
        tfprune.gate(_model_with_custom_layer())
    message = str(info.value)
    assert "'mixer' (Mixer)" in message
    assert "skip=['conv_a']" in message


def test_skip_avoids_the_unknown_layer():
    gated = tfprune.gate(_model_with_custom_layer(), skip=["conv_a"])
    assert _gate_names(gated) == ["conv_b_gate"]


def test_register_rule_makes_a_custom_layer_prunable():
    class Square(layers.Layer):
        def call(self, x):
            return x * x

    tfprune.register_rule(Square, tfprune.ChannelwiseRule(
        zero_preserving=True))
    inputs = keras.Input((8, 8, 3))
    x = Square()(layers.Conv2D(6, 3, name="conv_a")(inputs))
    x = layers.GlobalAveragePooling2D()(x)
    gated = tfprune.gate(keras.Model(inputs, layers.Dense(2)(x)))
    assert _gate_names(gated) == ["conv_a_gate"]


def test_register_rule_validates_arguments():
    with pytest.raises(TypeError, match="subclass of keras.layers.Layer"):
        tfprune.register_rule(int, tfprune.LayerRule())
    with pytest.raises(TypeError, match="LayerRule instance"):
        tfprune.register_rule(layers.Dense, "dense")


def test_known_but_unsupported_layer_excludes_the_group_with_a_warning():
    inputs = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, name="conv_a")(inputs)
    b = layers.Conv2D(4, 3, groups=2, name="grouped")(a)
    c = layers.Conv2D(4, 3, name="conv_c")(b)
    x = layers.GlobalAveragePooling2D()(c)
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.warns(UserWarning, match=r"not pruning \['conv_a'\].*groups=2"):
        gated = tfprune.gate(model)
    assert "conv_a_gate" not in _gate_names(gated)
    assert "conv_c_gate" in _gate_names(gated)


def test_bad_skip_values():
    model = tfprune.models.small_cnn()
    with pytest.raises(TypeError, match="list of layer names"):
        tfprune.gate(model, skip="conv1")
    with pytest.raises(ValueError, match=r"not in model.*\['nope'\]"):
        tfprune.gate(model, skip=["nope"])


def test_prune_or_shrink_an_ungated_model():
    model = tfprune.models.small_cnn()
    with pytest.raises(tfprune.GraphError, match="call tfprune.gate"):
        tfprune.shrink(model)
    with pytest.raises(tfprune.GraphError, match="call tfprune.gate"):
        tfprune.prune_now(model, 0.5)


def test_the_keras_functional_internals_tfprune_reads_still_exist():
    """graph.py walks Keras' functional graph through attributes Keras does
    not document; if a release renames one, this fails and says which."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    node = model._nodes_by_depth[0][0]
    needed = {
        "Functional._nodes_by_depth": model._nodes_by_depth,
        "Functional._inputs_struct": getattr(model, "_inputs_struct", None),
        "Functional._outputs_struct": getattr(model, "_outputs_struct", None),
        "Node.operation": getattr(node, "operation", None),
        "Node.is_input": hasattr(node, "is_input") or None,
        "Node.input_tensors": getattr(node, "input_tensors", None),
        "Node.outputs": getattr(node, "outputs", None),
        "Node.arguments.fill_in": getattr(
            getattr(node, "arguments", None), "fill_in", None),
        "KerasTensor._keras_history.operation": getattr(
            getattr(inputs, "_keras_history", None), "operation", None),
    }
    missing = [name for name, value in needed.items() if value is None]
    assert not missing, (
        f"Keras {keras.__version__} no longer has {missing}: update "
        "tfprune/graph.py (calls, replay, as_functional).")
