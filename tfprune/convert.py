"""Full-integer int8 TFLite conversion, and running the result.

The converter sits behind `to_tflite` alone, so that moving from
`tf.lite.TFLiteConverter` to its LiteRT successor touches one function.
"""

import contextlib
import os
import sys
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune.validation import check_finite_weights, check_positive_int

TARGETS = ("mcu", "mobile")
RUNTIMES = ("litert", "tflm")


def to_tflite(model, representative, target="mcu", num_samples=200):
    """Converts `model` to a full-integer int8 TFLite flatbuffer.

    All operators are `TFLITE_BUILTINS_INT8`; input and output are int8.
    The input has a fixed batch size of 1 (what devices run, and it keeps
    operators TFLite Micro lacks out of the graph).

    Args:
        model: a Keras model with one input (e.g. from `tfprune.shrink`).
        representative: calibration inputs: a NumPy array, a
            `tf.data.Dataset` of inputs or `(inputs, labels)` (batched or
            not), or a generator function yielding `[inputs]`.
        target: `"mcu"` (TFLite Micro) or `"mobile"` (LiteRT on Android).
            Both give the same int8 graph; for `"mcu"` the names of the
            intermediate tensors are dropped (`strip_tensor_names`: a few
            KB less flash, and a size that does not depend on how names
            were made unique in this process). `export` writes different
            companion files for each.
        num_samples: how many calibration examples to use. Default 200.

    Returns:
        The `.tflite` model as `bytes`.

    Raises:
        ValueError: bad `target`, `num_samples` or `representative` data,
            or a weight holds NaN or infinite values.

    Example:

    >>> tflite_bytes = tfprune.to_tflite(small, representative=x_val[:200])
    >>> open("model_int8.tflite", "wb").write(tflite_bytes)
    """
    if target not in TARGETS:
        raise ValueError(
            f"Unknown target. Expected one of {TARGETS}. "
            f"Received: target={target!r}")
    check_positive_int("num_samples", num_samples)
    check_finite_weights(model, "tfprune.to_tflite")
    generator = data_lib.representative_dataset(representative, model,
                                                num_samples)
    spec = model.inputs[0]
    with tempfile.TemporaryDirectory(prefix="tfprune-export-") as saved:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serve", lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([1, *spec.shape[1:]], spec.dtype)])
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = generator
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        tflite_bytes = converter.convert()
    return strip_tensor_names(tflite_bytes) if target == "mcu" \
        else tflite_bytes


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


def is_xnnpack_refusal(error):
    """Whether `error`, raised while LiteRT prepared a model, is its XNNPACK
    delegate refusing the model (e.g. a layer whose int8 range collapsed)."""
    return isinstance(error, RuntimeError) and "XNNPACK" in str(error)


