"""Parameters, MACs and channels of a model, as functions of the kept widths."""

from tfprune import handlers
from tfprune import polynomial
from tfprune.graph import ChannelGraph

METRICS = ("params", "macs", "channels")


def check_metric(metric):
    if metric not in METRICS:
        raise ValueError(
            f"Unknown metric. Expected one of {METRICS}. "
            f"Received: metric={metric!r}"
        )


def cost_polynomial(graph, metric):
    """The cost `metric` of `graph.model` as a polynomial of group widths.

    - `"params"`: `count_params()` of the shrunk model (BatchNormalization
      statistics included; `ChannelGate` weights excluded).
    - `"macs"`: multiply-accumulates of one inference at batch size 1
      (convolutions and dense layers).
    - `"channels"`: output channels of all convolution and dense layers.
    """
    check_metric(metric)
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
    if call.kind == handlers.OPAQUE and metric != "channels":
        rule = handlers.LayerRule()
    if metric == "params" and call.first_call:
        terms = rule.params(call.layer, c_in, c_out, in_shape)
        if id(call.node) in graph.gains_bias:  # `shrink` adds a bias
            terms = dict(terms)
            for key, coef in polynomial.as_terms(c_out).items():
                terms[key] = terms.get(key, 0.0) + coef
        return terms
    if metric == "macs":
        return rule.macs(call.layer, c_in, c_out, in_shape,
                         call.outputs[0].shape)
    if metric == "channels" and call.kind == handlers.PRODUCER:
        return polynomial.as_terms(c_out)
    return {}


def group_widths(graph):
    """Channels currently kept (mask == 1) in each group."""
    return [g.gate.kept_channels() for g in graph.groups]


def measure(model):
    """Parameters, MACs (batch 1) and channels of a model.

    For a gated model the numbers are those of the model that
    `tfprune.shrink` would build from the current masks.

    Example:

    >>> tfprune.measure(tfprune.models.vgg16_cifar(width=0.25))
    {'params': ..., 'macs': ..., 'channels': ...}
    """
    graph = ChannelGraph(model)
    widths = group_widths(graph)
    return {m: int(round(cost_polynomial(graph, m)(widths))) for m in METRICS}
