"""The `ChannelGate` layer: a learnable on/off switch for every channel."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfprune")
class ChannelGate(keras.layers.Layer):
    """Multiplies each channel of its input by a binary mask.

    The layer owns two weights of shape `(channels,)`:

    - `score` (trainable): a learnable logit per channel. The forward pass
      ignores it; in training the backward pass treats the gate as
      `sigmoid(score)` (a straight-through estimator), so the score of
      every channel, including switched-off ones, receives the first-order
      signal "how much would the loss drop if this channel were more
      open". `tfprune.TargetRatio` ranks channels by these scores.
    - `mask` (not trainable): the current 0/1 mask. Only pruning code
      (`TargetRatio`, `prune_now`) writes it.

    In inference the output is exactly `inputs * mask`, which is what the
    shrunk model (`tfprune.shrink`) computes without the masked channels.

    Args:
        score_gain: Positive float, default `1.0`. Multiplies the gradient
            that reaches `score`, like a learning-rate multiplier for the
            gates. Raise it when the optimizer's learning rate is small.

    Input shape:
        Any tensor whose last axis holds the channels.

    Output shape:
        Same as the input.

    Example:

    >>> gate = ChannelGate()
    >>> y = gate(keras.ops.ones((2, 4, 4, 8)))
    >>> gate.set_mask([1, 0, 1, 1, 1, 1, 1, 0])
    >>> gate.kept_channels()
    6
    """

    def __init__(self, score_gain=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(score_gain, (int, float)) or score_gain <= 0:
            raise ValueError(
                "`score_gain` must be a positive number. "
                f"Received: score_gain={score_gain!r}"
            )
        self.score_gain = float(score_gain)
        self.supports_masking = True

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"ChannelGate '{self.name}' needs a known number of channels "
                f"on the last axis. Received: input_shape={input_shape}"
            )
        self.score = self.add_weight(
            name="score", shape=(channels,), initializer="zeros",
            trainable=True,
        )
        self.mask = self.add_weight(
            name="mask", shape=(channels,), initializer="ones",
            trainable=False, aggregation="only_first_replica",
        )

    @property
    def channels(self):
        """Number of channels the gate controls."""
        return int(self.mask.shape[0])

    def call(self, inputs, training=None):
        mask = ops.cast(self.mask, self.compute_dtype)
        if training:
            # Forward: exactly `mask`. Backward: d(gate)/d(score) is the
            # derivative of `score_gain * sigmoid(score)`.
            soft = self.score_gain * ops.sigmoid(
                ops.cast(self.score, self.compute_dtype)
            )
            mask = mask + (soft - ops.stop_gradient(soft))
        return inputs * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def set_mask(self, mask):
        """Sets the 0/1 mask from a sequence of `channels` booleans."""
        mask = ops.convert_to_numpy(mask).astype("float32").reshape(-1)
        if mask.shape != (self.channels,):
            raise ValueError(
                f"ChannelGate '{self.name}' has {self.channels} channels; "
                f"received a mask of shape {mask.shape}."
            )
        if not ((mask == 0) | (mask == 1)).all():
            raise ValueError(
                f"ChannelGate '{self.name}': a mask holds only 0 and 1. "
                f"Received values {sorted(set(mask.tolist()))}."
            )
        self.mask.assign(mask)

    def kept_channels(self):
        """Number of channels whose mask is 1."""
        return int(ops.convert_to_numpy(self.mask).sum())

    def get_config(self):
        config = super().get_config()
        config.update({"score_gain": self.score_gain})
        return config
