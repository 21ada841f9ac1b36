"""Re-estimating BatchNormalization statistics after the masks change.

When channels are switched off, the layers after them see other inputs,
and their BatchNormalization moving statistics (an average over hundreds
of steps) describe a network that no longer exists: the inference-mode
model is wrong until they catch up. Like EagleEye's "adaptive BN" (Li et
al. 2020), `recalibrate` runs a few training batches forward in training
mode, without gradients, and sets every moving mean and variance to the
average of those batches.
"""

import keras


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

    Args:
        model: a Keras model (a gated model with its current masks).
        batches: an iterator over batches of inputs or `(inputs, labels)`.
        steps: how many batches to average (each batch weighs the same).

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
    used = 0
    try:
        for used in range(steps):
            try:
                batch = next(batches)
            except StopIteration:
                return used
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            # A cumulative average: batch k gets weight 1 / (k + 1).
            for bn in norms:
                bn.momentum = used / (used + 1.0)
            model(inputs, training=True)
        return steps
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
