"""Running int8 `.tflite` models: LiteRT and the TFLite Micro Python
interpreter, on float inputs quantized as a device would."""

import warnings

import numpy as np

from tfprune import data as data_lib
from tfprune.convert.flatbuffer import check_tflite
from tfprune.convert.tflm_arena import check_tflm_arena
from tfprune.validation import check_positive_int

RUNTIMES = ("litert", "tflm")


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


def quantize_inputs(tflite_bytes, inputs):
    """Float `inputs` (a batch) as the int8 model takes them: quantized with
    its input scale and zero point, as an application on the device does.

    >>> q = tfprune.convert.quantize_inputs(tflite_bytes, x[:4])
    >>> q.dtype
    dtype('int8')
    """
    from ai_edge_litert.interpreter import Interpreter

    check_tflite(tflite_bytes)
    details = Interpreter(model_content=tflite_bytes).get_input_details()[0]
    return _quantize(inputs, details)


def run_tflite(tflite_bytes, inputs, runtime="litert", num_threads=1,
               arena_size=None, model_name=None, int8_outputs=False):
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
        int8_outputs: return the raw int8 outputs instead of dequantizing
            them (to compare runtimes bit for bit).

    Returns:
        A float32 (or int8) array of outputs, one row per example.

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
        y = interpreter(q)
        outputs.append(y[0] if int8_outputs else
                       _dequantize(y, interpreter.output)[0])
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
