"""Rules of the Keras layers: producers, channel-wise layers, merges, ...

See `base.py` for the kinds. Each rule says how a layer type uses its
channels, what it costs as a function of the kept widths, and how to
rebuild it with only the kept channels.
"""

import keras
import numpy as np

from tfprune import polynomial
from tfprune.gates import ChannelGate
from tfprune.rules.base import (CHANNELWISE, CONCAT, EXPAND, FLATTEN, GATE,
                                MERGE, OPAQUE, PRODUCER, LayerRule,
                                OpaqueRule, expand_kept,
                                register_rule)

# Activations `f` with f(0) == 0: a zeroed channel stays zero through them.
ZERO_PRESERVING_ACTIVATIONS = {
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "tanh", "gelu",
    "silu", "swish", "hard_silu", "hard_swish", "mish", "softsign",
}


def _activation_name(activation):
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", str(activation))


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_last"


class ProducerRule(LayerRule):
    """`Conv1D`, `Conv2D`, `Conv3D` and `Dense`: new channels from all inputs."""

    kind = PRODUCER

    def __init__(self, units_key):
        self.units_key = units_key

    def applies(self, layer, in_shape):
        return getattr(layer, "groups", 1) == 1 and _channels_last(layer)

    def why_not(self, layer):
        if getattr(layer, "groups", 1) != 1:
            return (f"grouped convolutions (groups={layer.groups}) are not "
                    "supported yet")
        return "only data_format='channels_last' is supported"

    def _kernel_size(self, layer):
        return int(np.prod(layer.kernel.shape[:-2]))

    def params(self, layer, c_in, c_out, in_shape):
        terms = polynomial.times(c_in, polynomial.scale(
            c_out, self._kernel_size(layer)))
        if getattr(layer, "use_bias", False):
            for key, coef in polynomial.as_terms(c_out).items():
                terms[key] = terms.get(key, 0.0) + coef
        return terms

    def macs(self, layer, c_in, c_out, in_shape, output_shape):
        positions = int(np.prod([d for d in output_shape[1:-1]]))
        factor = self._kernel_size(layer) * positions
        return polynomial.times(c_in, polynomial.scale(c_out, factor))

    def folds_constants(self, layer):
        """Whether input channels holding constants can be folded into the
        bias: each output sees every input value once per kernel tap."""
        padding = getattr(layer, "padding", "valid")
        kernel = tuple(getattr(layer, "kernel_size", ()))
        return padding == "valid" or all(k == 1 for k in kernel)

    def constant_contribution(self, layer, rows, values):
        """What input channels `rows` holding `values` add to every output."""
        kernel = layer.get_weights()[0]
        taps = kernel.reshape(-1, *kernel.shape[-2:]).sum(axis=0)
        return np.asarray(values, dtype=taps.dtype) @ taps[rows]

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        config = layer.get_config()
        config[self.units_key] = len(out_kept)
        weights = layer.get_weights()
        kernel = weights[0][..., in_kept, :][..., out_kept]
        rest = [w[out_kept] for w in weights[1:]]
        return config, [kernel] + rest


class ChannelwiseRule(LayerRule):
    """Layers computing channel c from channel c only.

    Weights whose last axis has one entry per channel are sliced; others
    (broadcast weights) are kept whole.
    """

    kind = CHANNELWISE

    def __init__(self, zero_preserving=True, keeps_constants=True):
        self._zero_preserving = zero_preserving
        self._keeps_constants = keeps_constants

    def applies(self, layer, in_shape):
        return _channels_last(layer)

    def why_not(self, layer):
        return "only data_format='channels_last' is supported"

    def zero_preserving(self, layer):
        if callable(self._zero_preserving):
            return self._zero_preserving(layer)
        return self._zero_preserving

    def keeps_constants(self, layer):
        return self._keeps_constants

    def params(self, layer, c_in, c_out, in_shape):
        terms = {}
        for w in layer.weights:
            shape = tuple(w.shape)
            if shape and shape[-1] == in_shape[-1]:
                per_channel = int(np.prod(shape[:-1]))
                part = polynomial.as_terms(polynomial.scale(c_in, per_channel))
            else:
                part = polynomial.as_terms(
                    {polynomial.CONSTANT: int(np.prod(shape))})
            for key, coef in part.items():
                terms[key] = terms.get(key, 0.0) + coef
        return terms

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        weights = [
            w[..., in_kept] if w.ndim and w.shape[-1] == in_shape[-1] else w
            for w in layer.get_weights()
        ]
        return layer.get_config(), weights


