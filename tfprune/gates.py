"""The `ChannelGate` layer: a learnable on/off switch for every channel."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="tfprune")
class ChannelGate(keras.layers.Layer):
    """Multiplies each channel of its input by a binary mask, and learns
    how much each channel is worth.

    The layer owns three weights of shape `(channels,)`, none of them
    trained by the optimizer:

    - `mask`: the current 0/1 mask. Only pruning code (`TargetRatio`,
      `prune_now`) writes it.
    - `saliency`: in training, the backward pass adds to it each channel's
      first-order Taylor saliency, the mean over the batch of
      `|sum over positions of g * a|`, where `a` is the channel's
      activation before the mask and `g` the loss gradient after it (the
      paper group's "channel utility", Molchanov et al. 2017). For a kept
      channel it estimates how much the loss would rise if the channel
      were removed; for a masked one, how much it would fall if the
      channel came back, so switched-off channels can return.
    - `score`: the learned value of each channel, a running average of the
      saliency that `tfprune.TargetRatio` folds in at every update
      (`fold_saliency`). The budget solver ranks channels by it. Scores
      are in units of the loss, so they compare across layers.

    In inference the output is exactly `inputs * mask`, which is what the
    shrunk model (`tfprune.shrink`) computes without the masked channels.

    Under mixed precision (`mixed_float16`, `mixed_bfloat16`) the three
    weights are float32 and the saliency is computed in float32 from the
    low-precision activations and gradients. A loss-scaling optimizer
    (Keras wraps the optimizer in a `LossScaleOptimizer` for
    `mixed_float16`) scales every gradient; `tfprune.TargetRatio` makes
    the gates divide the loss scale back out (and skip the steps whose
    gradients overflowed, which the optimizer skips too), so scores stay in
    units of the loss (`tfprune.saliency.follow_loss_scale`).

    With `measures_saliency=False` the backward pass adds nothing (a plain
    `inputs * mask` also in training, a little cheaper). With
    `frozen=True` the mask stays all ones and the layer passes its input
    through (no multiply, no saliency): `tfprune.fit` builds the hold's
    network this way, without its masked channels, whose masks are final.
    `set_mask` then refuses a zero.

    Input shape:
        Any tensor whose last axis holds the channels.

    Output shape:
        Same as the input.

    Examples:
        >>> gate = ChannelGate()
        >>> y = gate(keras.ops.ones((2, 4, 4, 8)))
        >>> gate.set_mask([1, 0, 1, 1, 1, 1, 1, 0])
        >>> gate.kept_channels()
        6
    """

    def __init__(self, full_channels=None, measures_saliency=True,
                 frozen=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("measures_saliency", measures_saliency),
                            ("frozen", frozen)):
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` is True or False. Received: "
                                 f"{name}={value!r}")
        self.measures_saliency = measures_saliency
        self.frozen = frozen
        if full_channels is not None and (
                isinstance(full_channels, bool)
                or not isinstance(full_channels, int) or full_channels < 1):
            raise ValueError(
                "`full_channels` is the width of the unpruned group, a "
                f"positive integer. Received: full_channels={full_channels!r}")
        # Set when `tfprune.training` rebuilt the network narrower during
        # training: the group's width before any channel was removed, so
        # that budgets stay fractions of the original network.
        self.full_channels = full_channels
        self.supports_masking = True
        # `(optimizer.scale_loss, skip overflowed steps)` or None; set by
        # `tfprune.saliency.follow_loss_scale`, not saved.
        self.loss_scale = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"ChannelGate '{self.name}' needs a known number of channels "
                f"on the last axis. Received: input_shape={input_shape}"
            )
        self.score = self.add_weight(
            name="score", shape=(channels,), initializer="zeros",
            trainable=False, aggregation="only_first_replica",
        )
        self.mask = self.add_weight(
            name="mask", shape=(channels,), initializer="ones",
            trainable=False, aggregation="only_first_replica",
        )
        # Replicas add their saliency through an explicit all-reduce (see
        # `_masked_with_saliency`), so every copy holds the same sum.
        # Not autocast: under mixed precision `saliency.dtype` stays float32
        # inside `call` too, where the gradient below is built.
        self.saliency = self.add_weight(
            name="saliency", shape=(channels,), initializer="zeros",
            trainable=False, aggregation="only_first_replica",
            autocast=False,
        )

    @property
    def channels(self):
        """Number of channels the gate controls."""
        return int(self.mask.shape[0])

    @property
    def original_channels(self):
        """Number of channels of the group before any was removed."""
        return self.full_channels or self.channels

    def get_config(self):
        config = super().get_config()
        if self.full_channels is not None:
            config["full_channels"] = self.full_channels
        if not self.measures_saliency:
            config["measures_saliency"] = False
        if self.frozen:
            config["frozen"] = True
        return config

    def call(self, inputs, training=None):
        if self.frozen:
            return inputs
        mask = ops.cast(self.mask, self.compute_dtype)
        if training and self.measures_saliency:
            return _masked_with_saliency(inputs, mask, self.saliency,
                                         self.loss_scale)
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
        if self.frozen and not mask.all():
            raise ValueError(
                f"ChannelGate '{self.name}' is frozen (its masks were final "
                f"when tfprune.fit built it) and keeps all {self.channels} "
                f"channels; received a mask with {int((mask == 0).sum())} "
                "zeros. Shrink the model (tfprune.shrink) and gate it again "
                "to prune further.")
        self.mask.assign(mask)

    def fold_saliency(self, steps, decay):
        """Moves `score` towards the saliency gathered over `steps` steps.

        `score = decay * score + (1 - decay) * saliency / steps`, then the
        saliency restarts from zero. A first fold (all scores zero) takes
        the saliency as it is.
        """
        fresh = ops.convert_to_numpy(self.saliency) / max(steps, 1)
        if not np.isfinite(fresh).all():
            raise FloatingPointError(
                f"ChannelGate '{self.name}': the saliency of "
                f"{int((~np.isfinite(fresh)).sum())} channels became NaN or "
                "infinite (the loss or its gradient diverged); scores and "
                "masks left as they were.")
        score = ops.convert_to_numpy(self.score)
        if not score.any():
            decay = 0.0
        self.score.assign(decay * score + (1.0 - decay) * fresh)
        self.saliency.assign(ops.zeros_like(self.saliency))

    def kept_channels(self):
        """Number of channels whose mask is 1."""
        return int(ops.convert_to_numpy(self.mask).sum())


def _masked_with_saliency(inputs, mask, saliency, loss_scale=None):
    """`inputs * mask`; its gradient also adds the Taylor saliency of every
    channel (masked or not) to the `saliency` variable.

    The products and sums are computed in the saliency's dtype (float32),
    not in the activations' (float16 / bfloat16 under mixed precision,
    too coarse to sum thousands of positions). `loss_scale` is None or
    `(scale_loss, skip_overflow)`: `scale_loss(1.0)` is the factor the
    loss was multiplied by before differentiation, divided out here."""
    dtype = saliency.dtype

    @tf.custom_gradient
    def masked(x):
        def grad(upstream):
            per_example = ops.sum(
                ops.cast(upstream, dtype) * ops.cast(x, dtype),
                axis=tuple(range(1, len(x.shape) - 1)))
            # The loss is a batch mean, so `upstream` carries 1/N: the sum
            # over the batch is the mean of the per-example saliency.
            batch = ops.sum(ops.abs(per_example), axis=0)
            if loss_scale is not None:
                scale_loss, skip_overflow = loss_scale
                batch = batch / ops.cast(scale_loss(1.0), dtype)
                if skip_overflow:  # the optimizer skips this step too
                    batch = ops.where(ops.all(ops.isfinite(batch)), batch,
                                      ops.zeros_like(batch))
            # Under tf.distribute each replica saw part of the global batch
            # (and its loss is scaled by 1 / replicas): their sum is the
            # saliency of the global batch. Keras' `assign_add` is
            # `assign(var + delta)`, which a SUM-aggregated variable would
            # reduce to `replicas * var + sum(delta)`, hence the all-reduce.
            context = tf.distribute.get_replica_context()
            if context is not None and context.num_replicas_in_sync > 1:
                batch = context.all_reduce(tf.distribute.ReduceOp.SUM, batch)
            saliency.assign_add(batch)
            return upstream * mask

        return x * mask, grad

    return masked(inputs)