def xnnpack_refusal(tflite_bytes):
    """Why LiteRT's XNNPACK delegate (its default CPU backend, on Android
    too) cannot prepare `tflite_bytes`, or None when it can.

    >>> if tfprune.convert.xnnpack_refusal(tflite_bytes):
    ...     print("disable XNNPACK in the app, or fix the model")
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_content=tflite_bytes).allocate_tensors()
    except RuntimeError as error:
        if not is_xnnpack_refusal(error):
            raise
        return str(error)
    return None


class _LiteRT:
    def __init__(self, tflite_bytes, num_threads):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self._interpreter = Interpreter(model_content=tflite_bytes,
                                        num_threads=num_threads)
        try:
            self._interpreter.allocate_tensors()
        except RuntimeError as error:
            if not is_xnnpack_refusal(error):
                raise
            warnings.warn(
                f"LiteRT's XNNPACK delegate cannot prepare this model "
                f"({error}); running it with LiteRT's builtin kernels. A "
                "layer whose int8 range collapsed (every output equal, e.g. "
                "a dead ReLU after pruning) does this: check the model's "
                "accuracy.", stacklevel=3)
            self._interpreter = Interpreter(
                model_content=tflite_bytes, num_threads=num_threads,
                experimental_op_resolver_type=(
                    OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
            self._interpreter.allocate_tensors()
        self.input = self._interpreter.get_input_details()[0]
        self.output = self._interpreter.get_output_details()[0]

    def __call__(self, x):
        self._interpreter.set_tensor(self.input["index"], x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self.output["index"])


class _TFLM:
    def __init__(self, tflite_bytes, arena_size):
        from tflite_micro.python.tflite_micro import runtime

        self._interpreter = runtime.Interpreter.from_bytes(
            tflite_bytes, arena_size=arena_size)
        self.input = self._interpreter.get_input_details(0)
        self.output = self._interpreter.get_output_details(0)

    def __call__(self, x):
        self._interpreter.set_input(x, 0)
        self._interpreter.invoke()
        return self._interpreter.get_output(0)


def _quantize(x, details):
    scale, zero_point = details["quantization_parameters"]["scales"][0], \
        details["quantization_parameters"]["zero_points"][0]
    info = np.iinfo(details["dtype"])
    q = np.round(np.asarray(x, dtype=np.float64) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(details["dtype"])


def _dequantize(q, details):
    params = details["quantization_parameters"]
    scale, zero_point = params["scales"][0], params["zero_points"][0]
    return (q.astype(np.float32) - zero_point) * scale


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


def run_tflite(tflite_bytes, inputs, runtime="litert", num_threads=1,
               arena_size=None):
    """Runs an int8 model on float inputs one example at a time.

    Inputs are quantized with the model's input scale and zero point and
    outputs dequantized, as an application on the device would.

    Args:
        tflite_bytes: the `.tflite` model.
        inputs: an iterable of single examples (NumPy, without batch axis).
        runtime: `"litert"` (`ai_edge_litert`) or `"tflm"` (the TFLite
            Micro Python interpreter, reference kernels).
        num_threads: LiteRT threads. Default 1.
        arena_size: TFLM tensor-arena bytes. Default None: 16 MiB.

    Returns:
        A float32 array of outputs, one row per example.
    """
    if runtime not in RUNTIMES:
        raise ValueError(
            f"Unknown runtime. Expected one of {RUNTIMES}. "
            f"Received: runtime={runtime!r}")
    check_positive_int("num_threads", num_threads)
    check_positive_int("arena_size", arena_size, allow_none=True)
    check_tflite(tflite_bytes)
    if runtime == "litert":
        interpreter = _LiteRT(tflite_bytes, num_threads)
    else:
        interpreter = _TFLM(tflite_bytes, arena_size or 16 * 1024 * 1024)
    outputs = []
    for x in inputs:
        q = _quantize(np.asarray(x)[None], interpreter.input)
        outputs.append(_dequantize(interpreter(q), interpreter.output)[0])
    return np.stack(outputs)


def evaluate_tflite(tflite_bytes, data, model, runtime="litert", limit=None,
                    num_threads=1):
    """Top-1 accuracy of an int8 model on labelled `data`.

    Args:
        tflite_bytes: the `.tflite` model.
        data: labelled examples: `(inputs, labels)` arrays or a
            `tf.data.Dataset` of `(inputs, labels)`.
        model: the Keras model it was converted from (to check `data`).
        runtime: `"litert"` or `"tflm"`.
        limit: evaluate at most this many examples.
        num_threads: LiteRT threads.

    Returns:
        Accuracy in [0, 1].

    Example:

    >>> tfprune.evaluate_tflite(tflite_bytes, (x_val, y_val), small)
    0.91...
    """
    check_positive_int("limit", limit, allow_none=True)
    _, label = data_lib.check_data(data, model, what="evaluation data")
    if label is None:
        raise ValueError(
            "evaluate_tflite needs labelled data: (inputs, labels) arrays or "
            "a dataset of (inputs, labels).")
    xs, ys = [], []
    for x, y in data_lib.iterate_examples(data, model, limit=limit):
        xs.append(x.astype(np.float32))
        ys.append(int(np.asarray(y).reshape(-1)[0]))
    logits = run_tflite(tflite_bytes, xs, runtime, num_threads)
    return float(np.mean(np.argmax(logits, axis=-1) == np.array(ys)))


@contextlib.contextmanager
def _quiet_stderr():
    """Silences writes to file descriptor 2 (C++ logging) for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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


def tflm_arena_bytes(tflite_bytes, upper=64 * 1024 * 1024, granularity=16):
    """The smallest tensor arena in which TFLite Micro runs the model.

    Found by bisection: the model is loaded, allocated and invoked once per
    trial in the `tflite-micro` Python interpreter. That interpreter is a
    64-bit build, so pointers inside the arena are 8 bytes; on a 32-bit MCU
    the same model needs the same or slightly less. Add a margin for other
    TFLM versions and kernels (BUILD.md suggests 10%).

    Raises:
        ValueError: the model does not run even with `upper` bytes.
    """
    from tflite_micro.python.tflite_micro import runtime

    check_positive_int("upper", upper)
    check_positive_int("granularity", granularity)
    check_tflite(tflite_bytes)

    def runs(arena):
        try:
            with _quiet_stderr():  # TFLM logs every failed allocation
                interpreter = runtime.Interpreter.from_bytes(
                    tflite_bytes, arena_size=arena)
                details = interpreter.get_input_details(0)
                interpreter.set_input(
                    np.zeros(details["shape"], details["dtype"]), 0)
                interpreter.invoke()
            return True
        except RuntimeError:
            return False

    if not runs(upper):
        raise ValueError(
            f"The model does not run in TFLite Micro with a {upper}-byte "
            "arena (or uses operators TFLite Micro lacks).")
    low, high = 0, upper // granularity
    while high - low > 1:
        middle = (low + high) // 2
        if runs(middle * granularity):
            high = middle
        else:
            low = middle
    return high * granularity