class BatchNormalizationRule(ChannelwiseRule):
    def __init__(self):
        super().__init__(zero_preserving=False)

    def applies(self, layer, in_shape):
        return layer.axis in (-1, len(in_shape) - 1)

    def why_not(self, layer):
        return f"only axis=-1 is supported (layer has axis={layer.axis})"


class GateRule(ChannelwiseRule):
    kind = GATE

    def params(self, layer, c_in, c_out, in_shape):
        return {}  # gates are bookkeeping; `shrink` removes them


class FlattenRule(LayerRule):
    kind = FLATTEN

    def applies(self, layer, in_shape):
        return _channels_last(layer)

    def zero_preserving(self, layer):
        return True

    def keeps_constants(self, layer):
        return True

    def params(self, layer, c_in, c_out, in_shape):
        return {}


def _relu_zero_preserving(layer):
    return layer.threshold <= 0 or layer.negative_slope == 0


def _activation_zero_preserving(layer):
    return _activation_name(layer.activation) in ZERO_PRESERVING_ACTIVATIONS


def _rescaling_scalar(layer):
    return np.ndim(layer.scale) == 0 and np.ndim(layer.offset) == 0


class RescalingRule(ChannelwiseRule):
    def __init__(self):
        super().__init__(zero_preserving=lambda layer: layer.offset == 0)

    def applies(self, layer, in_shape):
        return _rescaling_scalar(layer)

    def why_not(self, layer):
        return "only scalar scale and offset are supported"



class DepthwiseRule(ChannelwiseRule):
    """`DepthwiseConv1D/2D`: channel c of the output (per multiplier) from c."""

    def __init__(self):
        super().__init__(zero_preserving=lambda layer: not layer.use_bias)

    def kind_of(self, layer, in_shape):
        if not _channels_last(layer):
            return OPAQUE
        return EXPAND if layer.depth_multiplier > 1 else CHANNELWISE

    def expansion(self, layer):
        return layer.depth_multiplier

    def keeps_constants(self, layer):
        return layer.padding == "valid" or all(
            k == 1 for k in layer.kernel_size)

    def _kernel_size(self, layer):
        return int(np.prod(layer.kernel.shape[:-2]))

    def params(self, layer, c_in, c_out, in_shape):
        per_channel = layer.depth_multiplier * (
            self._kernel_size(layer) + int(layer.use_bias))
        return polynomial.as_terms(polynomial.scale(c_in, per_channel))

    def macs(self, layer, c_in, c_out, in_shape, output_shape):
        positions = int(np.prod(output_shape[1:-1]))
        factor = self._kernel_size(layer) * layer.depth_multiplier * positions
        return polynomial.as_terms(polynomial.scale(c_in, factor))

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        weights = layer.get_weights()
        kernel = weights[0][..., in_kept, :]
        rest = [w[out_kept] for w in weights[1:]]  # bias: C * multiplier
        return layer.get_config(), [kernel] + rest


class SeparableRule(ProducerRule):
    """`SeparableConv1D/2D`: depthwise over the inputs, then a 1x1 producer."""

    def __init__(self):
        super().__init__("filters")

    def applies(self, layer, in_shape):
        return _channels_last(layer)

    def folds_constants(self, layer):
        return False

    def params(self, layer, c_in, c_out, in_shape):
        k = int(np.prod(layer.depthwise_kernel.shape[:-2]))
        m = layer.depth_multiplier
        terms = polynomial.as_terms(polynomial.scale(c_in, k * m))
        for key, coef in polynomial.times(
                c_in, polynomial.scale(c_out, m)).items():
            terms[key] = terms.get(key, 0.0) + coef
        if layer.use_bias:
            for key, coef in polynomial.as_terms(c_out).items():
                terms[key] = terms.get(key, 0.0) + coef
        return terms

    def macs(self, layer, c_in, c_out, in_shape, output_shape):
        k = int(np.prod(layer.depthwise_kernel.shape[:-2]))
        m = layer.depth_multiplier
        positions = int(np.prod(output_shape[1:-1]))
        terms = polynomial.as_terms(polynomial.scale(c_in, k * m * positions))
        for key, coef in polynomial.times(
                c_in, polynomial.scale(c_out, m * positions)).items():
            terms[key] = terms.get(key, 0.0) + coef
        return terms

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        config = layer.get_config()
        config["filters"] = len(out_kept)
        depthwise, pointwise, *rest = layer.get_weights()
        m = layer.depth_multiplier
        rows = expand_kept(in_kept, m)
        return config, [depthwise[..., in_kept, :],
                        pointwise[..., rows, :][..., out_kept]] + [
            w[out_kept] for w in rest]


