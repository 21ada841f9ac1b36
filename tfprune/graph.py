"""Reading a functional Keras model: layer calls, and which channels are prunable.

`ChannelGraph(model)` walks the model in topological order and gives every
tensor a list of channel *segments*: runs of channels that belong to one
prunable group (the channels behind one `ChannelGate`) or to no group.
From the segments, `cost.py` writes parameters and MACs as functions of the
group widths and `surgery.py` knows which weight slices to keep.

This module (and `rules.operation_class`, which reads one tensor's
`_keras_history`) are the only places that touch Keras's functional-graph
internals; tests/test_graph.py checks that they still exist.
"""

import dataclasses
import typing

import keras

from tfprune import keras_compat, rules
from tfprune.gates import ChannelGate


class GraphError(ValueError):
    """A model whose channels tfprune cannot prune safely."""


@dataclasses.dataclass
class Call:
    """One call of a layer inside a functional model."""

    layer: keras.layers.Layer
    node: object
    inputs: list
    outputs: list
    first_call: bool  # False for the second call of a shared layer

    @property
    def rule(self):
        rule = rules.rule_for(self.layer)
        if isinstance(rule, rules.OperationRule):  # depends on arguments
            args, kwargs = self.node.arguments.args, self.node.arguments.kwargs
            leaves = [a for a in keras.tree.flatten((args, kwargs))
                      if a is not None]
            return rule.bind(self.layer, leaves)
        return rule

    @property
    def is_operation(self):
        """An operation node (`x + 1`, `ops.relu(x)`), not a layer."""
        return not isinstance(self.layer, keras.layers.Layer)

    @property
    def kind(self):
        in_shape = self.inputs[0].shape if self.inputs else None
        return self.rule.kind_of(self.layer, in_shape)


@dataclasses.dataclass
class Segment:
    """`size` consecutive channels; `group` is None when not prunable."""

    group: object
    size: int
    multiplier: int = 1  # > 1 after Flatten: the channels repeat per position
    zeroed: bool = False  # masked channels are exactly zero here
    # masked channels hold one value each, at every position and for every
    # input (in inference): a later Conv/Dense can fold them into its bias
    constant: bool = False


class Problem(typing.NamedTuple):
    """Channels of `group` reach `layer` (None: a model output) wrongly.

    `tensor`, when set, is the input of `layer` where one more call of the
    group's gate would make the channels exact zeros again.
    """

    group: int
    layer: object
    reason: str
    tensor: object = None


@dataclasses.dataclass
class Group:
    """Channels pruned together: one `ChannelGate` and the layers feeding it."""

    index: int
    gate: ChannelGate
    producers: list

    @property
    def size(self):
        return self.gate.channels

    def describe(self):
        return " + ".join(p.name for p in self.producers) + (
            f" => {self.gate.name} ({self.size} channels)")


def as_functional(model):
    """`model` as a functional `keras.Model` (Sequential models are wrapped)."""
    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError) as error:
            raise GraphError(
                f"Sequential model '{model.name}' has no defined input; start "
                "it with keras.Input(shape) so that tfprune can read its "
                "layers."
            ) from error
        if len(inputs) == 1 and len(outputs) == 1:
            inputs, outputs = inputs[0], outputs[0]
        return keras.Model(inputs, outputs, name=model.name)
    if not keras_compat.is_functional(model):
        raise GraphError(
            f"tfprune needs a functional or Sequential keras.Model; received "
            f"{type(model).__name__} '{getattr(model, 'name', model)}'. A "
            "subclassed model hides its graph inside `call`: rebuild it with "
            "the functional API (keras.Input(...) then layers) or "
            "keras.Sequential."
        )
    return model


def calls(model):
    """The layer calls of a functional model, in topological order."""
    result, seen = [], set()
    by_depth = keras_compat.nodes_by_depth(model)
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            layer = node.operation
            result.append(Call(
                layer=layer,
                node=node,
                inputs=list(node.input_tensors),
                outputs=list(node.outputs),
                first_call=id(layer) not in seen,
            ))
            seen.add(id(layer))
    return result


