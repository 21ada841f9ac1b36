"""RAM: the TFLite Micro tensor arena as a function of the kept widths.

TFLite Micro places every activation tensor (and the scratch buffers some
kernels ask for) in one arena: the *head*, planned by its greedy memory
planner from the tensors' sizes and lifetimes, and a *tail* of persistent
data (per-tensor and per-operator structs, and for each convolution,
depthwise and per-channel fully connected layer an int32 multiplier and
shift per output channel). `ArenaModel` replays that planner on the int8
graph with the tensor sizes that the kept widths give, so the arena can be
a pruning budget (`arena_bytes=`).

The graph comes from converting the model twice: once at its current
widths, and once with every prunable group at a different width, which
shows which group each tensor's channel axis belongs to. The width-
independent part of the tail is measured once in the TFLite Micro
interpreter. The rules follow TFLite Micro's `micro_allocation_info.cc`
(lifetimes), `greedy_memory_planner.cc` (placement) and the reference
kernels' `Prepare` (per-channel data).
"""

import numpy as np

from tfprune import convert
from tfprune.device import flash

ALIGNMENT = 16  # TFLite Micro aligns every arena buffer to 16 bytes
PER_CHANNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def _aligned(n, alignment=ALIGNMENT):
    return -(-int(n) // alignment) * alignment


class ArenaError(ValueError):
    """A model whose arena tfprune cannot predict."""


def _parse(tflite_bytes):
    """`(tensors, ops, inputs, outputs)` of the first subgraph."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items()
             if not k.startswith("_")}
    sizes = {tflite.TensorType.INT8: 1, tflite.TensorType.UINT8: 1,
             tflite.TensorType.INT16: 2, tflite.TensorType.INT32: 4,
             tflite.TensorType.FLOAT32: 4, tflite.TensorType.INT64: 8,
             tflite.TensorType.BOOL: 1}
    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    graph = model.Subgraphs(0)
    tensors = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        quantization = t.Quantization()
        tensors.append({
            "shape": [int(d) for d in t.ShapeAsNumpy()]
            if t.ShapeLength() else [],
            "item": sizes.get(t.Type(), 4),
            "planned": model.Buffers(t.Buffer()).DataLength() == 0
            and not t.IsVariable(),
            "scales": quantization.ScaleLength() if quantization else 0,
        })
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        ops.append({
            "name": names.get(max(code.BuiltinCode(),
                                  code.DeprecatedBuiltinCode()), "?"),
            "inputs": [int(t) for t in op.InputsAsNumpy()]
            if op.InputsLength() else [],
            "outputs": [int(t) for t in op.OutputsAsNumpy()]
            if op.OutputsLength() else [],
        })
    return (tensors, ops, [int(t) for t in graph.InputsAsNumpy()],
            [int(t) for t in graph.OutputsAsNumpy()])


def _lifetimes(tensors, ops, inputs, outputs):
    """First and last step of every tensor: graph inputs at step 0, op i at
    step i + 1 (its inputs and outputs overlap), graph outputs to the end."""
    first, last = {}, {}
    for t in inputs:
        first.setdefault(t, 0)
        last[t] = 0
    for step, op in enumerate(ops, start=1):
        for t in op["outputs"]:
            first.setdefault(t, step)
        for t in op["inputs"] + op["outputs"]:
            if t >= 0:
                last[t] = step
    for t in outputs:
        first.setdefault(t, len(ops))
        last[t] = len(ops)
    return first, last


def plan_head(buffers):
    """The head size TFLite Micro's greedy planner reaches for `buffers`,
    a list of `(bytes, first step, last step)` in the planner's order."""
    if not buffers:
        return 0
    # Added last first, then a stable sort by size, largest first.
    order = sorted(reversed(range(len(buffers))),
                   key=lambda i: -buffers[i][0])
    placed = []  # (offset, buffer index), by offset
    for i in order:
        size, first, last = buffers[i]
        offset = 0
        for other_offset, j in placed:
            other_size, other_first, other_last = buffers[j]
            if other_first > last or first > other_last:
                continue  # not alive at the same time
            if other_offset - offset >= size:
                break  # fits in the gap before this one
            offset = max(offset, other_offset + other_size)
        # Kept in offset order, as the planner's linked list is.
        if placed and placed[0][0] > offset:
            position = 0
        else:
            position = next((p for p in range(1, len(placed))
                             if placed[p][0] > offset), len(placed))
        placed.insert(position, (offset, i))
    return max(offset + buffers[j][0] for offset, j in placed)


def soft_peak(buffers):
    """A smooth stand-in for `plan_head(buffers)`: the log-sum-exp over the
    steps of the bytes alive at each step, with a temperature of 2% of the
    largest; steps near the peak count, tied steps equally."""
    live = np.zeros(1 + max(last for _, _, last in buffers))
    for size, first, last in buffers:
        live[first:last + 1] += size
    peak = live.max()
    temperature = max(0.02 * peak, 1.0)
    return peak + temperature * np.log(
        np.exp((live - peak) / temperature).sum())


def _scratch(tensors, op):
    """Bytes of the scratch buffers a reference kernel requests."""
    if op["name"] in ("MEAN", "SUM"):
        x, axes, out = (tensors[op["inputs"][0]], tensors[op["inputs"][1]],
                        tensors[op["outputs"][0]])
        return [4 * int(np.prod(out["shape"])), 4 * len(x["shape"]),
                4 * int(np.prod(axes["shape"]))]
    if op["name"] in ("REDUCE_MAX", "REDUCE_MIN"):
        x, axes = tensors[op["inputs"][0]], tensors[op["inputs"][1]]
        return [4 * len(x["shape"]), 4 * int(np.prod(axes["shape"]))]
    return []


class ArenaModel:
    """Predicts the TFLite Micro arena bytes of a gated model's int8 export
    at any group widths: `model(widths)`, like a cost polynomial.

    Args:
        graph: the `ChannelGraph` of a gated model.
    """

    def __init__(self, graph):
        sizes = [group.size for group in graph.groups]
        self.num_groups = len(sizes)
        full = flash.converted_at_widths(graph, sizes)
        probe = flash.distinct_widths(sizes)
        other = flash.converted_at_widths(graph, probe)
        tensors, ops, inputs, outputs = _parse(full)
        probed = _same_tensors(_parse(full), _parse(other))
        self._channels = [_channel_source(t, probed[i], sizes, probe)
                          if t["planned"] and i in probed else None
                          for i, t in enumerate(tensors)]
        self._tensors = tensors
        first, last = _lifetimes(tensors, ops, inputs, outputs)
        self._planned = [(i, first[i], last[i])
                         for i, t in enumerate(tensors)
                         if t["planned"] and i in first]
        self._scratch_ops = [(step, op) for step, op in
                             enumerate(ops, start=1) if op["name"] in
                             ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")]
        self._per_channel = [
            op["outputs"][0] for op in ops if op["name"] in PER_CHANNEL_OPS
            and (op["name"] != "FULLY_CONNECTED"
                 or tensors[op["inputs"][1]]["scales"] > 1)]
        measured = convert.tflm_arena_bytes(full,
                                            model_name=graph.model.name)
        self.tail_fixed = measured - plan_head(self._buffers(sizes)) - \
            self._per_channel_bytes(sizes)

    def _shape(self, index, widths):
        shape = list(self._tensors[index]["shape"])
        source = self._channels[index]
        if source is not None and shape:
            group, multiplier = source
            shape[-1] = multiplier * widths[group]
        return shape

    def _buffers(self, widths):
        """`(bytes, first step, last step)` of every arena buffer."""
        buffers = []
        for index, first, last in self._planned:
            elements = int(np.prod(self._shape(index, widths)))
            buffers.append((_aligned(elements * self._tensors[index]["item"]),
                            first, last))
        if self._scratch_ops:  # tensor shapes at these widths, once
            shaped = [dict(t, shape=self._shape(i, widths))
                      for i, t in enumerate(self._tensors)]
            for step, op in self._scratch_ops:
                buffers += [(_aligned(b), step, step)
                            for b in _scratch(shaped, op)]
        return buffers

    def _cost(self, widths, buffers):
        """Arena bytes at `widths` (integers), whose buffers are given."""
        return float(plan_head(buffers) + self.tail_fixed +
                     self._per_channel_bytes(widths))

    def _per_channel_bytes(self, widths):
        return sum(2 * _aligned(4 * self._shape(t, widths)[-1])
                   for t in self._per_channel)

    def __call__(self, widths):
        widths = [int(round(w)) for w in widths]
        return self._cost(widths, self._buffers(widths))

    def decrease(self, widths, steps):
        """Bytes saved, per group, by removing `steps[g]` channels of group
        g alone (the others keep `widths`).

        The planner's head is not monotone in the widths: when several steps
        tie at the peak, narrowing one group alone saves nothing, and a
        narrower tensor can change the planner's placement order and cost
        more. For such a group the saving on `soft_peak` is returned
        instead, so that the solver still sees which channels lead towards
        a smaller arena (it measures the real cost after every move).
        """
        widths = [int(round(w)) for w in widths]
        buffers = self._buffers(widths)
        base, soft_base = self._cost(widths, buffers), None
        saved = np.zeros(self.num_groups)
        for g in range(self.num_groups):
            if steps[g] <= 0:
                continue
            trial = list(widths)
            trial[g] = int(round(trial[g] - steps[g]))
            trial_buffers = self._buffers(trial)
            saved[g] = base - self._cost(trial, trial_buffers)
            if saved[g] <= 0:
                if soft_base is None:
                    soft_base = soft_peak(buffers)
                soft = soft_base - soft_peak(trial_buffers)
                # Under a byte: no step near the peak holds the group;
                # taking it would prune channels that cannot lower the
                # arena (and many at once, each saving next to nothing).
                saved[g] = soft if soft >= 1.0 else 0.0
        return saved


def _same_tensors(first, second):
    """`{tensor index in first: the same tensor in second}`, matched through
    the operators (same order, same input and output positions); the
    converter may number tensors differently."""
    tensors, ops, inputs, outputs = first
    other_tensors, other_ops, other_inputs, other_outputs = second
    if [op["name"] for op in ops] != [op["name"] for op in other_ops]:
        raise ArenaError(
            "The int8 graph changes with the widths; tfprune cannot predict "
            "its arena.")
    pairs = list(zip(inputs, other_inputs)) + list(zip(outputs,
                                                       other_outputs))
    for op, other in zip(ops, other_ops):
        pairs += list(zip(op["inputs"] + op["outputs"],
                          other["inputs"] + other["outputs"]))
    return {a: other_tensors[b] for a, b in pairs if a >= 0 and b >= 0}


def _channel_source(tensor, probed, sizes, probe):
    """`(group, multiplier)` whose width sets this tensor's last axis, or
    None when it does not change with the widths."""
    if not tensor["shape"] or tensor["shape"] == probed["shape"]:
        return None
    full, small = tensor["shape"][-1], probed["shape"][-1]
    matches = [(g, full // size) for g, size in enumerate(sizes)
               if full % size == 0 and small == full // size * probe[g]]
    if len(tensor["shape"]) > 2:  # channels repeat only after a Flatten
        matches = [m for m in matches if m[1] == 1]
    elif len(matches) > 1:  # a pooled (batch, C) before a flattened one
        matches = [m for m in matches if m[1] == 1] or matches
    if len(matches) != 1:
        raise ArenaError(
            f"A tensor of shape {tensor['shape']} mixes the channels of "
            "several groups (a concatenation?); arena budgets do not support "
            "it yet.")
    return matches[0]
