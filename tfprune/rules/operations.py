"""How Keras operation nodes (`x + 3.0`, `ops.relu6(x)`, `x * y`, ...) treat
channels: the counterpart of the layer rules in `layers.py`.

A functional model written with operators holds operation nodes besides
layers. They have no weights; what matters is how their channels relate and
whether a pruned (all-zero) channel stays zero through them. Unlike a
layer's, an operation's kind depends on its arguments: `x + y` merges two
channel groups, `x + 3.0` is channel-wise but turns zeros into threes,
`x * 0.5` keeps them zero, `3.0 / x` would make them infinite (unsupported).
`OperationRule.bind(call)` gives the layer rule that holds for one call.

Operations not listed here are opaque: pruned channels may not reach them,
and `gate` names them in its error.
"""

import keras
import numpy as np

from tfprune import keras_compat
from tfprune.rules.base import LayerRule, OpaqueRule, register_rule
from tfprune.rules.layers import (ChannelwiseRule, ConcatenateRule,
                                  FlattenRule, MergeRule)

_ZERO_PRESERVING_UNARY = (
    "relu", "relu6", "silu", "hard_silu", "gelu", "elu", "selu",
    "leaky_relu", "softsign", "tanh", "abs", "absolute", "negative",
    "square", "sqrt", "sin", "sign",
)
_OTHER_UNARY = ("sigmoid", "hard_sigmoid", "exp", "softplus", "cos")
_BINARY = ("add", "subtract", "multiply", "divide", "true_divide",
           "maximum", "minimum")
_REDUCTIONS = ("mean", "sum", "max", "min")


class _OperationChannelwise(ChannelwiseRule):
    """Channel c from channel c, no weights."""

    def applies(self, layer, in_shape):
        return True

    def params(self, layer, c_in, c_out, in_shape):
        return {}


class _OperationMerge(MergeRule):
    pass


class _OperationConcat(ConcatenateRule):
    pass


class _OperationOpaque(OpaqueRule):
    def params(self, layer, c_in, c_out, in_shape):
        return {}


class OperationRule(LayerRule):
    """A Keras operation whose treatment depends on the call's arguments."""

    def bind(self, op, arguments):
        """The layer rule for one call, from its flattened arguments in
        order (KerasTensors and constants; None left out)."""
        raise NotImplementedError

    def params(self, layer, c_in, c_out, in_shape):
        return {}


class UnaryRule(OperationRule):
    def __init__(self, zero_preserving):
        self.zero_preserving_op = zero_preserving

    def bind(self, op, arguments):
        return _OperationChannelwise(zero_preserving=self.zero_preserving_op)


class BinaryRule(OperationRule):
    """`+ - * /`, maximum and minimum, with a tensor or a constant (a
    number, or an array with one value per channel and/or position)."""

    def __init__(self, name):
        self.name = name

    def bind(self, op, arguments):
        tensors = [a for a in arguments if isinstance(a, keras.KerasTensor)]
        if len(tensors) == 2:
            if self.name in ("divide", "true_divide"):
                return _OperationOpaque(
                    "dividing by a tensor whose channels are pruned gives "
                    "infinities")
            return _OperationMerge(
                zero_if="any" if self.name == "multiply" else "all")
        constants = [a for a in arguments
                     if not isinstance(a, keras.KerasTensor)]
        if len(tensors) != 1 or len(constants) != 1:
            return _OperationOpaque(f"'{self.name}' with these arguments")
        constant = np.asarray(constants[0])
        if constant.dtype.kind not in "biuf":
            return _OperationOpaque(
                f"'{self.name}' with a constant of dtype {constant.dtype}")
        channels = tensors[0].shape[-1]
        if constant.ndim and constant.shape[-1] not in (1, channels):
            return _OperationOpaque(
                f"'{self.name}' with a constant of shape {constant.shape}, "
                "which does not broadcast along the channel axis")
        if self.name in ("divide", "true_divide"):
            if not isinstance(arguments[0], keras.KerasTensor):
                return _OperationOpaque(
                    "dividing a constant by pruned channels gives infinities")
            keeps_zero = bool(np.all(constant != 0))
        else:
            keeps_zero = {
                "add": np.all(constant == 0), "subtract": np.all(
                    constant == 0),
                "multiply": np.all(np.isfinite(constant)),
                "maximum": np.all(constant == 0),
                "minimum": np.all(constant == 0)}[self.name]
        if constant.size == 1:
            return _OperationChannelwise(zero_preserving=bool(keeps_zero))
        # One value per channel (sliced with the channels) and/or per
        # position (then a constant channel varies over positions).
        return _ChannelwiseWithConstant(
            zero_preserving=bool(keeps_zero),
            keeps_constants=all(d == 1 for d in constant.shape[:-1]),
            channels=channels)


