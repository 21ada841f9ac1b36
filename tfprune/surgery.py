"""`shrink`: rebuild a gated model without its pruned channels."""

import keras
import numpy as np

from tfprune import graph as graph_lib
from tfprune import rules
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
        if kind == rules.PRODUCER:
            group = graph.segments[id(call.outputs[0])][0].group
            out = [group_kept[group] if group is not None
                   else np.arange(call.outputs[0].shape[-1])]
        elif kind in (rules.CHANNELWISE, rules.GATE):
            out = [kept_in]
        elif kind == rules.EXPAND:
            out = [rules.expand_kept(kept_in,
                                        call.rule.expansion(call.layer))]
        elif kind == rules.MERGE:
            channels = call.outputs[0].shape[-1]
            out = [next(kept[id(t)] for t in call.inputs
                        if t.shape[-1] == channels)]
        elif kind == rules.CONCAT:
            parts, offset = [], 0
            for t in call.inputs:
                parts.append(kept[id(t)] + offset)
                offset += t.shape[-1]
            out = [np.concatenate(parts)]
        elif kind == rules.FLATTEN:
            out = [rules.flatten_kept(kept_in, call.inputs[0].shape)]
        else:
            out = [np.arange(t.shape[-1] if t.shape else 1)
                   for t in call.outputs]
        for t, k in zip(call.outputs, out):
            kept[id(t)] = k
    return kept


def _probe_inputs(model, seed):
    """Two batches of one example per model input: zeros, and noise."""
    batches = []
    for value in (0.0, None):
        rng = np.random.default_rng(seed)
        batch = []
        for x in model.inputs:
            shape = [1] + [d if d is not None else 64 for d in x.shape[1:]]
            data = np.full(shape, value) if value is not None else \
                rng.uniform(0, 1, shape)
            batch.append(data.astype(x.dtype))
        batches.append(batch)
    return batches


def _folded_constants(graph, kept):
    """`{id(producer node): what its pruned, constant inputs add}`.

    The pruned input channels of a fold (see `ChannelGraph.folds`) hold one
    value each whatever the input; it is read by running the gated model
    (inference) to the producer's input, twice, and checked to be constant.
    """
    if not graph.folds:
        return {}
    probe = keras.Model(graph.model.inputs,
                        [call.inputs[0] for call in graph.folds])
    runs = [probe(batch, training=False) for batch in _probe_inputs(
        graph.model, seed=0)]
    added = {}
    for i, call in enumerate(graph.folds):
        channels = call.inputs[0].shape[-1]
        pruned = np.setdiff1d(np.arange(channels), kept[id(call.inputs[0])])
        values = [keras.ops.convert_to_numpy(
            run[i] if len(graph.folds) > 1 else run).reshape(
                -1, channels)[:, pruned] for run in runs]
        constant = values[0][0]
        scale = max(1.0, float(np.abs(constant).max(initial=0.0)))
        if not all(np.allclose(v, constant, rtol=0, atol=1e-5 * scale)
                   for v in values):
            raise graph_lib.GraphError(
                f"The pruned input channels of layer '{call.layer.name}' "
                "should be constant but vary with the input, so they cannot "
                "be folded into its bias. Please report this model to "
                "tfprune.")
        added[id(call.node)] = call.rule.constant_contribution(
            call.layer, pruned, constant)
    return added


def _with_bias(config, weights, added):
    """Producer `weights` (kernel[, bias]) with `added` in the bias."""
    if config.get("use_bias"):
        return config, [weights[0], weights[1] + added] + weights[2:]
    config = dict(config, use_bias=True)
    return config, [weights[0], added.astype(weights[0].dtype)] + weights[1:]


def _minus_mean(layer, weights, added):
    """BatchNormalization `weights` with `added` absorbed: BN(y + a) is BN(y)
    with the moving mean lowered by a."""
    index = next(i for i, w in enumerate(layer.weights)
                 if w is layer.moving_mean)
    weights = list(weights)
    weights[index] = weights[index] - added
    return weights


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
    added = _folded_constants(graph, kept)
    absorbed = {id(bn.node): added[node]
                for node, bn in graph.absorbing.items()}
    built = {}

    def call_fn(call, args, kwargs):
        if call.kind == rules.GATE:
            return args[0]
        layer = call.layer
        if call.is_operation:  # no weights to slice
            return call.rule.call_operation(layer, args, kwargs,
                                            kept[id(call.outputs[0])])
        in_shape = call.inputs[0].shape if call.inputs else None
        in_kept = kept[id(call.inputs[0])] if call.inputs else None
        out_kept = kept[id(call.outputs[0])]
        if id(layer) in built:
            return built[id(layer)](*args, **kwargs)
        rule = call.rule if call.kind != rules.OPAQUE else rules.LayerRule()
        config, weights = rule.rebuild(layer, in_kept, out_kept, in_shape)
        node = id(call.node)
        if node in added and node not in graph.absorbing:
            config, weights = _with_bias(config, weights,
                                         added[node][out_kept])
        if node in absorbed:
            weights = _minus_mean(layer, weights, absorbed[node][out_kept])
        new_layer = layer.__class__.from_config(config)
        outputs = new_layer(*args, **kwargs)
        if weights:
            new_layer.set_weights(weights)
        built[id(layer)] = new_layer
        return outputs

    name = graph.model.name
    name = name[:-len("_gated")] if name.endswith("_gated") else name
    return graph_lib.replay(graph.model, call_fn, name=f"{name}_pruned")
