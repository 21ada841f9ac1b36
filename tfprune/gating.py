"""`gate`: a copy of a model with a `ChannelGate` on every prunable channel group."""

import warnings

import keras

from tfprune import cost as cost_lib
from tfprune import graph as graph_lib
from tfprune import rules
from tfprune.gates import ChannelGate


class _Spaces:
    """Union-find over tensors whose channels are the same channels."""

    def __init__(self):
        self.parent = {}

    def find(self, t):
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _channel_spaces(all_calls):
    spaces = _Spaces()
    for call in all_calls:
        kind = call.kind
        out = id(call.outputs[0])
        if kind in (rules.CHANNELWISE, rules.GATE) and \
                len(call.inputs) == 1:
            spaces.union(id(call.inputs[0]), out)
        elif kind == rules.MERGE:
            channels = call.outputs[0].shape[-1]
            for t in call.inputs:
                if t.shape[-1] == channels:
                    spaces.union(id(t), out)
    return spaces


def _gate_points(fmodel, skip):
    """`{id(tensor): (space, producer layer)}`: where the gates go.

    From each Conv/Dense output the walk follows single-consumer channel-wise
    layers (BatchNormalization, activation, pooling, depthwise convolution,
    ...), so that the gate sits after all of them and pruned channels reach
    the next layers as exact zeros. Producers whose channels are added,
    multiplied, ... together (one *space*) share one gate layer.
    """
    all_calls = graph_lib.calls(fmodel)
    consumers = graph_lib.consumers(all_calls)
    spaces = _channel_spaces(all_calls)
    producers = [c for c in all_calls if c.kind == rules.PRODUCER]
    skipped = {spaces.find(id(c.outputs[0])) for c in producers
               if c.layer.name in skip}
    outputs = {id(t) for t in fmodel.outputs}
    points = {}
    for call in producers:
        space = spaces.find(id(call.outputs[0]))
        if space in skipped:
            continue
        t = call.outputs[0]
        while id(t) not in outputs:
            users = consumers.get(id(t), [])
            if not (len(users) == 1 and users[0].kind == rules.CHANNELWISE
                    and len(users[0].inputs) == 1):
                break
            t = users[0].outputs[0]
        if id(t) not in outputs and consumers.get(id(t)):
            points[id(t)] = (space, call.layer)
    return points


# A gate computes in its producer's precision, and keeps its mask, score
# and saliency in float32 also when the producer keeps 16-bit weights.
_GATE_POLICIES = {"float32": "float32", "float64": "float64",
                  "mixed_float16": "mixed_float16", "float16": "mixed_float16",
                  "mixed_bfloat16": "mixed_bfloat16",
                  "bfloat16": "mixed_bfloat16"}


def _gate_policy(producer):
    """The dtype policy name for the gate after `producer` (None: the
    global policy, for a producer whose policy is not a float one)."""
    return _GATE_POLICIES.get(getattr(producer.dtype_policy, "name", None))


def _insert_gates(fmodel, points):
    """The gated model, and `{id(gated model tensor): id(fmodel tensor)}`.

    The gated model calls copies of `fmodel`'s layers, not the layers
    themselves: a layer called in two models gives the first model's
    tensors as its `.input` and `.output`, so `gated.get_layer(name).input`
    would name `fmodel`'s tensors and a feature model built from it would
    not connect to `gated.inputs`."""
    gates, origin = {}, {}

    def after(call, outputs):
        origin[id(outputs)] = id(call.outputs[0])
        if id(call.outputs[0]) in points:
            space, producer = points[id(call.outputs[0])]
            if space not in gates:
                gates[space] = ChannelGate(name=f"{producer.name}_gate",
                                           dtype=_gate_policy(producer))
            outputs = gates[space](outputs)
        return outputs

    gated = graph_lib.inline_copy(fmodel, after=after,
                                  name=f"{fmodel.name}_gated")
    return gated, origin


