"""Argument checks shared by the public API; messages echo the bad value."""

import numpy as np


def check_positive_int(name, value, allow_none=False):
    """Raises ValueError unless `value` is a positive int (or allowed None)."""
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}")


def check_fraction(name, value):
    """Raises ValueError unless `value` is a number from 0 to 1 (a fraction
    of training)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= 1:
        raise ValueError(
            f"`{name}` is a fraction of training and must be between 0 and "
            f"1. Received: {name}={value!r}")


def check_finite_weights(model, action):
    """Raises ValueError naming the first weight that holds NaN or inf.

    `action` says what was refused, e.g. `"tfprune.shrink"`.
    """
    for layer in model.layers:
        for weight in layer.weights:
            values = np.asarray(weight.numpy() if hasattr(weight, "numpy")
                                else weight)
            bad = int(np.size(values) - np.isfinite(values).sum())
            if bad:
                raise ValueError(
                    f"{action} refuses model '{model.name}': weight "
                    f"'{weight.path}' of layer '{layer.name}' holds {bad} NaN "
                    "or infinite values (training diverged?). Restore a "
                    "checkpoint from before the divergence and train with a "
                    "lower learning rate.")
