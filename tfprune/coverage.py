"""`coverage(model)`: how much of a model channel pruning can reach."""

from tfprune import cost as cost_lib
from tfprune import gating
from tfprune.graph import ChannelGraph, GraphError


def coverage(model):
    """The share of `model`'s parameters and MACs that pruning can shrink.

    A layer counts as reachable when at least one of its channel axes
    (input or output) belongs to a prunable group: pruning that group makes
    the layer smaller. Groups tfprune leaves unpruned (their channels reach
    a model output, a grouped convolution, a layer it does not know, ...)
    are listed with the reason.

    Args:
        model: a functional or Sequential `keras.Model`.

    Returns:
        A dict: `"params"` and `"macs"` (reachable fractions, 0 to 1),
        `"reachable_params"`, `"total_params"`, `"reachable_macs"`,
        `"total_macs"`, `"groups"` (prunable channel groups) and
        `"left_out"`: a list of `{"layers": [...], "reason": ...}`.

    Examples:
        >>> report = tfprune.coverage(keras.applications.MobileNetV2(
        ...     weights=None, input_shape=(96, 96, 3)))
        >>> round(report["params"], 3), report["groups"]
    """
    try:
        gated, left_out = gating.gate_with_report(
            model, unknown_layers="leave_out")
    except GraphError as error:
        if "has nothing to prune" not in str(error):
            raise
        total = cost_lib.measure(model)
        return {"params": 0.0, "macs": 0.0, "reachable_params": 0,
                "total_params": total["params"], "reachable_macs": 0,
                "total_macs": total["macs"], "groups": 0,
                "left_out": [{"layers": [], "reason": str(error)}]}
    graph = ChannelGraph(gated)
    reachable, total = cost_lib.reachable_cost(graph)
    return {
        "params": reachable["params"] / total["params"],
        "macs": reachable["macs"] / total["macs"] if total["macs"] else 0.0,
        "reachable_params": int(round(reachable["params"])),
        "total_params": int(round(total["params"])),
        "reachable_macs": int(round(reachable["macs"])),
        "total_macs": int(round(total["macs"])),
        "groups": len(graph.groups),
        "left_out": [{"layers": list(layers), "reason": reason}
                     for layers, reason in left_out],
    }
