"""Reading and editing `.tflite` flatbuffers: checks, operators, names."""


def check_tflite(tflite_bytes):
    """Raises ValueError unless `tflite_bytes` is a `.tflite` flatbuffer."""
    if not isinstance(tflite_bytes, (bytes, bytearray)):
        raise TypeError(
            "Expected the .tflite model as bytes (e.g. from "
            "tfprune.to_tflite, or open(path, 'rb').read()). Received: "
            f"{type(tflite_bytes).__name__}")
    if len(tflite_bytes) < 8 or tflite_bytes[4:8] != b"TFL3":
        raise ValueError(
            f"The {len(tflite_bytes)} bytes given are not a TFLite model (a "
            "TFLite flatbuffer carries the identifier 'TFL3' at offset 4; "
            f"these have {bytes(tflite_bytes[4:8])!r}).")


def model_ops(tflite_bytes):
    """Sorted names of the operators a `.tflite` model runs.

    Read from the flatbuffer with the `tflite` package (the TFLite schema,
    public and versioned): builtin operators by name (`"CONV_2D"`), custom
    ones by their custom code.
    """
    import tflite
    from tflite.utils import opcode2name

    check_tflite(tflite_bytes)
    model = tflite.Model.GetRootAsModel(bytearray(tflite_bytes), 0)
    names = set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            # Codes above 127 live in BuiltinCode only (schema v3a).
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == tflite.BuiltinOperator.CUSTOM:
                names.add(code.CustomCode().decode())
            else:
                names.add(opcode2name(builtin))
    return sorted(names)


def strip_tensor_names(tflite_bytes):
    """`tflite_bytes` without the names of its intermediate tensors.

    The converter names every tensor after the TensorFlow ops fused into it
    ("model_1/block1_conv1_1/convolution;model_1/block1_bn_1/..."): about
    8% of a small int8 model, unused by TFLite Micro, and their length
    depends on how TensorFlow made the names unique in this process. The
    input and output tensors and the signature keep their names.

    >>> small_file = tfprune.convert.strip_tensor_names(tflite_bytes)
    """
    # The flatbuffer object API that ships with TensorFlow; guarded by
    # tests/test_convert.py.
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(
        bytearray(tflite_bytes))
    for subgraph in model.subgraphs:
        named = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in named:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
