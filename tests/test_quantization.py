"""Degenerate int8 quantization is named, not met as a TFLite Micro crash:
`to_tflite` warns, `export(target="mcu")` refuses, and a crash in the arena
search says why."""

import gc
import warnings

import keras
import numpy as np
import pytest

import tfprune
from tfprune import convert


@pytest.fixture(scope="module")
def dead_logits():
    """A model whose logits are zero for every input: their calibrated
    range collapses, and so does their scale."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="features")(inputs)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(3, kernel_initializer="zeros",
                                bias_initializer="zeros", name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(logits)
    model = keras.Model(inputs, outputs, name="dead_logits")
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(
        "float32")
    return model, x


def test_to_tflite_names_the_degenerate_tensor(dead_logits):
    model, x = dead_logits
    with pytest.warns(UserWarning, match="degenerat|scale") as caught:
        tflite = tfprune.to_tflite(model, x, target="mobile")
    message = " ".join(str(w.message) for w in caught)
    assert "dead_logits" in message and "FULLY_CONNECTED" in message
    found = convert.degenerate_tensors(tflite)
    assert found and all(t.scale < convert.quantization.MIN_SCALE
                         for t in found)
    assert any(t.producer == "FULLY_CONNECTED" for t in found)


def test_export_for_a_microcontroller_refuses_it(dead_logits, tmp_path):
    model, x = dead_logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(tfprune.ExportError) as error:
            tfprune.export(model, str(tmp_path / "fw"), target="mcu",
                           representative=x)
    assert "int8 scale" in str(error.value)
    assert "untrained, dead after pruning" in str(error.value)
    assert not (tmp_path / "fw").exists()


def test_a_healthy_model_has_no_degenerate_tensor():
    keras.utils.set_random_seed(0)
    model = tfprune.models.small_cnn(input_shape=(8, 8, 1))
    x = np.random.default_rng(0).uniform(0, 16, (16, 8, 8, 1)).astype(
        "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tflite = tfprune.to_tflite(model, x)
    assert convert.degenerate_tensors(tflite) == []


def test_export_leaves_no_open_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = tfprune.models.small_cnn(input_shape=(8, 8, 1))
    x = np.random.default_rng(0).uniform(0, 16, (16, 8, 8, 1)).astype(
        "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        tfprune.export(model, str(tmp_path / "fw"), target="mcu",
                       representative=x)
        gc.collect()
    leaked = [str(w.message) for w in caught
              if issubclass(w.category, ResourceWarning)]
    assert not leaked, leaked


def test_a_tflite_micro_crash_names_the_degenerate_tensor(dead_logits):
    model, x = dead_logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tflite = tfprune.to_tflite(model, x)
    with pytest.raises(tfprune.TFLMError) as error:
        convert.tflm_arena_bytes(tflite, model_name=model.name)
    message = str(error.value)
    assert "crashes TFLite Micro" in message
    assert "quantization degenerated" in message and "SOFTMAX" in message
    assert "operators TFLite Micro has" not in message