def consumers(all_calls):
    """`{id(tensor): [Call, ...]}`: the calls that take each tensor as input."""
    users = {}
    for call in all_calls:
        for t in call.inputs:
            users.setdefault(id(t), []).append(call)
    return users


def replay(model, call_fn, name=None):
    """Builds a new functional model by calling `call_fn` for every call.

    `call_fn(call, args, kwargs)` receives the original `Call` and the call
    arguments with the original tensors replaced by the new ones, and
    returns the new output tensor(s).
    """
    new_inputs = [
        keras.Input(batch_shape=x.shape, dtype=x.dtype,
                    name=keras_compat.producing_operation(x).name)
        for x in model.inputs
    ]
    new_tensors = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    for call in calls(model):
        args, kwargs = call.node.arguments.fill_in(new_tensors)
        outputs = keras.tree.flatten(call_fn(call, args, kwargs))
        for old, new in zip(call.outputs, outputs):
            new_tensors[id(old)] = new
    outputs = [new_tensors[id(x)] for x in model.outputs]
    return keras.Model(
        keras.tree.pack_sequence_as(keras_compat.input_structure(model),
                                    new_inputs),
        keras.tree.pack_sequence_as(keras_compat.output_structure(model),
                                    outputs),
        name=name or model.name)


def is_functional(layer):
    return keras_compat.is_functional(layer)


def inline_copy(model, after=None, name=None):
    """A flat copy of a functional model: nested functional models inlined.

    Every layer is re-created from its config with its weights copied, so
    the copy shares nothing with `model`, and each of its layers is called
    in the copy alone: `copy.get_layer(name).input` and `.output` are the
    copy's tensors (a layer called in two models answers for the first).
    Layer names are kept; a name that repeats (an inner model's layer named
    like an outer one) gets its model's name as a prefix.

    Args:
        model: a functional `keras.Model`.
        after: optional `after(call, outputs)`, called with each `Call` of
            `model` (of its nested models' layers, when inlined) and the
            copy's output tensor(s) for it; returns the tensor(s) the rest
            of the copy uses instead, e.g. with one more layer applied.
        name: name of the copy. Default: `model`'s name.

    >>> flat = tfprune.graph.inline_copy(model_with_a_backbone)
    """
    clones, used = {}, set()

    def clone(layer, prefix):
        if id(layer) not in clones:
            config = layer.get_config()
            name = config["name"]
            if name in used:
                name = f"{prefix}_{name}" if prefix else name
                base, n = name, 1
                while name in used:
                    name, n = f"{base}_{n}", n + 1
            config["name"] = name
            used.add(name)
            clones[id(layer)] = (layer, layer.__class__.from_config(config))
        return clones[id(layer)][1]

    def run(inner, args, prefix):
        flat = keras.tree.flatten(args)
        tensors = {id(x): y for x, y in zip(inner.inputs, flat)}
        for call in calls(inner):
            call_args, call_kwargs = call.node.arguments.fill_in(tensors)
            outputs = call_fn(call, call_args, call_kwargs, inner.name)
            for old, new in zip(call.outputs, keras.tree.flatten(outputs)):
                tensors[id(old)] = new
        outputs = [tensors[id(x)] for x in inner.outputs]
        return keras.tree.pack_sequence_as(
            keras_compat.output_structure(inner), outputs)

    def call_fn(call, args, kwargs, prefix=None):
        if is_functional(call.layer):
            extra = sorted(k for k, v in kwargs.items() if v is not None)
            if extra:
                raise GraphError(
                    f"Nested model '{call.layer.name}' is called with extra "
                    f"arguments {extra}; tfprune can only inline "
                    "nested models called on their inputs alone.")
            return run(call.layer, args, call.layer.name)
        if call.is_operation:  # no weights: the operation is reused
            outputs = call.layer(*args, **kwargs)
        else:
            outputs = clone(call.layer, prefix)(*args, **kwargs)
        return outputs if after is None else after(call, outputs)

    copy = replay(model, call_fn, name=name)
    for original, new in clones.values():
        if original.weights:
            new.set_weights(original.get_weights())
    return copy


