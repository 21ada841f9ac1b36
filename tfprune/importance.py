"""How important each channel is: the ranking the budget solver uses.

- `"scores"` (default): the gates' learned scores (tfprune's scheme).
- `"l1"`: the L1 norm of each output filter of the layers feeding the
  group (Li et al. 2017, "Pruning filters for efficient ConvNets"),
  relative to the layer's mean so that layers are comparable.
- `"bn"`: |gamma| of the BatchNormalization after those layers (Network
  Slimming, Liu et al. 2017); groups without one fall back to `"l1"`.

Every criterion returns one non-negative array per group.
"""

import keras
import numpy as np

from tfprune import graph as graph_lib
from tfprune import handlers

CRITERIA = ("scores", "l1", "bn")


def check_criterion(importance):
    if importance not in CRITERIA:
        raise ValueError(
            f"Unknown importance. Expected one of {CRITERIA}. "
            f"Received: importance={importance!r}")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def learned_scores(graph):
    """Sigmoid of the gate scores, standardized over the whole model.

    Standardizing makes the scale of the optimizer's steps irrelevant and
    keeps layers comparable; before training every channel gets 0.5.
    """
    scores = [g.gate.score.numpy().astype("float64") for g in graph.groups]
    flat = np.concatenate(scores)
    spread = flat.std()
    return [_sigmoid((s - flat.mean()) / spread if spread > 0 else 0 * s)
            for s in scores]


def _output_kernel(layer):
    """The kernel whose last axis holds the layer's output channels."""
    kernel = getattr(layer, "pointwise_kernel", None)
    if kernel is None:
        kernel = layer.kernel
    return np.abs(keras.ops.convert_to_numpy(kernel))


def filter_l1(graph):
    result = []
    for group in graph.groups:
        total = np.zeros(group.size)
        for producer in group.producers:
            kernel = _output_kernel(producer)
            norms = kernel.reshape(-1, kernel.shape[-1]).sum(axis=0)
            total += norms / max(norms.mean(), 1e-12)
        result.append(total + 1e-12)
    return result


def _batchnorm_after(call, consumers):
    """The first BatchNormalization in a producer call's channel-wise chain."""
    t = call.outputs[0]
    while len(consumers.get(id(t), [])) == 1:
        nxt = consumers[id(t)][0]
        if nxt.kind != handlers.CHANNELWISE:
            return None
        if isinstance(nxt.layer, keras.layers.BatchNormalization):
            return nxt.layer
        t = nxt.outputs[0]
    return None


def batchnorm_gamma(graph):
    consumers = graph_lib.consumers(graph.calls)
    producer_calls = {id(c.layer): c for c in graph.calls
                      if c.kind == handlers.PRODUCER}
    result = []
    for group, l1 in zip(graph.groups, filter_l1(graph)):
        norms = [_batchnorm_after(producer_calls[id(p)], consumers)
                 for p in group.producers]
        gammas = [np.abs(keras.ops.convert_to_numpy(bn.gamma))
                  for bn in norms if bn is not None and bn.scale]
        result.append(np.sum(gammas, axis=0) + 1e-12 if gammas else l1)
    return result


def channel_importance(graph, importance="scores"):
    """One array of per-channel importance per group of `graph`."""
    check_criterion(importance)
    return {"scores": learned_scores, "l1": filter_l1,
            "bn": batchnorm_gamma}[importance](graph)
