"""int8 TFLite: conversion, LiteRT and TFLite Micro, accuracy next to float."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from conftest import collapsed_model, train_digits
from tfprune.convert import run_tflite


@pytest.fixture(scope="module")
def digits_model():
    """A small CNN trained on scikit-learn's digits, pruned and shrunk."""
    small, x, y = train_digits(0.5, epochs=8)
    return small, x[1500:], y[1500:]


def test_int8_model_runs_in_litert_and_tflm(digits_model):
    small, x, y = digits_model
    tflite = tfprune.to_tflite(small, representative=x[:100])
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=tflite).get_input_details()[0]
    assert details["dtype"] == np.int8 and list(details["shape"]) == [1, 8, 8, 1]

    float_acc = float(np.mean(np.argmax(small.predict(x, verbose=0), -1) == y))
    litert_acc = tfprune.evaluate_tflite(tflite, (x, y), small)
    tflm_acc = tfprune.evaluate_tflite(tflite, (x, y), small, runtime="tflm",
                                       limit=100)
    assert float_acc > 0.85
    assert abs(litert_acc - float_acc) < 0.03
    assert tflm_acc > float_acc - 0.05
    # Both run the same int8 model; XNNPACK and TFLM's reference kernels may
    # round differently, by at most one output quantization step.
    a = run_tflite(tflite, x[:10])
    b = run_tflite(tflite, x[:10], runtime="tflm")
    step = Interpreter(model_content=tflite).get_output_details()[0][
        "quantization_parameters"]["scales"][0]
    assert np.abs(a - b).max() <= step * 1.001


def test_only_int8_builtin_ops(digits_model):
    small, x, _ = digits_model
    tflite = tfprune.to_tflite(small, representative=x[:50], target="mobile")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "FLEX" not in " ".join(ops)
    assert {"CONV_2D", "FULLY_CONNECTED"} <= ops


def _forms(x):
    unbatched = tf.data.Dataset.from_tensor_slices(x)
    return {
        "array": x,
        "dataset": unbatched,
        "batched dataset": unbatched.batch(7),
        "labelled dataset": tf.data.Dataset.from_tensor_slices(
            (x, np.zeros(len(x), "int64"))).batch(5),
        "generator": lambda: ([x[i:i + 1]] for i in range(len(x))),
        "uint8 pixels": x.astype("uint8"),
    }


@pytest.mark.parametrize("form", sorted(_forms(np.zeros((1, 1)))))
def test_representative_data_forms(digits_model, form):
    small, x, _ = digits_model
    tflite = tfprune.to_tflite(small, representative=_forms(x[:20])[form],
                               num_samples=20)
    assert run_tflite(tflite, x[:2]).shape == (2, 10)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 8, 8, 3), "float32"),
     r"examples of shape \(8, 8, 3\).*expects inputs of shape \(8, 8, 1\)"),
    (np.zeros((4, 8, 8), "float32"),
     r"examples of shape \(8, 8\).*expects inputs of shape \(8, 8, 1\)"),
    (np.array([[["a"] * 1] * 8] * 8)[None].repeat(2, 0),
     r"dtype <U1"),
    (np.zeros((0, 8, 8, 1), "float32"), "is empty"),
    ("images/", "Expected a NumPy array"),
])
def test_bad_representative_data(digits_model, bad, message):
    small, _, _ = digits_model
    with pytest.raises((ValueError, TypeError), match=message):
        tfprune.to_tflite(small, representative=bad)


def test_bad_arguments(digits_model):
    small, x, y = digits_model
    with pytest.raises(ValueError, match="Received: target='phone'"):
        tfprune.to_tflite(small, x[:4], target="phone")
    with pytest.raises(ValueError, match="Received: num_samples=0"):
        tfprune.to_tflite(small, x[:4], num_samples=0)
    with pytest.raises(ValueError, match="Expected one of "
                                         r"\('per_tensor', 'per_channel'\)"
                                         ". Received: dense_quantization="
                                         "'per_unit'"):
        tfprune.to_tflite(small, x[:4], dense_quantization="per_unit")
    tflite = tfprune.to_tflite(small, x[:10])
    with pytest.raises(ValueError, match="Received: runtime='tpu'"):
        tfprune.evaluate_tflite(tflite, (x, y), small, runtime="tpu")
    with pytest.raises(ValueError, match="needs labelled data"):
        tfprune.evaluate_tflite(tflite, x, small)
    with pytest.raises(ValueError, match="Received: limit=0"):
        tfprune.evaluate_tflite(tflite, (x, y), small, limit=0)
    with pytest.raises(ValueError, match="Received: num_threads=0"):
        tfprune.evaluate_tflite(tflite, (x, y), small, num_threads=0)
    with pytest.raises(ValueError, match="Received: arena_size=-5"):
        run_tflite(tflite, x[:1], runtime="tflm", arena_size=-5)
    with pytest.raises(ValueError, match="Received: granularity=0"):
        tfprune.convert.tflm_arena_bytes(tflite, granularity=0)