class ChannelGraph:
    """Prunable channel groups of a (gated) functional model.

    Attributes:
        model: the functional model.
        calls: its layer calls in topological order.
        groups: one `Group` per `ChannelGate` layer.
        segments: `{id(tensor): [Segment, ...]}` for every tensor.
        problems: a `Problem` for each place where a group's channels
            reach something that cannot take pruned channels.
        folds: the producer calls whose pruned input channels are not zero
            but constant (e.g. after a BatchNormalization that follows a
            `Concatenate`): `shrink` folds what they add into the producer's
            bias, or into the moving mean of the BatchNormalization right
            after it when the producer has no bias.
        absorbing: `{id(producer node): BatchNormalization call}` for those.
        gains_bias: node ids of folding producers that get a new bias.
    """

    def __init__(self, model):
        self.model = as_functional(model)
        self.calls = calls(self.model)
        self.groups = []
        self.problems = []
        self.folds = []
        self.absorbing = {}
        self.gains_bias = set()
        self._producer_group = {}
        self._find_groups()
        self.segments = {}
        self._propagate()
        self._plan_folds()

    def _find_groups(self):
        gate_group = {}
        producer_of = {
            id(t): call for call in self.calls for t in call.outputs}
        orphans = []  # gate calls that follow no producer directly
        for call in self.calls:
            if call.kind != rules.GATE:
                continue
            gate = call.layer
            if id(gate) not in gate_group:
                gate_group[id(gate)] = Group(len(self.groups), gate, [])
                self.groups.append(gate_group[id(gate)])
            group = gate_group[id(gate)]
            source = producer_of.get(id(call.inputs[0]))
            while source is not None and source.kind == rules.CHANNELWISE \
                    and len(source.inputs) == 1:
                source = producer_of.get(id(source.inputs[0]))
            if source is not None and source.kind == rules.PRODUCER:
                self._producer_group[id(source.node)] = group.index
                group.producers.append(source.layer)
            else:
                orphans.append((group, source))
        for group, source in orphans:
            # A second call of a gate (e.g. after a BatchNormalization that
            # follows a residual Add) needs no producer of its own.
            if not group.producers:
                found = "the model input" if source is None else (
                    f"layer '{source.layer.name}' "
                    f"({type(source.layer).__name__})")
                raise GraphError(
                    f"ChannelGate '{group.gate.name}' must follow a Conv or "
                    f"Dense layer (through channel-wise layers only); it "
                    f"follows {found}. Build gated models with "
                    "tfprune.gate()."
                )

    def _problem(self, segments, layer, reason, tensor=None):
        for s in segments:
            if s.group is not None:
                self.problems.append(Problem(s.group, layer, reason, tensor))

    def _propagate(self):
        for x in self.model.inputs:
            self.segments[id(x)] = [Segment(None, x.shape[-1])]
        for call in self.calls:
            ins = [self.segments[id(x)] for x in call.inputs]
            first = ins[0] if ins else []
            kind = call.kind
            if kind == rules.PRODUCER:
                # A gate right before this layer would fix a lone segment.
                fixable = call.inputs[0] if len(first) == 1 and \
                    first[0].multiplier == 1 else None
                unzeroed = [s for s in first
                            if s.group is not None and not s.zeroed]
                if unzeroed and fixable is None and call.first_call and \
                        self._calls_of(call.layer) == 1 and all(
                        s.constant for s in unzeroed) and \
                        call.rule.folds_constants(call.layer):
                    self.folds.append(call)
                    unzeroed = []
                for s in unzeroed:
                    self._problem([s], call.layer, (
                        "its pruned input channels are not zero here: a "
                        "layer between the gate and this one changes zeros "
                        "(e.g. BatchNormalization or sigmoid), and the "
                        "values it makes cannot be folded into this layer's "
                        "bias (only a Dense or a 1x1 or 'valid' convolution, "
                        "called once, can take constant channels)"),
                        tensor=fixable)
                group = self._producer_group.get(id(call.node))
                outs = [[Segment(group, call.outputs[0].shape[-1])]]
            elif kind == rules.GATE:
                outs = [[dataclasses.replace(s, zeroed=True, constant=True)
                         for s in first]]
            elif kind in (rules.CHANNELWISE, rules.EXPAND):
                factor = call.rule.expansion(call.layer) \
                    if kind == rules.EXPAND else 1
                outs = [[self._through(call, s, factor) for s in first]]
            elif kind == rules.MERGE:
                outs = [self._merge(call, ins)]
            elif kind == rules.CONCAT:
                outs = [[s for segments in ins for s in segments]]
            elif kind == rules.FLATTEN:  # constants stay constants
                positions = 1
                for d in call.inputs[0].shape[1:-1]:
                    positions *= d
                outs = [[dataclasses.replace(
                    s, multiplier=s.multiplier * positions) for s in first]]
            else:
                for segments in ins:
                    self._problem(segments, call.layer,
                                  call.rule.why_not(call.layer))
                outs = [
                    [Segment(None, t.shape[-1] if t.shape else 1)]
                    for t in call.outputs]
            for t, segments in zip(call.outputs, outs):
                self.segments[id(t)] = segments
        for t in self.model.outputs:
            self._problem(self.segments[id(t)], None,
                          "its channels are a model output")

    def _calls_of(self, layer):
        return sum(c.layer is layer for c in self.calls)

    def _plan_folds(self):
        users = consumers(self.calls)
        for call in self.folds:
            if call.layer.use_bias:
                continue
            after = users.get(id(call.outputs[0]), [])
            if len(after) == 1 and isinstance(
                    after[0].layer, keras.layers.BatchNormalization) and \
                    after[0].kind == rules.CHANNELWISE and \
                    self._calls_of(after[0].layer) == 1:
                self.absorbing[id(call.node)] = after[0]
            else:
                self.gains_bias.add(id(call.node))

    def _merge(self, call, ins):
        """Segments after an element-wise merge (broadcast inputs ignored)."""
        channels = call.outputs[0].shape[-1]
        shared = [segs for segs, t in zip(ins, call.inputs)
                  if t.shape[-1] == channels]
        layout = [(s.group, s.size, s.multiplier) for s in shared[0]]
        if any([(s.group, s.size, s.multiplier) for s in segs] != layout
               for segs in shared[1:]):
            for segments in shared:
                self._problem(segments, call.layer, (
                    "its inputs' channels are not pruned together (one input "
                    "comes from a model input or a layer whose channels are "
                    "kept)"))
            return [Segment(None, channels)]
        combine = all if call.rule.zero_if == "all" else any
        broadcast = len(shared) < len(call.inputs)  # may vary with the input
        merged = []
        for i, s in enumerate(shared[0]):
            zeroed = combine(segs[i].zeroed for segs in shared)
            constant = zeroed or (not broadcast and all(
                segs[i].constant for segs in shared))
            merged.append(dataclasses.replace(s, zeroed=zeroed,
                                              constant=constant))
        return merged

    @staticmethod
    def _through(call, segment, factor):
        """`segment` after a channel-wise (or expanding) layer.

        A zero channel comes out as the layer's value at zero: zero again if
        the layer preserves zeros, else one constant (a bias, a shift).
        """
        rule, layer = call.rule, call.layer
        return dataclasses.replace(
            segment, multiplier=segment.multiplier * factor,
            zeroed=segment.zeroed and rule.zero_preserving(layer),
            constant=segment.constant and (
                segment.zeroed or rule.keeps_constants(layer)))

    def input_width(self, call):
        """The call's input channels as `(group, count, multiplier)` triples."""
        return _width(self.segments[id(call.inputs[0])])

    def output_width(self, call):
        return _width(self.segments[id(call.outputs[0])])

    def check(self):
        """Raises `GraphError` if any group's channels cannot be pruned."""
        if self.problems:
            group, layer, reason, _ = self.problems[0]
            where = "a model output" if layer is None else (
                f"layer '{layer.name}' ({type(layer).__name__})")
            raise GraphError(
                f"Channels of group '{self.groups[group].describe()}' reach "
                f"{where}, but {reason}."
            )


def _width(segments):
    """Segments as `(group, count, multiplier)` triples."""
    return [(s.group, s.size, s.multiplier) for s in segments]
