"""The one place tfprune reads Keras' private internals.

Keras 3 has no public API for a functional model's call graph, for the
layer that produced a symbolic tensor, or for where an optimizer keeps a
variable's slots. tfprune needs all three; every private attribute it uses
is read here and nowhere else (tests/test_architecture.py checks it), so a
Keras release that renames one breaks one small module, and
tests/test_keras_compat.py says which accessor.

setup.py allows only the Keras versions the suite has run against. To admit
a new release: install it, run `python -m pytest -q tests/test_keras_compat.py`
(seconds), then the whole suite, and widen the range.

>>> from tfprune import keras_compat
>>> keras_compat.is_functional(model)
True
"""

import keras


def is_functional(model):
    """True for a functional `keras.Model`: one whose layer calls form a
    graph tfprune can read (a Sequential model is not; `tfprune.graph`
    wraps it in one first)."""
    return isinstance(model, keras.Model) and hasattr(model,
                                                      "_nodes_by_depth")


def nodes_by_depth(model):
    """`{depth: [Node, ...]}` of a functional model; the deepest depth holds
    the input nodes, depth 0 the output nodes."""
    return model._nodes_by_depth


def input_structure(model):
    """The nested structure (dict, list or tensor) of the model's inputs,
    as `keras.Model(inputs=...)` was given them."""
    return model._inputs_struct


def output_structure(model):
    """The nested structure of the model's outputs."""
    return model._outputs_struct


def producing_operation(tensor):
    """The layer or operation whose call produced the symbolic `tensor`."""
    return tensor._keras_history.operation


def optimizer_slot_index(optimizer, variable):
    """The index of `variable`'s slots (momentums, velocities) in the lists
    a `keras.optimizers.Optimizer` keeps; KeyError when it does not train
    the variable."""
    return optimizer._get_variable_index(variable)
