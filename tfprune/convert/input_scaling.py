"""Folding an input `Normalization` / `Rescaling` into the convolution
after it: one int8 operator less."""

import keras
import numpy as np

from tfprune import graph as graph_lib
from tfprune import precision

_SCALING_LAYERS = (keras.layers.Normalization, keras.layers.Rescaling)
_FOLDING_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D,
                  keras.layers.Conv3D, keras.layers.DepthwiseConv1D,
                  keras.layers.DepthwiseConv2D)


def _offset_and_scale(layer, channels):
    """`(offset, scale)`, vectors of `channels` values with which `layer`
    computes `(x + offset) * scale`, or None when it does not broadcast
    along the last axis alone (or would divide by zero)."""
    if channels is None:
        return None
    if isinstance(layer, keras.layers.Normalization):
        if layer.invert or layer.mean is None:
            return None
        mean = keras.ops.convert_to_numpy(layer.mean).astype(np.float64)
        variance = keras.ops.convert_to_numpy(layer.variance).astype(
            np.float64)
        offset = -mean
        scale = 1.0 / np.maximum(np.sqrt(variance), keras.config.epsilon())
    else:
        if keras.config.image_data_format() != "channels_last":
            return None
        scale = np.asarray(layer.scale, np.float64)
        offset = np.asarray(layer.offset, np.float64)
        if np.any(scale == 0):
            return None
        offset = offset / scale
    vectors = []
    for value in (offset, scale):
        if value.size not in (1, channels) or (
                value.ndim and value.shape[-1] != value.size):
            return None
        vectors.append(np.broadcast_to(value.reshape(-1), (channels,)))
    return vectors


def fold_input_scaling(model):
    """`model`, or a copy in which a scaling layer costs one int8 operator
    less.

    A `Normalization` (`(x - mean) / std`) or `Rescaling` (`x * scale +
    offset`) layer whose output only a convolution reads (the raw-pixel
    input of `tfprune.models`' image networks) converts to two int8
    operators, SUB and MUL (or MUL and ADD), and the converter folds
    neither MUL into the convolution that follows (it folds a scalar MUL
    right before one, not a per-channel one, nor one behind an ADD). The
    copy keeps the offset alone (`x - mean`, or `x + offset / scale`) and
    multiplies the convolution's kernel by the scale along its input
    channels: the same function (zero padding of the scaled input is zero
    padding of the shifted one), with one operator and two tensors less in
    the `.tflite` file, which saves about 160 bytes of TFLite Micro arena
    (the MLPerf Tiny ResNet-8 and MobileNetV1 then need less than the
    reference files do: issue 25). `to_tflite` calls
    it. A model without such a layer, or whose layers cannot be rebuilt
    from their config, is returned as it is; `model` is not changed.

    >>> folded = tfprune.convert.fold_input_scaling(small)
    """
    try:
        functional = graph_lib.as_functional(model)
        calls = graph_lib.calls(functional)
    except (graph_lib.GraphError, AttributeError, ValueError):
        return model
    fold = _find_fold(functional, calls)
    if fold is None:
        return model
    try:  # `model` computes in float32 (`to_tflite` made sure): so does this
        with precision.global_policy("float32"):
            return _folded_copy(functional, *fold)
    except Exception:  # a layer that cannot be rebuilt: convert unfolded
        return model


def _find_fold(functional, calls):
    """`(scaling layer, convolution, offset, scale)` for the first scaling
    layer, called once, whose output only one single-input convolution
    (called once, ungrouped, channels last) reads; or None."""
    times_called = {}
    for call in calls:
        times_called[id(call.layer)] = times_called.get(id(call.layer), 0) + 1
    users = graph_lib.consumers(calls)
    outputs = {id(t) for t in functional.outputs}
    for call in calls:
        if not isinstance(call.layer, _SCALING_LAYERS) or \
                times_called[id(call.layer)] != 1 or \
                len(call.outputs) != 1 or id(call.outputs[0]) in outputs:
            continue
        after = users.get(id(call.outputs[0]), [])
        if len(after) != 1 or times_called[id(after[0].layer)] != 1:
            continue
        conv = after[0].layer
        if not isinstance(conv, _FOLDING_CONVS) or \
                getattr(conv, "groups", 1) != 1 or \
                conv.data_format != "channels_last" or \
                len(after[0].inputs) != 1:
            continue
        vectors = _offset_and_scale(call.layer, call.outputs[0].shape[-1])
        if vectors is not None:
            return (call.layer, conv, *vectors)
    return None


def _folded_copy(functional, scaling, conv, offset, scale):
    """A clone of `functional` in which `scaling` only shifts by `offset`
    (or is an Identity) and `conv`'s kernel is multiplied by `scale` along
    its input channels."""
    pairs = []

    def clone(layer):
        if layer is not scaling:
            new = layer.__class__.from_config(layer.get_config())
            pairs.append((layer, new))
            return new
        if not np.any(offset):
            return keras.layers.Identity(name=layer.name)
        return keras.layers.Normalization(
            mean=(-offset).astype(np.float32),
            variance=np.ones_like(offset, np.float32), name=layer.name)

    copy = keras.models.clone_model(functional, clone_function=clone)
    for old, new in pairs:
        weights = old.get_weights()
        if old is conv:  # kernel: (..., input channels, outputs)
            weights[0] = (weights[0] * scale[:, None]).astype(
                weights[0].dtype)
        new.set_weights(weights)
    return copy
