"""Re-estimating BatchNormalization statistics after the masks change.

When channels are switched off, the layers after them see other inputs,
and their BatchNormalization moving statistics (an average over hundreds
of steps) describe a network that no longer exists: the inference-mode
model is wrong until they catch up. Like EagleEye's "adaptive BN" (Li et
al. 2020), `recalibrate` runs a few training batches forward in training
mode, without gradients, and sets every moving mean and variance to the
average of those batches.
"""

import itertools
import weakref

import keras
import numpy as np
import tensorflow as tf


def batchnorm_layers(model):
    """Every `BatchNormalization` layer of `model`, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batchnorm_layers(layer))
    return found


def recalibrate(model, batches, steps):
    """Sets BatchNormalization moving statistics from `steps` batches.

    Each batch runs through a compiled forward pass in training mode with
    every layer's momentum at 0, so its moving statistics become that
    batch's; they are averaged over the batches (each weighs the same).

    Args:
        model: a Keras model (a gated model with its current masks).
        batches: an iterator over batches of inputs or `(inputs, labels)`.
        steps: how many batches to average.

    Returns:
        The number of batches used (fewer than `steps` if `batches` ended).

    Examples:
        >>> batches = iter(train_ds.repeat())
        >>> tfprune.batchnorm.recalibrate(gated, batches, steps=20)
        20
    """
    norms = batchnorm_layers(model)
    if not norms:
        return 0
    momenta = [bn.momentum for bn in norms]
    forward = _training_forward(model)
    sums = [[np.zeros(bn.moving_mean.shape, np.float64),
             np.zeros(bn.moving_variance.shape, np.float64)] for bn in norms]
    used = 0
    try:
        for bn in norms:
            bn.momentum = 0.0  # read when `forward` is traced
        for batch in itertools.islice(batches, steps):
            forward(batch[0] if isinstance(batch, (tuple, list)) else batch)
            for total, bn in zip(sums, norms):
                total[0] += keras.ops.convert_to_numpy(bn.moving_mean)
                total[1] += keras.ops.convert_to_numpy(bn.moving_variance)
            used += 1
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
    if used:
        for (mean, variance), bn in zip(sums, norms):
            bn.moving_mean.assign(mean / used)
            bn.moving_variance.assign(variance / used)
    return used


# A model's compiled forward pass in training mode, traced once (the
# momentum it is traced with is always 0). Weak keys: no model kept alive.
_FORWARD = weakref.WeakKeyDictionary()


def _training_forward(model):
    forward = _FORWARD.get(model)
    if forward is None:
        model_ref = weakref.ref(model)
        forward = tf.function(
            lambda inputs: model_ref()(inputs, training=True),
            reduce_retracing=True)
        _FORWARD[model] = forward
    return forward
