"""Knowledge distillation for pruning: a pruned student learns from a
teacher's logits (Hinton et al. 2015)."""

import keras


def distillation_loss(temperature):
    """Hinton's distillation loss on logits: `T**2 * KL(softmax(teacher / T)
    || softmax(student / T))`, as a `keras.distillation` loss.

    `keras.distillation.LogitsDistillation(temperature)` with its default
    `loss="kl_divergence"` does not compute this (Keras 3.15): the string
    resolves to the plain function, and the softmax and `T**2` are only
    applied for a `keras.losses.KLDivergence` instance, so the default takes
    the KL of raw logits clipped to [1e-7, 1] (it can be negative and
    carries almost no gradient). Passing the instance gives the real loss.

    >>> distiller = keras.distillation.Distiller(
    ...     teacher, gated, tfprune.distillation_loss(4.0))
    >>> distiller.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> distiller.fit(train, callbacks=[tfprune.TargetRatio(0.9)])
    """
    if isinstance(temperature, bool) or not isinstance(
            temperature, (int, float)) or not temperature > 0:
        raise ValueError("`temperature` must be a number > 0 (softens both "
                         "softmaxes; 4 is usual). Received: "
                         f"temperature={temperature!r}")
    return keras.distillation.LogitsDistillation(
        temperature=temperature, loss=keras.losses.KLDivergence())