class _ChannelwiseWithConstant(_OperationChannelwise):
    """`x * c`, `x + c`, ... with a constant `c` broadcast over `x`."""

    def __init__(self, zero_preserving, keeps_constants, channels):
        super().__init__(zero_preserving=zero_preserving,
                         keeps_constants=keeps_constants)
        self.channels = channels

    def call_operation(self, op, args, kwargs, out_kept):
        args = [np.asarray(a)[..., out_kept]
                if not isinstance(a, keras.KerasTensor) and np.ndim(a)
                and np.shape(a)[-1] == self.channels > 1 else a
                for a in args]
        return op(*args, **kwargs)


class ReductionRule(OperationRule):
    """`ops.mean/sum/max/min` over axes that spare the channel axis."""

    def bind(self, op, arguments):
        rank = len(arguments[0].shape)
        axis = getattr(op, "axis", None)
        axes = () if axis is None else (
            (axis,) if isinstance(axis, int) else tuple(axis))
        if axis is None or any(a % rank == rank - 1 for a in axes):
            return _OperationOpaque(
                f"it reduces over the channel axis (axis={axis!r})")
        return _OperationChannelwise(zero_preserving=True)


class ConcatenateOperationRule(OperationRule):
    def bind(self, op, arguments):
        rank = len(arguments[0].shape)
        if op.axis % rank != rank - 1:
            return _OperationOpaque(
                "only concatenation on the channel axis is supported "
                f"(axis={op.axis})")
        return _OperationConcat()


class _ReshapeKeepingChannels(_OperationChannelwise):
    """A reshape whose last axis is the input's channel axis, unchanged."""

    def __init__(self, newshape):
        super().__init__(zero_preserving=True)
        self.newshape = tuple(newshape)

    def call_operation(self, op, args, kwargs, out_kept):
        shape = self.newshape
        if shape[-1] != -1:
            shape = (*shape[:-1], len(out_kept))
        return keras.ops.reshape(args[0], shape)


class _ReshapeFlattening(FlattenRule):
    """`ops.reshape(x, (batch, -1))`: what `Flatten` does."""

    def __init__(self, newshape):
        self.newshape = tuple(newshape)

    def call_operation(self, op, args, kwargs, out_kept):
        features = int(np.prod(args[0].shape[1:]))
        return keras.ops.reshape(args[0], (self.newshape[0], features))


class ReshapeRule(OperationRule):
    """`ops.reshape` that keeps the channel axis last, or that flattens
    `(batch, ..., C)` to `(batch, features)` like `Flatten`."""

    def bind(self, op, arguments):
        x = arguments[0]
        out = op.compute_output_spec(x).shape
        if out[-1] is not None and out[-1] == x.shape[-1]:
            return _ReshapeKeepingChannels(op.newshape)
        if len(out) == 2 and out[0] == x.shape[0] and None not in x.shape[1:] \
                and out[1] == int(np.prod(x.shape[1:])):
            return _ReshapeFlattening(op.newshape)
        return _OperationOpaque(
            f"reshape from {tuple(x.shape)} to {tuple(out)} mixes channels "
            "with other axes")


class TransposeRule(OperationRule):
    """`ops.transpose` that leaves the channel axis last."""

    def bind(self, op, arguments):
        rank = len(arguments[0].shape)
        axes = op.axes
        if axes is None or axes[-1] % rank != rank - 1:
            return _OperationOpaque(
                f"it moves the channel axis (axes={axes!r})")
        return _OperationChannelwise(zero_preserving=True)


def operation_class(function, *args):
    """The Operation class a `keras.ops` function puts in a graph."""
    x = keras.KerasTensor((None, 4, 4))
    return type(keras_compat.producing_operation(function(x, *args)))


def _register():
    ops = keras.ops
    for name in _ZERO_PRESERVING_UNARY + _OTHER_UNARY:
        function = getattr(ops, name, None) or getattr(ops.nn, name, None)
        if function is not None:
            args = (0.0, 1.0) if name == "clip" else ()
            register_rule(operation_class(function, *args),
                          UnaryRule(name in _ZERO_PRESERVING_UNARY))
    for name in _BINARY:
        register_rule(operation_class(getattr(ops, name), 2.0),
                      BinaryRule(name))
    for name in _REDUCTIONS:
        register_rule(
            operation_class(getattr(ops, name), (1,)), ReductionRule())
    register_rule(
        operation_class(lambda x: ops.concatenate([x, x], axis=-1)),
        ConcatenateOperationRule())
    register_rule(operation_class(ops.reshape, (-1, 4)), ReshapeRule())
    register_rule(operation_class(ops.transpose, (0, 2, 1)), TransposeRule())


_register()
