"""How important each channel is: the ranking the budget solver uses.

- `"scores"` (default): the gates' learned scores, a running average of
  each channel's Taylor saliency (tfprune's scheme; see `ChannelGate`).
- `"l1"`: the L1 norm of each output filter of the layers feeding the
  group (Li et al. 2017, "Pruning filters for efficient ConvNets"),
  relative to the layer's mean so that layers are comparable.
- `"bn"`: |gamma| of the BatchNormalization after those layers (Network
  Slimming, Liu et al. 2017); groups without one fall back to `"l1"`.
- `"random"`: fixed random values (the same for every call with the same
  seed), the ablation that shows what a ranking is worth.

Every criterion returns one non-negative array per group.
"""

import keras
import numpy as np

from tfprune import graph as graph_lib
from tfprune import rules

CRITERIA = ("scores", "l1", "bn", "random")


def check_criterion(importance):
    if importance not in CRITERIA:
        raise ValueError(
            f"Unknown importance. Expected one of {CRITERIA}. "
            f"Received: importance={importance!r}")


def learned_scores(graph):
    """The gate scores, divided by their mean over the whole model.

    Scores are running averages of Taylor saliencies, in units of the loss,
    so channels of different layers compare directly. Scores set by hand
    that are negative are shifted so that the smallest is zero.
    """
    scores = [g.gate.score.numpy().astype("float64") for g in graph.groups]
    flat = np.concatenate(scores)
    low = min(flat.min(), 0.0)
    mean = (flat - low).mean()
    return [(s - low) / mean + 1e-12 if mean > 0 else np.ones_like(s)
            for s in scores]


def random_scores(graph, seed=0):
    """Uniform random values, fixed by `seed` and the groups' sizes."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(size=g.size) + 1e-12 for g in graph.groups]


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
        if nxt.kind != rules.CHANNELWISE:
            return None
        if isinstance(nxt.layer, keras.layers.BatchNormalization):
            return nxt.layer
        t = nxt.outputs[0]
    return None


def batchnorm_gamma(graph):
    consumers = graph_lib.consumers(graph.calls)
    producer_calls = {id(c.layer): c for c in graph.calls
                      if c.kind == rules.PRODUCER}
    result = []
    for group, l1 in zip(graph.groups, filter_l1(graph)):
        norms = [_batchnorm_after(producer_calls[id(p)], consumers)
                 for p in group.producers]
        gammas = [np.abs(keras.ops.convert_to_numpy(bn.gamma))
                  for bn in norms if bn is not None and bn.scale]
        result.append(np.sum(gammas, axis=0) + 1e-12 if gammas else l1)
    return result


def channel_importance(graph, importance="scores", seed=0):
    """One array of per-channel importance per group of `graph`.

    `seed` fixes the values of `"random"`.
    """
    check_criterion(importance)
    if importance == "random":
        return random_scores(graph, seed)
    return {"scores": learned_scores, "l1": filter_l1,
            "bn": batchnorm_gamma}[importance](graph)
