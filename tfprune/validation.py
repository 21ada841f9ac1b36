"""Argument checks shared by the public API; messages echo the bad value."""


def check_positive_int(name, value, allow_none=False):
    """Raises ValueError unless `value` is a positive int (or allowed None)."""
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}")