def test_tflm_arena_is_the_smallest_that_runs(digits_model):
    from tflite_micro.python.tflite_micro import runtime

    small, x, _ = digits_model
    tflite = tfprune.to_tflite(small, representative=x[:50])
    arena = tfprune.convert.tflm_arena_bytes(tflite)
    assert 1000 < arena < 1_000_000 and arena % 16 == 0
    runtime.Interpreter.from_bytes(tflite, arena_size=arena).invoke()
    with pytest.raises(RuntimeError):
        runtime.Interpreter.from_bytes(tflite, arena_size=arena - 16)
    assert tfprune.convert.model_ops(tflite) == sorted(
        set(tfprune.convert.model_ops(tflite)))
    assert "CONV_2D" in tfprune.convert.model_ops(tflite)


def test_mcu_files_drop_intermediate_tensor_names(digits_model):
    small, x, _ = digits_model
    from ai_edge_litert.interpreter import Interpreter

    mcu = tfprune.to_tflite(small, representative=x[:50])
    mobile = tfprune.to_tflite(small, representative=x[:50], target="mobile")
    assert len(mcu) < len(mobile)
    assert tfprune.convert.strip_tensor_names(mobile) == mcu

    def names(tflite):
        interpreter = Interpreter(model_content=tflite)
        io = {d["index"] for d in interpreter.get_input_details()
              + interpreter.get_output_details()}
        return ({t["name"] for t in interpreter.get_tensor_details()
                 if t["index"] not in io},
                interpreter.get_signature_list(),
                [d["name"] for d in interpreter.get_input_details()])

    intermediate, signatures, inputs = names(mcu)
    assert intermediate == {""}
    assert (signatures, inputs) == names(mobile)[1:]
    # The same numbers come out.
    np.testing.assert_array_equal(run_tflite(mcu, x[:5]),
                                  run_tflite(mobile, x[:5]))


def test_a_collapsed_layer_still_runs_in_litert_with_a_warning():
    model, x = collapsed_model()
    tflite = tfprune.to_tflite(model, representative=x)
    with pytest.warns(UserWarning, match="XNNPACK delegate cannot prepare"):
        logits = run_tflite(tflite, x[:2])
    assert np.all(logits[0] == logits[1])  # the input no longer matters


def _dense_kernel_scales(tflite):
    """Quantization scales of each FULLY_CONNECTED kernel, in graph order."""
    from tfprune.device import arena

    tensors, ops, _, _ = arena._parse(tflite)
    return [tensors[op["inputs"][1]]["scales"] for op in ops
            if op["name"] == "FULLY_CONNECTED"]


def test_dense_layers_are_quantized_per_tensor_unless_asked(digits_model):
    small, x, y = digits_model
    units = [layer.units for layer in small.layers
             if isinstance(layer, keras.layers.Dense)]
    per_tensor = tfprune.to_tflite(small, representative=x[:100])
    per_channel = tfprune.to_tflite(small, representative=x[:100],
                                    dense_quantization="per_channel")
    assert _dense_kernel_scales(per_tensor) == [1] * len(units)
    assert _dense_kernel_scales(per_channel) == units
    # A float32 scale and an int64 zero point per unit, for the kernel and
    # again for the bias (what tfprune/device/flash.py counts).
    assert len(per_channel) - len(per_tensor) == 24 * (sum(units)
                                                       - len(units))
    assert tfprune.convert.tflm_arena_bytes(per_tensor) < \
        tfprune.convert.tflm_arena_bytes(per_channel)
    # At the same accuracy.
    accuracy = {name: tfprune.evaluate_tflite(tflite, (x, y), small)
                for name, tflite in (("per_tensor", per_tensor),
                                     ("per_channel", per_channel))}
    assert abs(accuracy["per_tensor"] - accuracy["per_channel"]) <= 0.02