def gate(model, skip=()):
    """Returns a copy of `model` with a `ChannelGate` on every prunable group.

    Each `Conv*`/`SeparableConv*`/`Dense` layer whose output channels can be
    removed gets a gate after its BatchNormalization / activation / pooling
    chain. Layers whose channels are merged (`Add`, `Multiply`, ...) share
    one gate, so they are pruned together. Layers whose channels feed a
    model output (such as the classifier) are left alone. Nested functional
    models are inlined. Weights are copied; `model` is unchanged.

    Args:
        model: a functional or Sequential `keras.Model` with a defined input.
        skip: names of layers whose output channels must not be pruned (with
            every layer merged with them).

    Returns:
        A functional `keras.Model`; compile and `fit` it with
        `tfprune.TargetRatio`, then `tfprune.shrink` it.

    Raises:
        tfprune.GraphError: the model is subclassed, has nothing to prune, or
            prunable channels reach a layer tfprune does not understand (the
            message names the layer and the `skip=` value that avoids it).

    Examples:
        >>> gated = tfprune.gate(tfprune.models.vgg16_cifar(width=0.25))
        >>> [l.name for l in gated.layers if isinstance(l, tfprune.ChannelGate)][:2]
        ['block1_conv1_gate', 'block1_conv2_gate']
    """
    gated, left_out = gate_with_report(model, skip)
    for producers, message in left_out:
        warnings.warn(f"tfprune.gate: not pruning {producers}: {message}.",
                      stacklevel=2)
    if left_out:
        reachable, total = cost_lib.reachable_cost(
            graph_lib.ChannelGraph(gated))
        share = {metric: reachable[metric] / total[metric]
                 if total[metric] else 0.0 for metric in total}
        warnings.warn(
            f"tfprune.gate: pruning reaches {100 * share['params']:.1f}% of "
            f"the parameters and {100 * share['macs']:.1f}% of the MACs of "
            f"'{model.name}'; tfprune.coverage(model) lists the "
            f"{len(left_out)} part(s) left out and why.", stacklevel=2)
    return gated


def gate_with_report(model, skip=(), unknown_layers="raise"):
    """`gate`, returning `(gated model, left_out)` instead of warning.

    `left_out` lists `(producer layer names, reason)` for every group of
    channels that stays unpruned. `unknown_layers="leave_out"` also leaves
    out the groups that reach a layer tfprune does not understand (instead
    of raising), which is what `tfprune.coverage` reports.
    """
    if isinstance(skip, str) or not all(isinstance(s, str) for s in skip):
        raise TypeError(
            f"`skip` must be a list of layer names. Received: skip={skip!r}")
    fmodel = graph_lib.inline_copy(graph_lib.as_functional(model))
    gates = [layer.name for layer in fmodel.layers
             if isinstance(layer, ChannelGate)]
    if gates:
        raise graph_lib.GraphError(
            f"Model '{fmodel.name}' is already gated (it has ChannelGate "
            f"layers: {gates[:3]}{' ...' if len(gates) > 3 else ''}). Prune "
            "it as it is, or gate the original model.")
    names = {layer.name for layer in fmodel.layers}
    unknown = sorted(set(skip) - names)
    if unknown:
        raise ValueError(
            f"`skip` names layers that are not in model '{fmodel.name}': "
            f"{unknown}.")
    skip = set(skip)
    extra = {}  # more gate calls: where a gated space meets a consumer
    left_out = []
    while True:
        points = _gate_points(fmodel, skip)
        if not points:
            raise graph_lib.GraphError(
                f"Model '{fmodel.name}' has nothing to prune: no Conv or Dense "
                "layer has output channels that can be removed (channels "
                "feeding a model output are kept)."
                + (f" Skipped layers: {sorted(skip)}." if skip else "")
            )
        gated_producers = {producer.name for _, producer in points.values()}
        points.update({t: v for t, v in extra.items()
                       if v[1].name in gated_producers})
        gated, origin = _insert_gates(fmodel, points)
        graph = graph_lib.ChannelGraph(gated)
        if not graph.problems:
            return gated, left_out
        excluded = _resolve(graph, points, origin, extra, unknown_layers)
        if excluded:  # nothing more to fix by gating: give those groups up
            left_out.extend(excluded)
            for producers, _ in excluded:
                skip.update(producers)


def _resolve(graph, points, origin, extra, unknown_layers="raise"):
    """Deals with the problems `graph` found in a gated model.

    Adds to `extra` the gate calls that fix a problem (pruned channels made
    non-zero by e.g. a BatchNormalization after a merge) and returns an
    empty list if any was added. Otherwise returns `(producers, message)`
    for each group to leave unpruned. Raises `GraphError` for unknown
    layers.
    """
    excluded, fixed = [], False
    for problem in graph.problems:
        producers = [p.name for p in graph.groups[problem.group].producers]
        layer = problem.layer
        if layer is not None and not rules.is_known(layer) \
                and unknown_layers == "raise":
            what = "Layer" if isinstance(layer, keras.layers.Layer) \
                else "Operation"
            raise graph_lib.GraphError(
                f"{what} '{layer.name}' ({type(layer).__name__}) receives "
                f"prunable channels from {producers}, but {problem.reason}. "
                f"Pass skip={producers} to tfprune.gate() to keep those "
                "channels, or describe the layer with "
                "tfprune.register_rule()."
            )
        source = origin.get(id(problem.tensor))
        if source is not None and source not in extra \
                and source not in points:
            extra[source] = next(v for v in points.values()
                                 if v[1].name == producers[0])
            fixed = True
        elif all(producers != e[0] for e in excluded):
            where = "a model output" if layer is None else f"'{layer.name}'"
            excluded.append(
                (producers,
                 f"their channels reach {where}, and {problem.reason}"))
    return [] if fixed else excluded
