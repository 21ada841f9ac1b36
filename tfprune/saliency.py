"""Measuring channel saliency on data before the first cut.

A freshly gated model has all-zero scores: a cut made then (`prune_now`
right after `gate`, or a one-shot `TargetRatio` at the first step of a
fine-tune) ranks ties. `gather_saliency` runs a few labelled batches
forward and backward, without changing any weight, so that the gates'
scores hold each channel's Taylor saliency (see `ChannelGate`) first.
"""

import keras
import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune.batchnorm import batchnorm_layers
from tfprune.gates import ChannelGate
from tfprune.validation import check_positive_int


def gates_of(model):
    """The `ChannelGate` layers of a gated model (or a Distiller's
    student)."""
    model = getattr(model, "student", model)
    return [layer for layer in model.layers
            if isinstance(layer, ChannelGate)]


def follow_loss_scale(model, optimizer=None):
    """Makes the gates of `model` divide their saliency by `optimizer`'s
    loss scale.

    A loss-scaling optimizer (a `keras.optimizers.LossScaleOptimizer`,
    which Keras' `compile` wraps around the optimizer under the
    `mixed_float16` policy, or any optimizer with a `loss_scale_factor`)
    multiplies the loss before differentiation, and with it the gradients
    the gates measure saliency from. The gates divide the scale back out,
    and under a `LossScaleOptimizer` add nothing for a step whose
    gradients overflowed (the optimizer skips that step). Without a loss
    scale the gates compute as before.

    `tfprune.TargetRatio` calls this when training begins; call it
    yourself before `fit` when you fold saliency into scores without it.

    Args:
        model: a gated model or a `keras.distillation.Distiller` whose
            student is one.
        optimizer: default `model.optimizer`.

    Returns:
        True when any gate's loss scale changed (a train function traced
        before then has the old one).

    Examples:
        >>> gated.compile(keras.optimizers.SGD(0.01), loss)  # mixed_float16
        >>> tfprune.saliency.follow_loss_scale(gated)
        True
    """
    if optimizer is None:
        optimizer = getattr(model, "optimizer", None)
    dynamic = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    scaled = dynamic or getattr(optimizer, "loss_scale_factor", None)
    hook = (optimizer.scale_loss, dynamic) if scaled else None
    changed = False
    for gate in gates_of(model):
        if gate.loss_scale != hook:
            gate.loss_scale = hook
            changed = True
    return changed


def scores_are_empty(model):
    """True when no gate of `model` has gathered any saliency yet."""
    return not any(np.any(keras.ops.convert_to_numpy(g.score))
                   for g in gates_of(model))


def _loss_function(model, loss):
    if loss is not None:
        return lambda x, y, y_pred: loss(y, y_pred)
    if getattr(model, "compiled", False) and hasattr(model, "compute_loss"):
        return lambda x, y, y_pred: model.compute_loss(
            x=x, y=y, y_pred=y_pred, training=True)
    raise ValueError(
        f"gather_saliency needs a loss: model '{model.name}' is not "
        "compiled. Compile it, or pass e.g. loss=keras.losses."
        "SparseCategoricalCrossentropy(from_logits=True).")


def _labelled_batches(data, steps):
    if isinstance(data, tuple) and len(data) == 2:
        data_lib.check_same_length(*data, what="saliency data")
        data = tf.data.Dataset.from_tensor_slices(data).batch(32)
    if not isinstance(data, tf.data.Dataset) or not (
            isinstance(data.element_spec, tuple)
            and len(data.element_spec) >= 2):
        raise ValueError(
            "gather_saliency measures the loss, so it needs labelled data: "
            "a batched tf.data.Dataset of (inputs, labels) or a tuple "
            f"(inputs, labels) of arrays. Received: {type(data).__name__}"
            + (f" yielding {data.element_spec}"
               if isinstance(data, tf.data.Dataset) else ""))
    return iter(data.repeat().take(steps))


def gather_saliency(model, data, steps=20, loss=None):
    """Sets every gate's score to its Taylor saliency on `steps` batches.

    Weights and BatchNormalization statistics are left as they were; any
    saliency gathered before is replaced.

    Args:
        model: a gated model (from `tfprune.gate`), or a
            `keras.distillation.Distiller` whose student is one.
        data: labelled training data: a batched `tf.data.Dataset` of
            `(inputs, labels)` or a tuple `(inputs, labels)` of arrays.
        steps: batches to average. Default 20.
        loss: `loss(y_true, y_pred)`; default the compiled loss of `model`.

    Returns:
        The number of gates whose scores were set.

    Examples:
        >>> gated = tfprune.gate(trained_model)
        >>> tfprune.gather_saliency(gated, (x_train, y_train), loss=keras.losses
        ...     .SparseCategoricalCrossentropy(from_logits=True))
        13
        >>> tfprune.prune_now(gated, 0.5, metric="macs")
    """
    check_positive_int("steps", steps)
    gates = gates_of(model)
    if not gates:
        raise ValueError(
            f"Model '{model.name}' has no ChannelGate layers: call "
            "tfprune.gate(model) first.")
    compute_loss = _loss_function(model, loss)
    student = getattr(model, "student", model)
    norms = batchnorm_layers(student)
    statistics = [[v.numpy() for v in bn.non_trainable_weights]
                  for bn in norms]
    for gate in gates:
        gate.saliency.assign(keras.ops.zeros_like(gate.saliency))
    # The loss is scaled as `fit` scales it (under mixed_float16, so that
    # small gradients do not vanish in float16), and the gates divide the
    # scale out.
    optimizer = getattr(model, "optimizer", None)
    hooks = [gate.loss_scale for gate in gates]
    follow_loss_scale(model, optimizer)
    used = 0
    try:
        for x, y, *_ in _labelled_batches(data, steps):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                value = compute_loss(x, y, y_pred)
                if optimizer is not None:
                    value = optimizer.scale_loss(value)
            # The gates' gradients add the saliency; the weights stay as
            # they are.
            tape.gradient(value, student.trainable_variables)
            used += 1
    finally:
        for gate, hook in zip(gates, hooks):
            gate.loss_scale = hook
    for bn, values in zip(norms, statistics):
        for variable, value in zip(bn.non_trainable_weights, values):
            variable.assign(value)
    for gate in gates:
        gate.score.assign(keras.ops.zeros_like(gate.score))
        gate.fold_saliency(used, decay=0.0)
    return len(gates)
