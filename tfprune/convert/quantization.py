"""Finding int8 tensors whose quantization degenerated.

A tensor whose calibrated range collapsed (every representative input gave
it the same, near-zero values: an untrained or dead layer) gets a scale so
small that the requantization multipliers of the operators around it
underflow; TFLite Micro then aborts instead of reporting an error, and
every output of the model is the same. `to_tflite` warns, `export` for a
microcontroller refuses the tensors TFLite Micro aborts on, and a TFLite
Micro crash names them.

>>> for tensor in tfprune.convert.degenerate_tensors(tflite_bytes):
...     print(tensor.describe())
"""

import dataclasses

# An int8 activation scale below this spans less than +-1.3e-6: the layer
# carries nothing. TFLite Micro's int8 SOFTMAX aborts on an input scale
# below 2**-26 (1.5e-8); a randomly initialized MobileNet has activation
# scales near 1e-6 that run, so the line is drawn at 1e-8.
MIN_SCALE = 1e-8
# Operators whose int8 TFLite Micro kernels abort on such an input scale.
ABORTING_CONSUMERS = ("SOFTMAX", "LOG_SOFTMAX")


@dataclasses.dataclass(frozen=True)
class DegenerateTensor:
    """An int8 activation tensor with a degenerate scale.

    Attributes:
        index: the tensor's index in the main subgraph.
        name: its name in the file ("" once names were stripped).
        scale: its smallest quantization scale.
        producer: the operator writing it (e.g. "FULLY_CONNECTED"), or
            "the model input".
        consumers: the operators reading it.
    """

    index: int
    name: str
    scale: float
    producer: str
    consumers: tuple

    @property
    def aborts_tflm(self):
        """Whether TFLite Micro aborts on it (an int8 SOFTMAX reads it)."""
        return any(op in ABORTING_CONSUMERS for op in self.consumers)

    def describe(self):
        label = f"'{self.name}'" if self.name else f"#{self.index}"
        readers = ", ".join(self.consumers) or "the model output"
        return (f"tensor {label} (output of {self.producer}, read by "
                f"{readers}) has int8 scale {self.scale:.3g}")


def _op_names(model, subgraph):
    from tflite.utils import opcode2name

    names = []
    for o in range(subgraph.OperatorsLength()):
        code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        names.append(opcode2name(builtin))
    return names


def degenerate_tensors(tflite_bytes, min_scale=MIN_SCALE):
    """The int8 activation tensors of the main subgraph whose scale is
    below `min_scale`, in graph order (a list of `DegenerateTensor`)."""
    import tflite

    model = tflite.Model.GetRootAsModel(bytearray(tflite_bytes), 0)
    subgraph = model.Subgraphs(0)
    names = _op_names(model, subgraph)
    producer, consumers = {}, {}
    for o in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(o)
        for i in range(op.OutputsLength()):
            producer[op.Outputs(i)] = names[o]
        for i in range(op.InputsLength()):
            consumers.setdefault(op.Inputs(i), []).append(names[o])
    found = []
    for index in sorted(producer) + [subgraph.Inputs(i) for i in
                                     range(subgraph.InputsLength())]:
        tensor = subgraph.Tensors(index)
        quantization = tensor.Quantization()
        if tensor.Type() != tflite.TensorType.INT8 or quantization is None \
                or quantization.ScaleLength() == 0:
            continue
        scale = float(min(quantization.ScaleAsNumpy()))
        if scale < min_scale:
            found.append(DegenerateTensor(
                index, (tensor.Name() or b"").decode(errors="replace"),
                scale, producer.get(index, "the model input"),
                tuple(dict.fromkeys(consumers.get(index, ())))))
    return found


def degenerate_message(tensors, limit=3):
    """One sentence naming up to `limit` degenerate tensors and the cause."""
    listed = "; ".join(t.describe() for t in tensors[:limit])
    more = f" (and {len(tensors) - limit} more)" if len(tensors) > limit \
        else ""
    return (
        f"{listed}{more}. A scale below {MIN_SCALE:g} means the layer gave "
        "(nearly) the same values for every representative input: it is "
        "untrained, dead after pruning, or the representative data is not "
        "what the model sees. Train the model (or prune it less), check "
        "the representative data, and convert again.")