class MergeRule(LayerRule):
    """Element-wise merges: all (non-broadcast) inputs share channels."""

    kind = MERGE

    def __init__(self, zero_if="all"):
        self.zero_if = zero_if  # output is zero if all / any inputs are zero

    def params(self, layer, c_in, c_out, in_shape):
        return {}


class ConcatenateRule(LayerRule):
    kind = CONCAT

    def applies(self, layer, in_shape):
        return layer.axis == -1 or layer.axis == len(in_shape) - 1

    def why_not(self, layer):
        return (f"only concatenation on the channel axis is supported "
                f"(layer has axis={layer.axis})")

    def zero_preserving(self, layer):
        return True

    def params(self, layer, c_in, c_out, in_shape):
        return {}


class ReshapeRule(ChannelwiseRule):
    """`Reshape` that keeps the last (channel) axis, e.g. (C,) -> (1, 1, C)."""

    def applies(self, layer, in_shape):
        return tuple(layer.target_shape)[-1] == in_shape[-1]

    def why_not(self, layer):
        return "this Reshape changes the channel axis"

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        config = layer.get_config()
        config["target_shape"] = (*tuple(layer.target_shape)[:-1],
                                  len(out_kept))
        return config, []


class LayerScaleRule(ChannelwiseRule):
    """ConvNeXt's `LayerScale`: channel c times a learned gamma[c]."""

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        config, weights = super().rebuild(layer, in_kept, out_kept, in_shape)
        return dict(config, projection_dim=len(out_kept)), weights


class NormalizationRule(ChannelwiseRule):
    """`Normalization` on the last axis: per-channel mean and variance."""

    def __init__(self):
        super().__init__(zero_preserving=False)

    def applies(self, layer, in_shape):
        return tuple(layer.axis) in ((-1,), (len(in_shape) - 1,))

    def why_not(self, layer):
        return f"only axis=-1 is supported (layer has axis={layer.axis})"

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        config = layer.get_config()
        for key in ("mean", "variance"):
            if config.get(key) is not None:
                value = np.broadcast_to(np.asarray(config[key]),
                                        (in_shape[-1],))
                config[key] = value[in_kept].tolist()
        return config, super().rebuild(layer, in_kept, out_kept, in_shape)[1]


L = keras.layers
for _cls in (L.Conv1D, L.Conv2D, L.Conv3D):
    register_rule(_cls, ProducerRule("filters"))
register_rule(L.Dense, ProducerRule("units"))
for _cls in (L.DepthwiseConv1D, L.DepthwiseConv2D):
    register_rule(_cls, DepthwiseRule())
for _cls in (L.SeparableConv1D, L.SeparableConv2D):
    register_rule(_cls, SeparableRule())
for _cls in (L.Add, L.Subtract, L.Maximum, L.Minimum, L.Average):
    register_rule(_cls, MergeRule(zero_if="all"))
register_rule(L.Multiply, MergeRule(zero_if="any"))
register_rule(L.Concatenate, ConcatenateRule())
register_rule(L.Reshape, ReshapeRule())
register_rule(L.Normalization, NormalizationRule())
register_rule(L.BatchNormalization, BatchNormalizationRule())
register_rule(L.ReLU, ChannelwiseRule(_relu_zero_preserving))
register_rule(L.Activation, ChannelwiseRule(_activation_zero_preserving))
register_rule(L.Rescaling, RescalingRule())
register_rule(L.Flatten, FlattenRule())
register_rule(ChannelGate, GateRule())
for _cls in (
    L.LeakyReLU, L.ELU, L.PReLU,
    L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
    L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
    L.ActivityRegularization, L.Identity,
    L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
    L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
    L.GlobalAveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
    L.GlobalMaxPooling3D,
    L.Cropping1D, L.Cropping2D, L.Cropping3D,
    L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
):
    register_rule(_cls, ChannelwiseRule(zero_preserving=True))
_ACROSS_CHANNELS = ("it normalizes across channels, so removing one changes "
                    "the others")
for _cls in (L.LayerNormalization, L.GroupNormalization, L.UnitNormalization,
             L.RMSNormalization):
    register_rule(_cls, OpaqueRule(_ACROSS_CHANNELS))
register_rule("keras.src.applications.convnext.LayerScale", LayerScaleRule())
for _cls in (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D):
    register_rule(_cls, ChannelwiseRule(zero_preserving=True,
                                        keeps_constants=False))
del L, _cls


