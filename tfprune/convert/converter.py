"""Full-integer int8 TFLite conversion: `to_tflite`.

The converter sits behind `to_tflite` alone, so that moving from
`tf.lite.TFLiteConverter` to its LiteRT successor touches one function.
"""

import tempfile
import warnings

import keras
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import precision
from tfprune.convert.flatbuffer import strip_tensor_names
from tfprune.convert.input_scaling import fold_input_scaling
from tfprune.convert.quantization import (degenerate_message,
                                          degenerate_tensors)
from tfprune.gates import ChannelGate
from tfprune.validation import check_finite_weights, check_positive_int

TARGETS = ("mcu", "mobile")
DENSE_QUANTIZATIONS = ("per_tensor", "per_channel")
# One scale per Dense kernel, as the MLPerf Tiny reference files: smaller
# files and TFLite Micro arenas (no per-unit multipliers) at the same int8
# accuracy (benchmarks/mlperf_tiny_costs.py; issue 25). tfprune/device/flash.py
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
    _check_arguments(model, target, num_samples, dense_quantization)
    # The converter calibrates float32 graphs: a model trained under mixed
    # precision is converted from a float32 copy (`model` is unchanged).
    model = precision.float32_copy(model)
    # One int8 operator less for an input Normalization / Rescaling.
    model = fold_input_scaling(model)
    generator = data_lib.representative_dataset(representative, model,
                                                num_samples)
    with precision.global_policy("float32"), tempfile.TemporaryDirectory(
            prefix="tfprune-export-") as saved:
        _save_serving_graph(model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = generator
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        _set_dense_quantization(converter, dense_quantization)
        tflite_bytes = converter.convert()
    degenerate = degenerate_tensors(tflite_bytes)
    if degenerate:  # named here, before MCU files drop the names
        warnings.warn(f"tfprune.to_tflite: model '{model.name}': "
                      + degenerate_message(degenerate), stacklevel=2)
    return strip_tensor_names(tflite_bytes) if target == "mcu" \
        else tflite_bytes


def _check_arguments(model, target, num_samples, dense_quantization):
    """Raises ValueError on what `to_tflite` cannot convert faithfully."""
    _refuse_gated(model)
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


def _refuse_gated(model):
    """Raises ValueError when `model` (or a model nested in it) still holds
    `ChannelGate` layers: converted, it would keep every channel."""
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


def _save_serving_graph(model, directory):
    """Writes a SavedModel of `model`'s inference call, batch size 1 (what
    devices run), into `directory`; refuses a graph that is not float32."""
    spec = model.inputs[0]
    archive = keras.export.ExportArchive()
    archive.track(model)
    serve = archive.add_endpoint(
        "serve", lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([1, *spec.shape[1:]], spec.dtype)])
    _check_float32(serve, model.name)
    archive.write_out(directory, verbose=False)


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
