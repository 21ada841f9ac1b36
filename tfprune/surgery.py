"""`shrink`: rebuild a gated model without its pruned channels."""

import numpy as np

from tfprune import graph as graph_lib
from tfprune import handlers
from tfprune.validation import check_finite_weights


def _kept_channels(graph):
    """`{id(tensor): index array}`: the channels of each tensor that remain."""
    group_kept = []
    for group in graph.groups:
        kept = np.flatnonzero(group.gate.mask.numpy())
        if kept.size == 0:
            raise graph_lib.GraphError(
                f"ChannelGate '{group.gate.name}' keeps no channel; a layer "
                "needs at least one. Set its mask again (e.g. with "
                "tfprune.prune_now) before shrinking.")
        group_kept.append(kept)

    kept = {id(x): np.arange(x.shape[-1]) for x in graph.model.inputs}
    for call in graph.calls:
        kept_in = kept[id(call.inputs[0])] if call.inputs else None
        kind = call.kind
        if kind == handlers.PRODUCER:
            group = graph.segments[id(call.outputs[0])][0].group
            out = [group_kept[group] if group is not None
                   else np.arange(call.outputs[0].shape[-1])]
        elif kind in (handlers.CHANNELWISE, handlers.GATE):
            out = [kept_in]
        elif kind == handlers.EXPAND:
            out = [handlers.expand_kept(kept_in,
                                        call.rule.expansion(call.layer))]
        elif kind == handlers.MERGE:
            channels = call.outputs[0].shape[-1]
            out = [next(kept[id(t)] for t in call.inputs
                        if t.shape[-1] == channels)]
        elif kind == handlers.CONCAT:
            parts, offset = [], 0
            for t in call.inputs:
                parts.append(kept[id(t)] + offset)
                offset += t.shape[-1]
            out = [np.concatenate(parts)]
        elif kind == handlers.FLATTEN:
            out = [handlers.flatten_kept(kept_in, call.inputs[0].shape)]
        else:
            out = [np.arange(t.shape[-1] if t.shape else 1)
                   for t in call.outputs]
        for t, k in zip(call.outputs, out):
            kept[id(t)] = k
    return kept


def shrink(gated):
    """Returns a new, smaller functional model without the masked channels.

    Every `ChannelGate` is removed and every layer is rebuilt with only the
    channels its gates keep: kernels and biases, BatchNormalization gamma,
    beta and moving statistics, the next layer's input slices and the rows
    of a `Dense` layer after `Flatten` are copied. In inference the result
    computes what `gated` computes.

    Args:
        gated: a model returned by `tfprune.gate` (and trained or pruned).

    Returns:
        A functional `keras.Model` (not compiled).

    Raises:
        tfprune.GraphError: `gated` has no `ChannelGate` layers, or a gate
            keeps no channel.
        ValueError: a weight holds NaN or infinite values.

    Example:

    >>> tfprune.prune_now(gated, 0.5)
    >>> small = tfprune.shrink(gated)
    >>> small.count_params() < gated.count_params()
    True
    """
    graph = graph_lib.ChannelGraph(gated)
    if not graph.groups:
        raise graph_lib.GraphError(
            f"Model '{graph.model.name}' has no ChannelGate layers, so there "
            "is nothing to shrink: call tfprune.gate(model), prune it (fit "
            "with tfprune.TargetRatio, or tfprune.prune_now), then shrink.")
    graph.check()
    check_finite_weights(graph.model, "tfprune.shrink")
    kept = _kept_channels(graph)
    built = {}

    def call_fn(call, args, kwargs):
        if call.kind == handlers.GATE:
            return args[0]
        layer = call.layer
        if call.is_operation:  # no weights to slice
            return layer(*args, **kwargs)
        in_shape = call.inputs[0].shape if call.inputs else None
        in_kept = kept[id(call.inputs[0])] if call.inputs else None
        out_kept = kept[id(call.outputs[0])]
        if id(layer) in built:
            return built[id(layer)](*args, **kwargs)
        rule = call.rule if call.kind != handlers.OPAQUE else handlers.LayerRule()
        config, weights = rule.rebuild(layer, in_kept, out_kept, in_shape)
        new_layer = layer.__class__.from_config(config)
        outputs = new_layer(*args, **kwargs)
        if weights:
            new_layer.set_weights(weights)
        built[id(layer)] = new_layer
        return outputs

    name = graph.model.name
    name = name[:-len("_gated")] if name.endswith("_gated") else name
    return graph_lib.replay(graph.model, call_fn, name=f"{name}_pruned")
