"""`gate`: a copy of a model with a `ChannelGate` on every prunable channel group."""

import warnings

import keras

from tfprune import graph as graph_lib
from tfprune import handlers
from tfprune.gates import ChannelGate


def _gate_points(fmodel, skip):
    """`{id(tensor): producer layer}`: where each producer's gate goes.

    From a Conv/Dense output the walk follows single-consumer channel-wise
    layers (BatchNormalization, activation, pooling, ...), so that the gate
    sits after all of them and pruned channels reach the next layers as
    exact zeros.
    """
    all_calls = graph_lib.calls(fmodel)
    consumers = {}
    for call in all_calls:
        for t in call.inputs:
            consumers.setdefault(id(t), []).append(call)
    outputs = {id(t) for t in fmodel.outputs}
    points = {}
    for call in all_calls:
        if call.kind != handlers.PRODUCER or call.layer.name in skip:
            continue
        t = call.outputs[0]
        while id(t) not in outputs:
            users = consumers.get(id(t), [])
            if not (len(users) == 1 and users[0].kind == handlers.CHANNELWISE
                    and len(users[0].inputs) == 1):
                break
            t = users[0].outputs[0]
        if id(t) not in outputs and consumers.get(id(t)):
            points[id(t)] = call.layer
    return points


def _insert_gates(fmodel, points, score_gain):
    clones = {}

    def call_fn(call, args, kwargs):
        layer = call.layer
        if id(layer) not in clones:
            clones[id(layer)] = layer.__class__.from_config(layer.get_config())
        outputs = clones[id(layer)](*args, **kwargs)
        if id(call.outputs[0]) in points:
            producer = points[id(call.outputs[0])]
            outputs = ChannelGate(score_gain=score_gain,
                                  name=f"{producer.name}_gate")(outputs)
        return outputs

    gated = graph_lib.replay(fmodel, call_fn, name=f"{fmodel.name}_gated")
    for call in graph_lib.calls(fmodel):
        if call.first_call and call.layer.weights:
            clones[id(call.layer)].set_weights(call.layer.get_weights())
    return gated


def gate(model, skip=(), score_gain=1.0):
    """Returns a copy of `model` with a `ChannelGate` on every prunable group.

    Each `Conv1D`/`Conv2D`/`Conv3D`/`Dense` layer whose output channels can
    be removed gets a gate after its BatchNormalization / activation /
    pooling chain. Layers whose channels feed a model output (such as the
    classifier) are left alone. Weights are copied; `model` is unchanged.

    Args:
        model: a functional or Sequential `keras.Model` with a defined input.
        skip: names of layers whose output channels must not be pruned.
        score_gain: passed to every `ChannelGate` (see there).

    Returns:
        A functional `keras.Model`; compile and `fit` it with
        `tfprune.TargetRatio`, then `tfprune.shrink` it.

    Raises:
        tfprune.GraphError: the model is subclassed, has nothing to prune, or
            prunable channels reach a layer tfprune does not understand (the
            message names the layer and the `skip=` value that avoids it).

    Example:

    >>> gated = tfprune.gate(tfprune.models.vgg16_cifar(width=0.25))
    >>> [l.name for l in gated.layers if isinstance(l, tfprune.ChannelGate)][:2]
    ['block1_conv1_gate', 'block1_conv2_gate']
    """
    if isinstance(skip, str) or not all(isinstance(s, str) for s in skip):
        raise TypeError(
            f"`skip` must be a list of layer names. Received: skip={skip!r}")
    fmodel = graph_lib.as_functional(model)
    names = {layer.name for layer in fmodel.layers}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise ValueError(
            f"`skip` names layers that are not in model '{fmodel.name}': "
            f"{unknown}.")
    skip = set(skip)
    while True:
        points = _gate_points(fmodel, skip)
        if not points:
            raise graph_lib.GraphError(
                f"Model '{fmodel.name}' has nothing to prune: no Conv or Dense "
                "layer has output channels that can be removed (channels "
                "feeding a model output are kept)."
                + (f" Skipped layers: {sorted(skip)}." if skip else "")
            )
        gated = _insert_gates(fmodel, points, score_gain)
        graph = graph_lib.ChannelGraph(gated)
        if not graph.problems:
            return gated
        excluded = set()
        for group_index, layer, reason in graph.problems:
            producers = [p.name for p in graph.groups[group_index].producers]
            if layer is not None and not handlers.is_known(layer):
                raise graph_lib.GraphError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) receives "
                    f"prunable channels from {producers}, but {reason}. Pass "
                    f"skip={producers} to tfprune.gate() to keep those "
                    "channels, or describe the layer with "
                    "tfprune.register_rule()."
                )
            excluded.update(producers)
            where = "a model output" if layer is None else f"'{layer.name}'"
            warnings.warn(
                f"tfprune.gate: not pruning {producers}: their channels reach "
                f"{where}, and {reason}.", stacklevel=2)
        skip |= excluded
