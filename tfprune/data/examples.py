"""Input data in the forms users have: arrays, `tf.data`, generator
functions; checked against the model, iterated one example at a time."""

import numpy as np
import tensorflow as tf


def _as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _split(element):
    """`(inputs, labels or None)` from a dataset element."""
    if isinstance(element, dict):
        raise ValueError(
            "Dataset elements that are dicts are not supported; yield "
            "`inputs` or `(inputs, labels)`.")
    if isinstance(element, (tuple, list)):
        return element[0], (element[1] if len(element) > 1 else None)
    return element, None


def _model_input(model):
    if len(model.inputs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(model.inputs)} inputs; tfprune's "
            "data helpers support single-input models.")
    return model.inputs[0]


def check_same_length(inputs, labels, what="data"):
    """Raises ValueError unless `inputs` and `labels` (arrays or tensors,
    first axis: examples) hold as many examples.

    >>> check_same_length(x_train, y_train, what="training data")
    """
    x_count = int(np.shape(inputs)[0]) if np.ndim(inputs) else None
    y_count = int(np.shape(labels)[0]) if np.ndim(labels) else None
    if x_count is None or x_count != y_count:
        raise ValueError(
            f"The {what} has {_count(x_count, 'input')} but "
            f"{_count(y_count, 'label')}: inputs and labels must hold the "
            "same examples, along their first axis. Received: inputs of "
            f"shape {tuple(np.shape(inputs))}, labels of shape "
            f"{tuple(np.shape(labels))}")


def _count(n, noun):
    if n is None:
        return f"a single {noun} without a batch axis"
    return f"{n} {noun}{'' if n == 1 else 's'}"


def iterate_examples(data, model, limit=None, what="data"):
    """Yields `(x, y)` single examples (NumPy, `y` may be None) from `data`.

    `data` is a NumPy array of inputs, a tuple `(inputs, labels)` of arrays,
    a `tf.data.Dataset` of `inputs` or `(inputs, labels)` (batched or not),
    or a generator function yielding lists `[inputs]` as
    `tf.lite.TFLiteConverter.representative_dataset` takes it.

    Raises ValueError (naming `what`) when a tuple, or a batch of a
    dataset, holds more or fewer labels than inputs.
    """
    rank = len(_model_input(model).shape)
    count = 0
    batched = False  # arrays always have a batch axis; datasets may not
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(
            data[0], tf.data.Dataset):
        batches, batched = [(np.asarray(data[0]), np.asarray(data[1]))], True
    elif isinstance(data, np.ndarray):
        batches, batched = [(data, None)], True
    elif isinstance(data, tf.data.Dataset):
        batches = (_split(e) for e in data)
    elif callable(data):
        batches = ((item[0] if isinstance(item, (list, tuple)) else item,
                    None) for item in data())
    else:
        raise TypeError(
            "Expected a NumPy array, a tuple (inputs, labels), a "
            "tf.data.Dataset or a generator function. Received: "
            f"{type(data).__name__}")
    for x, y in batches:
        x = _as_numpy(x)
        y = None if y is None else _as_numpy(y)
        if not batched and x.ndim == rank - 1:  # one unbatched example
            x = x[None]
            y = None if y is None else np.asarray(y)[None]
        if y is not None:
            check_same_length(x, y, what)
        for i in range(x.shape[0]):
            if limit is not None and count >= limit:
                return
            yield x[i], (None if y is None else y[i])
            count += 1


def check_data(data, model, what="data"):
    """Raises ValueError if the first example does not fit `model`'s input.

    Returns the first `(x, y)` example.
    """
    expected = tuple(_model_input(model).shape[1:])
    try:
        x, y = next(iterate_examples(data, model, limit=1, what=what))
    except StopIteration:
        raise ValueError(f"The {what} is empty.") from None
    shape_ok = len(x.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, x.shape))
    if not shape_ok:
        raise ValueError(
            f"The {what} has examples of shape {tuple(x.shape)}, but model "
            f"'{model.name}' expects inputs of shape {expected} (batch axis "
            "excluded).")
    if not (np.issubdtype(x.dtype, np.integer)
            or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(
            f"The {what} has dtype {x.dtype}, but model '{model.name}' takes "
            f"numbers ({_model_input(model).dtype}): pass integer or float "
            "inputs.")
    return x, y


def representative_dataset(data, model, num_samples=200):
    """A TFLite representative-dataset function over `num_samples` examples."""
    check_data(data, model, what="representative data")
    dtype = _model_input(model).dtype

    def generate():
        for x, _ in iterate_examples(data, model, limit=num_samples,
                                     what="representative data"):
            yield [x[None].astype(dtype)]

    return generate
