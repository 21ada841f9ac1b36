"""Every Keras private attribute tfprune reads still means what it did:
the first tests to run on a new Keras release (see tfprune/keras_compat.py
and setup.py's Keras range)."""

import keras
import numpy as np

from tfprune import keras_compat


def _model():
    inputs = {"image": keras.Input((4, 4, 1), name="image")}
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs["image"])
    outputs = [keras.layers.GlobalAveragePooling2D(name="pool")(x)]
    return keras.Model(inputs, outputs, name="m")


def test_functional_models_are_told_from_subclassed_ones():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert keras_compat.is_functional(_model())
    assert not keras_compat.is_functional(keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1)]))
    assert not keras_compat.is_functional(Subclassed())
    assert not keras_compat.is_functional(keras.layers.Dense(1))


def test_nodes_by_depth_hold_every_layer_call_inputs_deepest():
    by_depth = keras_compat.nodes_by_depth(_model())
    names = [[node.operation.name for node in by_depth[depth]]
             for depth in sorted(by_depth, reverse=True)]
    assert names == [["image"], ["conv"], ["pool"]]


def test_input_and_output_structures_keep_their_nesting():
    model = _model()
    assert set(keras_compat.input_structure(model)) == {"image"}
    outputs = keras_compat.output_structure(model)
    assert isinstance(outputs, list) and len(outputs) == 1


def test_a_symbolic_tensor_names_the_layer_that_made_it():
    x = keras.Input((4,))
    y = keras.layers.Dense(2, name="dense")(x)
    assert keras_compat.producing_operation(y).name == "dense"
    assert type(keras_compat.producing_operation(keras.ops.relu(y))) \
        .__name__ == "Relu"


def test_an_optimizer_finds_each_variables_slots():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    for variable in model.trainable_variables:
        index = keras_compat.optimizer_slot_index(optimizer, variable)
        assert optimizer.momentums[index].shape == variable.shape
    stranger = keras.Variable(np.zeros(2))
    try:
        keras_compat.optimizer_slot_index(optimizer, stranger)
    except KeyError:
        pass
    else:
        raise AssertionError("an untrained variable has no slot index")
