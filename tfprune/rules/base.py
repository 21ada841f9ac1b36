"""The rule registry: how a layer or operation type treats channels.

Every call in a model is read through a `LayerRule` of one *kind*:

- `PRODUCER` layers (`Conv*`, `Dense`) make new channels from all input
  channels; their output channels can be pruned and their input channels
  are sliced when an earlier layer was pruned.
- `CHANNELWISE` layers (`BatchNormalization`, activations, pooling, padding,
  `Dropout`, ...) compute channel `c` of the output from channel `c` of the
  input only, so pruning passes through them.
- `EXPAND` (`DepthwiseConv2D` with `depth_multiplier=m > 1`) turns channel
  `c` into channels `c*m ... c*m + m-1`.
- `FLATTEN` turns `(..., C)` into `(S * C)` features, keeping channel order.
- `MERGE` (`Add`, `Subtract`, `Multiply`, `Maximum`, `Minimum`, `Average`)
  combines inputs channel by channel: their channels are pruned together.
- `CONCAT` (`Concatenate` on the channel axis) puts inputs side by side.
- `GATE` is tfprune's own `ChannelGate`.
- `OPAQUE` layers are not understood: they may only see unpruned channels.

`layers.py` holds the rules of Keras layers, `operations.py` those of
operation nodes (`x + 3.0`, `ops.relu(x)`). A new layer type is one new
entry: `register_rule(MyLayer, MyRule())`.
"""

import math

import keras
import numpy as np

from tfprune import polynomial

PRODUCER = "producer"
CHANNELWISE = "channelwise"
EXPAND = "expand"
FLATTEN = "flatten"
MERGE = "merge"
CONCAT = "concat"
GATE = "gate"
OPAQUE = "opaque"


class LayerRule:
    """Base rule: an opaque layer whose channels tfprune does not follow."""

    kind = OPAQUE

    def applies(self, layer, in_shape):
        """Whether the rule's kind holds for this instance (else opaque)."""
        return True

    def kind_of(self, layer, in_shape):
        """The kind of this layer instance: `self.kind`, or `OPAQUE`."""
        if self.kind != OPAQUE and not self.applies(layer, in_shape):
            return OPAQUE
        return self.kind

    def why_not(self, layer):
        """Why pruned channels may not enter this layer (for error messages)."""
        return (
            f"tfprune does not know how layer type "
            f"{type(layer).__name__} uses its input channels"
        )

    def zero_preserving(self, layer):
        """Whether an all-zero channel stays all-zero through the layer."""
        return False

    def keeps_constants(self, layer):
        """Whether a channel holding one value everywhere (the same for every
        input) still does after the layer. Zero padding and convolutions
        with padding break this at the borders."""
        return False

    def params(self, layer, c_in, c_out, in_shape):
        """Parameter count as polynomial terms of the input/output widths."""
        if not isinstance(layer, keras.layers.Layer):
            return {}  # an operation node (`x + 1`, `ops.relu`) has no weights
        return polynomial.as_terms({polynomial.CONSTANT: layer.count_params()})

    def macs(self, layer, c_in, c_out, in_shape, output_shape):
        """Multiply-accumulates of one call (batch 1) as polynomial terms."""
        return {}

    def call_operation(self, op, args, kwargs, out_kept):
        """Calls operation node `op` in the shrunk model (`out_kept`: the
        output channels kept). Operations hold no weights: most are reused
        as they are; one that stores a shape (a reshape) makes a new one."""
        return op(*args, **kwargs)

    def rebuild(self, layer, in_kept, out_kept, in_shape):
        """A config and weights for the layer with only the kept channels.

        `in_kept` / `out_kept` are index arrays over the input / output
        channel axis. Returns `(config, weights)`.
        """
        return layer.get_config(), layer.get_weights()


class OpaqueRule(LayerRule):
    """A known layer whose channels cannot be pruned, for a stated reason.

    Groups that reach it are left unpruned (with `reason` in the warning)
    instead of stopping `gate` as an unknown layer does.
    """

    def __init__(self, reason):
        self.reason = reason

    def why_not(self, layer):
        return self.reason


_RULES = {}
# Layers that live in private Keras modules (e.g. `keras.applications`
# helpers), matched by "module.ClassName" instead of being imported.
_RULES_BY_NAME = {}


def register_rule(layer_class, rule):
    """Registers how `layer_class` (and its subclasses) treats channels.

    Args:
        layer_class: a subclass of `keras.layers.Layer` (or of
            `keras.Operation`), or the full name of one as a string,
            `"module.ClassName"`, for a class in a private module that is
            better matched than imported.
        rule: a `LayerRule`.

    Examples:
        >>> tfprune.register_rule(MyActivation,
        ...                       tfprune.ChannelwiseRule(zero_preserving=True))
    """
    if not isinstance(rule, LayerRule):
        raise TypeError(
            f"`rule` must be a LayerRule instance. Received: rule={rule!r}")
    if isinstance(layer_class, str) and "." in layer_class:
        _RULES_BY_NAME[layer_class] = rule
        return
    if not (isinstance(layer_class, type)
            and issubclass(layer_class, keras.Operation)):
        raise TypeError(
            "`layer_class` must be a subclass of keras.layers.Layer (or of "
            "keras.Operation), or its full name 'module.ClassName'. "
            f"Received: layer_class={layer_class!r}"
        )
    _RULES[layer_class] = rule


def rule_for(layer):
    """The registered rule for `layer`'s type (nearest registered base)."""
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in _RULES_BY_NAME:
            return _RULES_BY_NAME[name]
    return _OPAQUE


def is_known(layer):
    """Whether a rule is registered for `layer`'s type."""
    return rule_for(layer) is not _OPAQUE


_OPAQUE = LayerRule()


def expand_kept(kept, multiplier):
    """Indices kept when channel c becomes channels c*m ... c*m + m - 1."""
    kept = np.asarray(kept)
    return (kept[:, None] * multiplier + np.arange(multiplier)).reshape(-1)


def flatten_kept(kept, input_shape):
    """Indices kept after `Flatten` of `(..., C)` when `kept` of C are kept."""
    channels = input_shape[-1]
    positions = math.prod(input_shape[1:-1])
    base = np.arange(positions)[:, None] * channels
    return (base + np.asarray(kept)[None, :]).reshape(-1)
