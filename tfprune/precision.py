"""Mixed precision: float32 copies of models trained in float16 / bfloat16.

Under `keras.mixed_precision.set_global_policy("mixed_bfloat16")` (or
`"mixed_float16"`) a model keeps float32 variables but computes in 16
bits, and every layer carries that policy in its config. `tfprune.gate`,
`fit` with `tfprune.TargetRatio` and `tfprune.shrink` keep the policy; the
int8 converter needs a float32 graph to calibrate, so `tfprune.to_tflite`
converts `float32_copy(model)`: the model rebuilt from its config with
every 16-bit policy replaced by float32, and its weights copied.

>>> small = tfprune.shrink(gated)                  # mixed_bfloat16 layers
>>> tfprune.precision.float32_copy(small).layers[1].dtype_policy.name
'float32'
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

LOW_PRECISION = ("float16", "bfloat16")
_LOW_POLICIES = LOW_PRECISION + ("mixed_float16", "mixed_bfloat16")
_LOW_ENUMS = {tf.float16.as_datatype_enum, tf.bfloat16.as_datatype_enum}


def _all_layers(model):
    """`model`'s layers, those of nested models included."""
    found, layers = [], list(getattr(model, "layers", []))
    while layers:
        layer = layers.pop(0)
        found.append(layer)
        layers.extend(getattr(layer, "layers", []))
    return found


def low_precision_layers(model):
    """Names of the layers of `model` (nested ones too) that compute in, or
    keep variables in, float16 or bfloat16.

    >>> tfprune.precision.low_precision_layers(model)   # mixed_bfloat16
    ['conv1', 'bn1', ...]
    """
    names = []
    for layer in _all_layers(model):
        policy = getattr(layer, "dtype_policy", None)
        dtypes = {getattr(policy, "compute_dtype", None),
                  getattr(policy, "variable_dtype", None)}
        if dtypes & set(LOW_PRECISION):
            names.append(layer.name)
    return names


def _low_precision_weights(model):
    return [w.path for w in model.weights
            if keras.backend.standardize_dtype(w.dtype) in LOW_PRECISION]


@contextlib.contextmanager
def global_policy(name):
    """Sets Keras' global dtype policy to `name` for a `with` block and
    restores the one before, also when the block raises.

    >>> with tfprune.precision.global_policy("float32"):
    ...     model = keras.Model.from_config(config)
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _float32_config(value):
    """A serialized Keras object with every 16-bit dtype policy (and
    16-bit `dtype` string) replaced by float32."""
    if isinstance(value, dict):
        config = value.get("config")
        if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") \
                and isinstance(config, dict) \
                and config.get("name") in _LOW_POLICIES:
            return dict(value, config=dict(config, name="float32"))
        return {key: "float32" if key == "dtype" and isinstance(item, str)
                and item in _LOW_POLICIES else _float32_config(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_float32_config(item) for item in value)
    return value


def float32_copy(model):
    """A copy of `model` that computes in float32 throughout.

    The model is rebuilt from its config (`keras.saving`, so custom layers
    must be registered serializable, as for `model.save`) with every
    float16 / bfloat16 / mixed policy replaced by `"float32"`, under the
    float32 global policy (the policy before is restored, also on error),
    and every weight is copied, cast to float32. For a gated model the
    copy carries the same masks and scores. `model` is not changed; a
    model that already computes in float32 is returned as it is.

    Args:
        model: a Keras model, e.g. trained under `mixed_bfloat16` and shrunk.

    Returns:
        A `keras.Model` (not compiled), or `model` itself.

    Raises:
        ValueError: the model cannot be rebuilt from its config, its
            weights do not fit the rebuilt model, or a layer of the copy
            still computes in 16 bits.

    Examples:
        >>> with_float32 = tfprune.precision.float32_copy(small)
        >>> tfprune.precision.low_precision_layers(with_float32)
        []
    """
    if not (low_precision_layers(model) or _low_precision_weights(model)):
        return model
    name = getattr(model, "name", type(model).__name__)
    with global_policy("float32"):
        config = keras.saving.serialize_keras_object(model)
        if isinstance(config, dict):
            config.pop("compile_config", None)
        try:
            # The config is this process's own model: Lambda layers in it
            # are the user's code, not a file's.
            copy = keras.saving.deserialize_keras_object(
                _float32_config(config), safe_mode=False)
        except Exception as error:
            raise ValueError(
                f"Model '{name}' computes in 16 bits (mixed precision), and "
                "the int8 converter needs a float32 model, but it could not "
                "be rebuilt from its config in float32 "
                f"({type(error).__name__}: {error}). Register its custom "
                "layers with keras.saving.register_keras_serializable, or "
                "build the model again under "
                "keras.mixed_precision.set_global_policy('float32') and "
                "copy the weights.") from error
    source, target = model.weights, copy.weights
    shapes = [tuple(w.shape) for w in source]
    if shapes != [tuple(w.shape) for w in target]:
        raise ValueError(
            f"Model '{name}' rebuilt in float32 from its config has other "
            f"weights ({len(target)}) than the model ({len(source)}), so "
            "its weights cannot be copied. Build the model again under "
            "keras.mixed_precision.set_global_policy('float32') and copy "
            "the weights.")
    for src, dst in zip(source, target):
        value = keras.ops.convert_to_numpy(src)
        if keras.backend.standardize_dtype(src.dtype) in LOW_PRECISION:
            value = value.astype(np.float32)
        dst.assign(value)
    left = low_precision_layers(copy) + _low_precision_weights(copy)
    if left:
        raise ValueError(
            f"Model '{name}' rebuilt in float32 still computes in 16 bits "
            f"in layers {left[:3]}{' ...' if len(left) > 3 else ''} (they "
            "set their dtype themselves). Build the model again under "
            "keras.mixed_precision.set_global_policy('float32') and copy "
            "the weights.")
    return copy


def low_precision_ops(concrete_function):
    """Names of the operations of a traced `tf.function` (the functions
    it calls included) that take or make float16 or bfloat16 tensors.

    >>> fn = tf.function(lambda x: model(x)).get_concrete_function(spec)
    >>> tfprune.precision.low_precision_ops(fn)
    []
    """
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node) + [
        node for function in graph_def.library.function
        for node in function.node_def]
    names = []
    for node in nodes:
        for attr in node.attr.values():
            if attr.type in _LOW_ENUMS or _LOW_ENUMS & set(attr.list.type):
                names.append(node.name)
                break
    return names
