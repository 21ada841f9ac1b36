"""`shrink`: rebuild a gated model without its pruned channels."""

import keras
import numpy as np

from tfprune import graph as graph_lib
from tfprune import keras_compat
from tfprune import rules
from tfprune.validation import check_finite_weights


def _kept_channels(graph, group_kept=None):
    """`{id(tensor): index array}`: the channels of each tensor that remain
    (of each group, those of `group_kept`, by default its unmasked ones)."""
    if group_kept is None:
        group_kept = []
        for group in graph.groups:
            kept = np.flatnonzero(group.gate.mask.numpy())
            if kept.size == 0:
                raise graph_lib.GraphError(
                    f"ChannelGate '{group.gate.name}' keeps no channel; a "
                    "layer needs at least one. Set its mask again (e.g. with "
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

    Examples:
        >>> tfprune.prune_now(gated, 0.5)
        >>> small = tfprune.shrink(gated)
        >>> small.count_params() < gated.count_params()
        True
    """
    if getattr(gated, _REPLACED, False):
        raise graph_lib.GraphError(
            f"Model '{gated.name}' was replaced by a narrower copy during "
            "tfprune.fit and no longer holds the trained network: shrink "
            "`history.model` (what tfprune.fit returned) instead.")
    graph = graph_lib.ChannelGraph(gated)
    if not graph.groups:
        raise graph_lib.GraphError(
            f"Model '{graph.model.name}' has no ChannelGate layers, so there "
            "is nothing to shrink: call tfprune.gate(model), prune it (fit "
            "with tfprune.TargetRatio, or tfprune.prune_now), then shrink.")
    graph.check()
    check_finite_weights(graph.model, "tfprune.shrink")
    name = graph.model.name
    name = name[:-len("_gated")] if name.endswith("_gated") else name
    return _rebuild(graph, _kept_channels(graph), f"{name}_pruned")[0]


def _rebuild(graph, kept, name, keep_gates=False):
    """`(model, transfer)`: `graph.model` replayed with the `kept` channels
    of every tensor; `transfer` maps `id(old layer)` to `(new layer,
    slice_fn)`, where `slice_fn(arrays)` cuts arrays shaped like the old
    layer's weights (e.g. optimizer slots) as its weights were cut.
    `keep_gates` keeps the `ChannelGate` layers, narrowed too."""
    added = _folded_constants(graph, kept)
    absorbed = {id(bn.node): added[node]
                for node, bn in graph.absorbing.items()}
    built, transfer = {}, {}

    def call_fn(call, args, kwargs):
        if call.kind == rules.GATE and not keep_gates:
            return args[0]
        layer = call.layer
        if call.kind == rules.GATE:
            if id(layer) not in built:
                built[id(layer)], transfer[id(layer)] = _narrowed_gate(
                    layer, kept[id(call.inputs[0])])
            return built[id(layer)](*args, **kwargs)
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
        gains_bias = False
        if node in added and node not in graph.absorbing:
            gains_bias = not config.get("use_bias")
            config, weights = _with_bias(config, weights,
                                         added[node][out_kept])
        if node in absorbed:
            weights = _minus_mean(layer, weights, absorbed[node][out_kept])
        new_layer = layer.__class__.from_config(config)
        outputs = new_layer(*args, **kwargs)
        if weights:
            new_layer.set_weights(weights)
        built[id(layer)] = new_layer
        transfer[id(layer)] = (new_layer, _weight_slicer(
            layer, rule, in_kept, out_kept, in_shape, gains_bias))
        return outputs

    return graph_lib.replay(graph.model, call_fn, name=name), transfer


class _WeightsView:
    """`layer` seen with other arrays (of its weights' shapes) as weights,
    for a rule's `rebuild` to cut them as it cuts the weights."""

    def __init__(self, layer, arrays):
        self._layer, self._arrays = layer, arrays

    def get_weights(self):
        return list(self._arrays)

    def __getattr__(self, name):
        return getattr(self._layer, name)


def _weight_slicer(layer, rule, in_kept, out_kept, in_shape, gains_bias):
    def slice_fn(arrays):
        cut = rule.rebuild(_WeightsView(layer, arrays), in_kept, out_kept,
                           in_shape)[1]
        if gains_bias:  # a bias made by `_with_bias` starts from zeros
            cut.insert(1, np.zeros(len(out_kept), cut[0].dtype))
        return cut
    return slice_fn


def _narrowed_gate(gate, kept):
    """A copy of `ChannelGate` `gate` over the `kept` channels only, and its
    `(layer, slice_fn)` transfer entry."""
    config = dict(gate.get_config(), full_channels=gate.original_channels)
    new_gate = gate.__class__.from_config(config)
    new_gate.build((None, len(kept)))
    new_gate.set_weights([w[kept] for w in gate.get_weights()])
    return new_gate, (new_gate, lambda arrays: [a[kept] for a in arrays])


def narrow(gated, keep):
    """A gated model without some channels that are masked off, gates kept.

    Unlike `shrink`, the result is still a gated model: its gates cover the
    remaining channels (with their scores, masks and saliency), remember the
    unpruned width (`ChannelGate.original_channels`) and can go on
    training and pruning; a masked channel that is kept can still come
    back. Removed channels contribute exact zeros to the gated model, so
    the result computes what `gated` computes, in training (BatchNorm batch
    statistics are per channel) and in inference.

    Args:
        gated: a model returned by `tfprune.gate` (or by `narrow`).
        keep: one boolean array per group of `ChannelGraph(gated).groups`
            (in that order): the channels to keep. Every channel left out
            must be masked, and every group keeps at least one.

    Returns:
        `(model, transfer)`: the narrower gated functional model (not
        compiled), and `{id(old layer): (new layer, slice_fn)}` for
        `carry_optimizer`.

    Raises:
        tfprune.GraphError: a channel left out is not masked, a group keeps
            no channel, or the model has pruned channels that are not zero
            downstream (folded into a bias by `shrink`, exact only in
            inference).
    """
    graph = narrow_check(gated)
    keep = list(keep)
    return _rebuild(graph, _kept_channels(graph, _group_kept(graph, keep)),
                    graph.model.name, keep_gates=True)


def narrow_check(gated):
    """The `ChannelGraph` of `gated`; raises `GraphError` if `narrow` cannot
    rebuild it exactly."""
    graph = graph_lib.ChannelGraph(gated)
    if not graph.groups:
        raise graph_lib.GraphError(
            f"Model '{graph.model.name}' has no ChannelGate layers.")
    graph.check()
    if graph.folds:
        raise graph_lib.GraphError(
            f"Model '{graph.model.name}' has pruned channels that reach "
            f"layer '{graph.folds[0].layer.name}' as constants, not zeros; "
            "removing them during training would change the training-mode "
            "outputs. Shrink it once training has ended (tfprune.shrink).")
    return graph


def _group_kept(graph, keep):
    """`keep` (booleans per group) as index arrays, checked."""
    if len(keep) != len(graph.groups):
        raise ValueError(
            f"`keep` needs one array per channel group ({len(graph.groups)})"
            f". Received {len(keep)} arrays.")
    group_kept = []
    for group, k in zip(graph.groups, keep):
        k = np.asarray(k, bool).reshape(-1)
        mask = group.gate.mask.numpy()
        if k.shape != mask.shape or not k.any() or mask[~k].any():
            raise graph_lib.GraphError(
                f"ChannelGate '{group.gate.name}': `keep` must hold "
                f"{mask.size} booleans, at least one True, and leave out "
                "masked channels only.")
        group_kept.append(np.flatnonzero(k))
    return group_kept


# Per optimizer class: the attributes holding one slot variable per
# trained variable (`None` or missing entries where there is none). An
# optimizer class not listed (nor a subclass of one) is refused.
OPTIMIZER_SLOTS = {
    keras.optimizers.SGD: ("momentums",),
    keras.optimizers.Adam: ("_momentums", "_velocities", "_velocity_hats"),
    keras.optimizers.Nadam: ("_momentums", "_velocities"),
    keras.optimizers.RMSprop: ("_velocities", "_momentums",
                               "_average_gradients"),
    keras.optimizers.Adagrad: ("_accumulators",),
    keras.optimizers.Lion: ("_momentums",),
}
# Slots of every optimizer (`use_ema`, `gradient_accumulation_steps`).
_BASE_SLOTS = ("_model_variables_moving_average", "_accumulated_gradients")


def _slot_lists(optimizer):
    for cls in type(optimizer).__mro__:
        if cls in OPTIMIZER_SLOTS:
            return OPTIMIZER_SLOTS[cls] + _BASE_SLOTS
    raise ValueError(
        f"tfprune cannot carry the state of a {type(optimizer).__name__} "
        "optimizer across a rebuild; supported: "
        f"{sorted(c.__name__ for c in OPTIMIZER_SLOTS)} (and subclasses, "
        "e.g. AdamW). Add its slot attributes to "
        "tfprune.surgery.OPTIMIZER_SLOTS.")


def carry_optimizer(old, new, old_variables, transfer):
    """Copies the state of optimizer `old` into `new`, built for the
    narrowed model: per-variable slots (momentum, Adam's moments, ...) are
    cut like the weights they belong to (`transfer`, from `narrow`), every
    other variable (iterations, learning rate, loss scale) is copied.

    Args:
        old: the optimizer that trained the old model, built.
        new: an optimizer of the same class and configuration, built for
            the new model's trainable variables.
        old_variables: the old model's layers, as `{id(layer): layer}` for
            every key of `transfer`.
        transfer: from `narrow`.
    """
    inner = getattr(old, "inner_optimizer", None)  # LossScaleOptimizer
    if inner is not None:
        carry_optimizer(inner, new.inner_optimizer, old_variables, transfer)
    names = () if inner is not None else _slot_lists(old)
    slot_ids = {id(v) for name in names for v in getattr(old, name, None)
                or () if v is not None}
    if inner is not None:
        slot_ids |= {id(v) for v in inner.variables}
    plain_old = [v for v in old.variables if id(v) not in slot_ids]
    new_slot_ids = {id(v) for name in names for v in getattr(new, name, None)
                    or () if v is not None}
    if inner is not None:
        new_slot_ids |= {id(v) for v in new.inner_optimizer.variables}
    plain_new = [v for v in new.variables if id(v) not in new_slot_ids]
    if [v.shape for v in plain_old] != [v.shape for v in plain_new]:
        raise ValueError(
            f"Optimizers '{old.name}' and '{new.name}' differ in their "
            "variables; `new` must have the class and configuration of "
            "`old`.")
    for a, b in zip(plain_old, plain_new):
        b.assign(a)
    for name in names:
        old_slots, new_slots = getattr(old, name, None), getattr(new, name,
                                                                 None)
        if not old_slots:
            continue
        for key, (new_layer, slice_fn) in transfer.items():
            layer = old_variables[key]
            if not any(w.trainable for w in layer.weights):
                continue
            arrays = []
            for w in layer.weights:
                slot = _slot_of(old, old_slots, w)
                arrays.append(w.numpy() if slot is None else slot.numpy())
            for w, value in zip(new_layer.weights, slice_fn(arrays)):
                slot = _slot_of(new, new_slots, w)
                if slot is not None:
                    slot.assign(value)


_REPLACED = "_tfprune_replaced"


def mark_replaced(model):
    """Marks `model` as replaced by a narrower copy (`tfprune.fit` does, at
    each rebuild): `shrink` then refuses it and names the copy to use."""
    setattr(model, _REPLACED, True)


def _slot_of(optimizer, slots, variable):
    """The slot of `variable` in `slots`, or None (not trained by it)."""
    if not variable.trainable:
        return None
    try:
        index = keras_compat.optimizer_slot_index(optimizer, variable)
    except KeyError:
        return None
    return slots[index] if index < len(slots) else None
