"""Full-integer int8 TFLite conversion, and running the result.

The converter sits behind `to_tflite` alone, so that moving from
`tf.lite.TFLiteConverter` to its LiteRT successor touches one function.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import graph as graph_lib
from tfprune import precision
from tfprune.validation import check_finite_weights, check_positive_int

TARGETS = ("mcu", "mobile")
RUNTIMES = ("litert", "tflm")
DENSE_QUANTIZATIONS = ("per_tensor", "per_channel")
# One scale per Dense kernel, as the MLPerf Tiny reference files: smaller
# files and TFLite Micro arenas (no per-unit multipliers) at the same int8
# accuracy (benchmarks/mlperf_tiny_costs.py; issue 25). tfprune/flash.py
# predicts file sizes for it.
DEFAULT_DENSE_QUANTIZATION = "per_tensor"


def to_tflite(model, representative, target="mcu", num_samples=200,
              dense_quantization=DEFAULT_DENSE_QUANTIZATION):
    """Converts `model` to a full-integer int8 TFLite flatbuffer.

    All operators are `TFLITE_BUILTINS_INT8`; input and output are int8.
    The input has a fixed batch size of 1 (what devices run, and it keeps
    operators TFLite Micro lacks out of the graph).

    Args:
        model: a Keras model with one input (e.g. from `tfprune.shrink`).
            A gated model (one that still holds `tfprune.ChannelGate`
            layers) is refused with a ValueError: it would convert at full
            width. Call `tfprune.shrink(model)` first. A model trained
            under mixed precision (`mixed_float16`, `mixed_bfloat16`) is
            converted from a float32 copy (`tfprune.precision.float32_copy`;
            `model` and the global dtype policy are left as they were).
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
        dense_quantization: `"per_tensor"` (default: one scale for each
            Dense kernel, as the MLPerf Tiny reference files have) or
            `"per_channel"` (one per output unit: 24 bytes more per
            unit in flash, and in TFLite Micro's arena an int32
            multiplier and shift per unit). Convolutions are always
            quantized per channel. Same for both targets.

    Returns:
        The `.tflite` model as `bytes`.

    Raises:
        ValueError: bad `target`, `num_samples`, `dense_quantization` or
            `representative` data, a weight holds NaN or infinite values,
            or no float32 copy of a 16-bit model can be made.

    Examples:
        >>> tflite_bytes = tfprune.to_tflite(small, representative=x_val[:200])
        >>> open("model_int8.tflite", "wb").write(tflite_bytes)
    """
    from tfprune.gates import ChannelGate

    gates, layers = [], list(getattr(model, "layers", []))
    while layers:  # nested models too
        layer = layers.pop(0)
        if isinstance(layer, ChannelGate):
            gates.append(layer.name)
        layers.extend(getattr(layer, "layers", []))
    if gates:
        raise ValueError(
            f"Model '{model.name}' still holds {len(gates)} ChannelGate "
            f"layers ({gates[:2]}{' ...' if len(gates) > 2 else ''}): "
            "converted as it is, it keeps every channel, pruned or not, "
            "at full width. Call `small = tfprune.shrink(model)` first, "
            "and convert or export `small`.")
    if target not in TARGETS:
        raise ValueError(
            f"Unknown target. Expected one of {TARGETS}. "
            f"Received: target={target!r}")
    if dense_quantization not in DENSE_QUANTIZATIONS:
        raise ValueError(
            f"Unknown dense_quantization. Expected one of "
            f"{DENSE_QUANTIZATIONS}. "
            f"Received: dense_quantization={dense_quantization!r}")
    check_positive_int("num_samples", num_samples)
    check_finite_weights(model, "tfprune.to_tflite")
    # The converter calibrates float32 graphs: a model trained under mixed
    # precision is converted from a float32 copy (`model` is unchanged).
    model = precision.float32_copy(model)
    # One int8 operator less for an input Normalization / Rescaling.
    model = fold_input_scaling(model)
    generator = data_lib.representative_dataset(representative, model,
                                                num_samples)
    spec = model.inputs[0]
    with precision.global_policy("float32"), tempfile.TemporaryDirectory(
            prefix="tfprune-export-") as saved:
        archive = keras.export.ExportArchive()
        archive.track(model)
        serve = archive.add_endpoint(
            "serve", lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([1, *spec.shape[1:]], spec.dtype)])
        _check_float32(serve, model.name)
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = generator
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        _set_dense_quantization(converter, dense_quantization)
        tflite_bytes = converter.convert()
    return strip_tensor_names(tflite_bytes) if target == "mcu" \
        else tflite_bytes


def _check_float32(serve, name):
    """Raises ValueError unless the traced `serve` function computes in
    float32 only (no float16 / bfloat16 tensor anywhere in its graph)."""
    low = precision.low_precision_ops(serve.get_concrete_function())
    if low:
        raise ValueError(
            f"Model '{name}' still computes in 16 bits with every layer's "
            f"dtype policy float32: operations {low[:3]}"
            f"{' ...' if len(low) > 3 else ''} take or make float16 / "
            "bfloat16 tensors, and the int8 converter needs a float32 "
            "graph. A layer casts to a 16-bit dtype itself; make it compute "
            "in its compute_dtype, or build the model without it.")


_SCALING_LAYERS = (keras.layers.Normalization, keras.layers.Rescaling)
_FOLDING_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D,
                  keras.layers.Conv3D, keras.layers.DepthwiseConv1D,
                  keras.layers.DepthwiseConv2D)


def _offset_and_scale(layer, channels):
    """`(offset, scale)`, vectors of `channels` values with which `layer`
    computes `(x + offset) * scale`, or None when it does not broadcast
    along the last axis alone (or would divide by zero)."""
    if channels is None:
        return None
    if isinstance(layer, keras.layers.Normalization):
        if layer.invert or layer.mean is None:
            return None
        mean = keras.ops.convert_to_numpy(layer.mean).astype(np.float64)
        variance = keras.ops.convert_to_numpy(layer.variance).astype(
            np.float64)
        offset = -mean
        scale = 1.0 / np.maximum(np.sqrt(variance), keras.config.epsilon())
    else:
        if keras.config.image_data_format() != "channels_last":
            return None
        scale = np.asarray(layer.scale, np.float64)
        offset = np.asarray(layer.offset, np.float64)
        if np.any(scale == 0):
            return None
        offset = offset / scale
    vectors = []
    for value in (offset, scale):
        if value.size not in (1, channels) or (
                value.ndim and value.shape[-1] != value.size):
            return None
        vectors.append(np.broadcast_to(value.reshape(-1), (channels,)))
    return vectors


def fold_input_scaling(model):
    """`model`, or a copy in which a scaling layer costs one int8 operator
    less.

    A `Normalization` (`(x - mean) / std`) or `Rescaling` (`x * scale +
    offset`) layer whose output only a convolution reads (the raw-pixel
    input of `tfprune.models`' image networks) converts to two int8
    operators, SUB and MUL (or MUL and ADD), and the converter folds
    neither MUL into the convolution that follows (it folds a scalar MUL
    right before one, not a per-channel one, nor one behind an ADD). The
    copy keeps the offset alone (`x - mean`, or `x + offset / scale`) and
    multiplies the convolution's kernel by the scale along its input
    channels: the same function (zero padding of the scaled input is zero
    padding of the shifted one), with one operator and two tensors less in
    the `.tflite` file, which saves about 160 bytes of TFLite Micro arena
    (the MLPerf Tiny ResNet-8 and MobileNetV1 then need less than the
    reference files do: issue 25). `to_tflite` calls
    it. A model without such a layer, or whose layers cannot be rebuilt
    from their config, is returned as it is; `model` is not changed.

    >>> folded = tfprune.convert.fold_input_scaling(small)
    """
    try:
        functional = graph_lib.as_functional(model)
        calls = graph_lib.calls(functional)
    except (graph_lib.GraphError, AttributeError, ValueError):
        return model
    times_called = {}
    for call in calls:
        times_called[id(call.layer)] = times_called.get(id(call.layer), 0) + 1
    users = graph_lib.consumers(calls)
    outputs = {id(t) for t in functional.outputs}
    fold = None
    for call in calls:
        if not isinstance(call.layer, _SCALING_LAYERS) or \
                times_called[id(call.layer)] != 1 or \
                len(call.outputs) != 1 or id(call.outputs[0]) in outputs:
            continue
        after = users.get(id(call.outputs[0]), [])
        if len(after) != 1 or times_called[id(after[0].layer)] != 1:
            continue
        conv = after[0].layer
        if not isinstance(conv, _FOLDING_CONVS) or \
                getattr(conv, "groups", 1) != 1 or \
                conv.data_format != "channels_last" or \
                len(after[0].inputs) != 1:
            continue
        vectors = _offset_and_scale(call.layer, call.outputs[0].shape[-1])
        if vectors is not None:
            fold = (call.layer, conv, *vectors)
            break
    if fold is None:
        return model
    scaling, conv, offset, scale = fold
    pairs = []

    def clone(layer):
        if layer is scaling:
            if not np.any(offset):
                new = keras.layers.Identity(name=layer.name)
            else:
                new = keras.layers.Normalization(
                    mean=(-offset).astype(np.float32),
                    variance=np.ones_like(offset, np.float32),
                    name=layer.name)
        else:
            new = layer.__class__.from_config(layer.get_config())
            pairs.append((layer, new))
        return new

    try:  # `model` computes in float32 (`to_tflite` made sure): so does this
        with precision.global_policy("float32"):
            copy = keras.models.clone_model(functional,
                                            clone_function=clone)
        for old, new in pairs:
            weights = old.get_weights()
            if old is conv:  # kernel: (..., input channels, outputs)
                weights[0] = (weights[0] * scale[:, None]).astype(
                    weights[0].dtype)
            new.set_weights(weights)
    except Exception:  # a layer that cannot be rebuilt: convert unfolded
        return model
    return copy


def _set_dense_quantization(converter, dense_quantization):
    """Per-tensor or per-channel Dense (FULLY_CONNECTED) kernels.

    The converter's only switch for it is a private attribute (TF 2.21);
    without it a per-tensor request cannot be honoured, which is an error
    rather than a silently larger file."""
    attribute = ("_experimental_disable_per_channel_quantization_"
                 "for_dense_layers")
    if not hasattr(converter, attribute):
        if dense_quantization == "per_channel":
            return
        raise ValueError(
            f"This TensorFlow ({tf.__version__}) converter cannot quantize "
            "Dense layers per tensor (it lacks the converter option "
            f"{attribute}). Pass dense_quantization='per_channel'. "
            f"Received: dense_quantization={dense_quantization!r}")
    setattr(converter, attribute, dense_quantization == "per_tensor")


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
               arena_size=None, model_name=None):
    """Runs an int8 model on float inputs one example at a time.

    Inputs are quantized with the model's input scale and zero point and
    outputs dequantized, as an application on the device would.

    Args:
        tflite_bytes: the `.tflite` model.
        inputs: an iterable of single examples (NumPy, without batch axis).
        runtime: `"litert"` (`ai_edge_litert`) or `"tflm"` (the TFLite
            Micro Python interpreter, reference kernels).
        num_threads: LiteRT threads. Default 1.
        arena_size: TFLM tensor-arena bytes. Default None: 16 MiB. Unless
            `tflm_arena_bytes` has seen the model run in as little, it is
            tried in a child process first (see `check_tflm_arena`).
        model_name: the model's name, for error messages.

    Returns:
        A float32 array of outputs, one row per example.

    Raises:
        TFLMError: `runtime="tflm"` and the model does not run in TFLite
            Micro with `arena_size` bytes.
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
        arena_size = arena_size or 16 * 1024 * 1024
        check_tflm_arena(tflite_bytes, arena_size, model_name)
        interpreter = _TFLM(tflite_bytes, arena_size)
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

    Raises:
        ValueError: `data` has no labels, or holds more or fewer labels
            than inputs (a tuple, or a batch of a dataset).

    Examples:
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
    for x, y in data_lib.iterate_examples(data, model, limit=limit,
                                          what="evaluation data"):
        xs.append(x.astype(np.float32))
        ys.append(int(np.asarray(y).reshape(-1)[0]))
    logits = run_tflite(tflite_bytes, xs, runtime, num_threads,
                        model_name=model.name)
    return float(np.mean(np.argmax(logits, axis=-1) == np.array(ys)))


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


class TFLMError(ValueError):
    """A model that does not run in TFLite Micro with the arena given.

    Raised instead of letting TFLite Micro kill the process (a failed
    allocation can crash it): every interpreter tfprune builds in this
    process (`run_tflite(runtime="tflm")`, `export(target="mcu")`,
    TFLite Micro timing in `profile_latency`) is tried in a child process
    first. A `ValueError`.

    >>> try:
    ...     tfprune.convert.check_tflm_arena(tflite_bytes, 8 * 1024)
    ... except tfprune.TFLMError as error:
    ...     print(error)  # what TFLite Micro said, and the arena to try
    """


# The probing interpreter runs in a child process: TFLite Micro does not
# always survive a failed allocation (some paths use the null pointer a
# failed tail allocation returns, and the whole process dies with a
# segmentation fault), so a trial that kills the child is a failed trial.
# The child reads one arena size per line and answers "ok" or "failed ...".
_PROBE = """
import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime

with open(sys.argv[1], "rb") as f:
    model = f.read()
for line in sys.stdin:
    try:
        interpreter = runtime.Interpreter.from_bytes(
            model, arena_size=int(line))
        details = interpreter.get_input_details(0)
        interpreter.set_input(
            np.zeros(details["shape"], details["dtype"]), 0)
        interpreter.invoke()
        answer = "ok"
    except RuntimeError as error:
        answer = "failed " + " ".join(str(error).split())
    interpreter = None
    sys.stderr.flush()
    print(answer, flush=True)
"""

# sha256 of a model -> the smallest arena seen to run it (in a child), so
# that interpreters in this process are only ever built with one that runs.
_RUNS_WITH = {}
_MAX_REMEMBERED = 512


def _digest(tflite_bytes):
    return hashlib.sha256(bytes(tflite_bytes)).hexdigest()


def _remember(digest, arena):
    if digest not in _RUNS_WITH and len(_RUNS_WITH) >= _MAX_REMEMBERED:
        _RUNS_WITH.pop(next(iter(_RUNS_WITH)))
    _RUNS_WITH[digest] = min(arena, _RUNS_WITH.get(digest, arena))


def _label(model_name):
    return f"Model '{model_name}'" if model_name else "The model"


class _ArenaProbe:
    """Tries a model in the TFLite Micro Python interpreter at chosen arena
    sizes, in a child process that a crash cannot take this process with.

    >>> with _ArenaProbe(tflite_bytes) as probe:
    ...     ok, why = probe.runs(16_384)
    """

    def __init__(self, tflite_bytes):
        self._dir = tempfile.mkdtemp(prefix="tfprune-tflm-")
        self._model = os.path.join(self._dir, "model.tflite")
        with open(self._model, "wb") as f:
            f.write(tflite_bytes)
        self._log = open(os.path.join(self._dir, "tflm.log"), "w+b")
        self._child = None
        self.crashes = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _start(self):
        path = [p for p in sys.path if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        self._child = subprocess.Popen(
            [sys.executable, "-c", _PROBE, self._model],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, env=env)

    def _log_since(self, offset):
        """TFLite Micro's log lines written since `offset`, the last few."""
        self._log.flush()
        self._log.seek(offset)
        lines = [line.strip() for line in
                 self._log.read().decode(errors="replace").splitlines()]
        lines = [line for line in lines if line]
        return " / ".join(dict.fromkeys(lines[-4:]))

    def runs(self, arena):
        """`(True, "")` when the model allocates and invokes in an
        `arena`-byte arena, else `(False, what TFLite Micro said)`."""
        if self._child is None:
            self._start()
        offset = os.fstat(self._log.fileno()).st_size
        try:
            self._child.stdin.write(f"{int(arena)}\n")
            self._child.stdin.flush()
            answer = self._child.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = ""
        if answer.startswith("ok"):
            return True, ""
        log = self._log_since(offset)
        if answer:
            why = answer.split(" ", 1)[-1].strip()
        else:  # the child died
            code = self._child.wait()
            self._child = None
            self.crashes += 1
            try:
                cause = f"signal {signal.Signals(-code).name}" \
                    if code < 0 else f"exit status {code}"
            except ValueError:
                cause = f"exit status {code}"
            why = f"the TFLite Micro interpreter crashed ({cause})"
        return False, f"{why}; TFLite Micro logged: {log}" if log else why

    def close(self):
        if self._child is not None:
            try:
                self._child.stdin.close()
                self._child.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._child.kill()
                self._child.wait()
            self._child = None
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def check_tflm_arena(tflite_bytes, arena_size, model_name=None):
    """Raises `TFLMError` unless TFLite Micro runs the model in
    `arena_size` bytes; tried in a child process unless an arena at most
    as large has already been seen to run it. Call it before building a
    TFLite Micro interpreter in this process: a too-small arena can crash
    the process instead of raising.

    >>> tfprune.convert.check_tflm_arena(tflite_bytes, 32 * 1024)
    """
    check_positive_int("arena_size", arena_size)
    check_tflite(tflite_bytes)
    digest = _digest(tflite_bytes)
    if _RUNS_WITH.get(digest, arena_size + 1) <= arena_size:
        return
    with _ArenaProbe(tflite_bytes) as probe:
        ok, why = probe.runs(arena_size)
    if not ok:
        raise TFLMError(
            f"{_label(model_name)} does not run in TFLite Micro with a "
            f"{arena_size:,}-byte tensor arena ({why}). Give a larger "
            "arena: tfprune.convert.tflm_arena_bytes(tflite_bytes) measures "
            "the smallest that runs.")
    _remember(digest, arena_size)


def tflm_arena_bytes(tflite_bytes, upper=64 * 1024 * 1024, granularity=16,
                     model_name=None):
    """The smallest tensor arena in which TFLite Micro runs the model.

    Found by bisection: the model is loaded, allocated and invoked once per
    trial in the `tflite-micro` Python interpreter, in a child process (a
    too-small arena can crash TFLite Micro; a crash counts as a failed
    trial and the next one starts a new child). That interpreter is a
    64-bit build, so pointers inside the arena are 8 bytes; on a 32-bit MCU
    the same model needs the same or slightly less. Add a margin for other
    TFLM versions and kernels (BUILD.md suggests 10%).

    Args:
        tflite_bytes: the `.tflite` model.
        upper: the largest arena tried, in bytes. Default 64 MiB.
        granularity: the result is a multiple of this. Default 16 (TFLite
            Micro's alignment).
        model_name: the model's name, for error messages.

    Returns:
        Bytes, a multiple of `granularity`, with which the model was seen
        to run (and with `granularity` bytes less, not to).

    Raises:
        TFLMError (a ValueError): the model does not run even with `upper`
            bytes (it uses operators TFLite Micro lacks, or needs more).

    Examples:
        >>> tfprune.convert.tflm_arena_bytes(tflite_bytes)
        19152
    """
    check_positive_int("upper", upper)
    check_positive_int("granularity", granularity)
    check_tflite(tflite_bytes)
    with _ArenaProbe(tflite_bytes) as probe:
        ok, why = probe.runs(upper)
        if not ok:
            raise TFLMError(
                f"{_label(model_name)} does not run in TFLite Micro even "
                f"with a {upper:,}-byte tensor arena ({why}). Check that it "
                "uses only operators TFLite Micro has "
                "(tfprune.convert.model_ops(tflite_bytes)), or pass a larger "
                "`upper` if it needs more memory.")
        low, high = 0, upper // granularity
        while high - low > 1:
            middle = (low + high) // 2
            if probe.runs(middle * granularity)[0]:
                high = middle
            else:
                low = middle
    _remember(_digest(tflite_bytes), high * granularity)
    return high * granularity
