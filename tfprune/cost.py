"""Parameters, MACs and channels of a model, as functions of the kept widths.

The device costs (flash and arena bytes, latency) are in `tfprune.device`,
which builds on these; `tfprune.device.budgets.cost_model` gives the cost
model of any metric.
"""

import keras

from tfprune import polynomial
from tfprune import rules
from tfprune.graph import ChannelGraph

MEASURED = ("params", "macs", "channels")  # what `measure` reports


def cost_polynomial(graph, metric):
    """The cost `metric` of `graph.model` as a polynomial of group widths.

    - `"params"`: `count_params()` of the shrunk model (BatchNormalization
      statistics included; `ChannelGate` weights excluded).
    - `"macs"`: multiply-accumulates of one inference at batch size 1
      (convolutions and dense layers).
    - `"channels"`: output channels of all convolution and dense layers.
    """
    if metric not in MEASURED:
        raise ValueError(
            f"Unknown metric. Expected one of {MEASURED} (device costs "
            "such as 'flash' come from tfprune.device.budgets.cost_model). "
            f"Received: metric={metric!r}"
        )
    poly = polynomial.Polynomial(len(graph.groups))
    for call in graph.calls:
        poly.add(call_terms(graph, call, metric))
    return poly


def call_terms(graph, call, metric):
    """One call's share of `metric`, as polynomial terms of group widths."""
    c_in = polynomial.linear(graph.input_width(call)) if call.inputs else {}
    c_out = polynomial.linear(graph.output_width(call))
    in_shape = call.inputs[0].shape if call.inputs else None
    rule = call.rule
    if call.kind == rules.OPAQUE and metric != "channels":
        rule = rules.LayerRule()
    if metric == "params" and call.first_call:
        terms = rule.params(call.layer, c_in, c_out, in_shape)
        if id(call.node) in graph.gains_bias:  # `shrink` adds a bias
            terms = dict(terms)
            for key, coef in polynomial.as_terms(c_out).items():
                terms[key] = terms.get(key, 0.0) + coef
        return terms
    if metric == "macs" and isinstance(call.layer, keras.Model):
        # a nested model tfprune does not inline, measured on its own
        return polynomial.as_terms(
            {polynomial.CONSTANT: measure(call.layer)["macs"]})
    if metric == "macs":
        return rule.macs(call.layer, c_in, c_out, in_shape,
                         call.outputs[0].shape)
    if metric == "channels" and call.kind == rules.PRODUCER:
        return polynomial.as_terms(c_out)
    return {}


def reachable_cost(graph):
    """`(reachable, total)`: dicts of the params and MACs at full width, of
    the layers with a prunable channel axis (input or output) and of all."""
    sizes = [group.size for group in graph.groups]
    reachable = {"params": 0.0, "macs": 0.0}
    total = {"params": 0.0, "macs": 0.0}
    for call in graph.calls:
        if call.kind == rules.GATE:
            continue
        prunable = any(segment.group is not None
                       for t in call.inputs + call.outputs
                       for segment in graph.segments[id(t)])
        for metric in total:
            poly = polynomial.Polynomial(len(sizes))
            poly.add(call_terms(graph, call, metric))
            value = poly(sizes)
            total[metric] += value
            if prunable:
                reachable[metric] += value
    return reachable, total


def group_widths(graph):
    """Channels currently kept (mask == 1) in each group."""
    return [g.gate.kept_channels() for g in graph.groups]


def measure(model):
    """Parameters, MACs (batch 1) and channels of a model.

    For a gated model the numbers are those of the model that
    `tfprune.shrink` would build from the current masks.

    Examples:
        >>> tfprune.measure(tfprune.models.vgg16_cifar(width=0.25))
        {'params': ..., 'macs': ..., 'channels': ...}
    """
    graph = ChannelGraph(model)
    widths = group_widths(graph)
    return {m: int(round(cost_polynomial(graph, m)(widths)))
            for m in MEASURED}
