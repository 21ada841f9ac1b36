"""Mixed precision: gate, train, shrink and convert under mixed_bfloat16 and
mixed_float16 (CPU), with saliency and scores kept in float32."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import precision
from tfprune.convert import run_tflite


@pytest.fixture(autouse=True)
def _float32_afterwards():
    """Every test starts and ends with the float32 global policy."""
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images[..., None].astype("float32"), data.target


def _gates(model):
    return [layer for layer in model.layers
            if isinstance(layer, tfprune.ChannelGate)]


def _policies(model):
    return {layer.name: layer.dtype_policy.name for layer in model.layers
            if not isinstance(layer, (keras.layers.InputLayer,
                                      tfprune.ChannelGate))}


def _trained(policy, x, y, epochs=4, optimizer=None, seed=0):
    """A small CNN built, gated and trained with TargetRatio(0.5) under
    `policy`; returns `(model, gated)`."""
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(seed)
    model = tfprune.models.small_cnn(widths=(16, 32), dense_units=32)
    gated = tfprune.gate(model)
    gated.compile(optimizer or keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    gated.fit(x, y, epochs=epochs, batch_size=64, verbose=0,
              callbacks=[tfprune.TargetRatio(
                  0.5,
                  schedule=tfprune.PruningSchedule(warmup=0.25, ramp=0.5))])
    return model, gated


def test_bfloat16_train_shrink_int8_tflm(digits):
    x, y = digits
    model, gated = _trained("mixed_bfloat16", x[:1500], y[:1500])
    for gate in _gates(gated):
        assert gate.dtype_policy.name == "mixed_bfloat16"
        for weight in (gate.score, gate.saliency, gate.mask):
            assert keras.backend.standardize_dtype(weight.dtype) == "float32"
        assert np.isfinite(gate.score.numpy()).all() and gate.score.numpy().any()
    small = tfprune.shrink(gated)
    removed = 1 - tfprune.measure(small)["params"] \
        / tfprune.measure(model)["params"]
    assert removed == pytest.approx(0.5, abs=0.02)
    assert _policies(small) == {name: policy for name, policy in
                                _policies(gated).items() if name in
                                _policies(small)}
    assert set(_policies(small).values()) == {"mixed_bfloat16"}
    x_val, y_val = x[1500:], y[1500:]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(small(x_val[:64], training=False)),
        keras.ops.convert_to_numpy(gated(x_val[:64], training=False)))

    tflite = tfprune.to_tflite(small, representative=x_val[:100])
    # The user's model and the global policy are as they were.
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert set(_policies(small).values()) == {"mixed_bfloat16"}
    assert "CONV_2D" in tfprune.convert.model_ops(tflite)

    float_acc = float(np.mean(np.argmax(keras.ops.convert_to_numpy(
        small(x_val, training=False)), -1) == y_val))
    tflm_acc = tfprune.evaluate_tflite(tflite, (x_val, y_val), small,
                                       runtime="tflm", limit=100)
    assert float_acc > 0.8
    assert tflm_acc > float_acc - 0.06
    litert, tflm = (run_tflite(tflite, x_val[:20], runtime=runtime)
                    for runtime in ("litert", "tflm"))
    assert np.mean(np.argmax(litert, -1) == np.argmax(tflm, -1)) >= 0.95


def test_saliency_is_summed_in_float32(digits):
    """The same weights and batch give (nearly) the same saliency in
    float32 and in mixed_bfloat16: bfloat16 rounds the activations and
    gradients, not the sums."""
    x, y = digits
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(16, 32),
                                                  dense_units=32))
    tfprune.gather_saliency(gated, (x[:256], y[:256]), steps=4, loss=loss)
    reference = [g.score.numpy() for g in _gates(gated)]

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    low = tfprune.gate(tfprune.models.small_cnn(widths=(16, 32),
                                                dense_units=32))
    low.set_weights(gated.get_weights())
    tfprune.gather_saliency(low, (x[:256], y[:256]), steps=4, loss=loss)
    for gate, expected in zip(_gates(low), reference):
        assert gate.dtype_policy.name == "mixed_bfloat16"
        got = gate.score.numpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=0.1,
                                   atol=0.02 * expected.max())


def test_float16_scores_are_in_units_of_the_loss(digits):
    """Under mixed_float16 `compile` wraps the optimizer in a
    LossScaleOptimizer (gradients times 32768); the scores come out as
    under float32, and a shrunk float16 model converts and exports."""
    x, y = digits
    _, reference = _trained("float32", x[:1024], y[:1024], epochs=2)
    _, gated = _trained("mixed_float16", x[:1024], y[:1024], epochs=2)
    assert isinstance(gated.optimizer, keras.optimizers.LossScaleOptimizer)
    for gate, expected in zip(_gates(gated), _gates(reference)):
        assert gate.dtype_policy.name == "mixed_float16"
        assert gate.loss_scale is not None
        ratio = gate.score.numpy().mean() / expected.score.numpy().mean()
        assert 0.5 < ratio < 2, ratio

    small = tfprune.shrink(gated)
    assert set(_policies(small).values()) == {"mixed_float16"}
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(small(x[1500:1564], training=False)),
        keras.ops.convert_to_numpy(gated(x[1500:1564], training=False)))
    tflite = tfprune.to_tflite(small, representative=x[1500:1600])
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    litert = run_tflite(tflite, x[1500:1600])
    float_logits = keras.ops.convert_to_numpy(small(x[1500:1600]))
    agree = np.mean(np.argmax(litert, -1) == np.argmax(float_logits, -1))
    assert agree > 0.9


@pytest.mark.filterwarnings("ignore:TargetRatio. the first cut")
def test_float16_overflowed_steps_add_no_saliency(digits):
    """A loss scale so large that every gradient overflows: the optimizer
    skips every step, and the gates add nothing (no NaN scores, no
    FloatingPointError from TargetRatio)."""
    x, y = digits
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.05), initial_scale=2.0 ** 60,
        dynamic_growth_steps=10_000)
    _, gated = _trained("mixed_float16", x[:256], y[:256], epochs=1,
                        optimizer=optimizer)
    for gate in _gates(gated):
        assert np.isfinite(gate.score.numpy()).all()
        assert np.isfinite(gate.saliency.numpy()).all()


def test_float32_copy_of_a_gated_model(digits):
    x, _ = digits
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(16, 32),
                                                  dense_units=32))
    tfprune.prune_now(gated, 0.5, importance="l1")
    copy = precision.float32_copy(gated)
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert precision.low_precision_layers(copy) == []
    assert set(_policies(gated).values()) == {"mixed_bfloat16"}
    for a, b in zip(_gates(gated), _gates(copy)):
        assert b.dtype_policy.name == "float32"
        np.testing.assert_array_equal(a.mask.numpy(), b.mask.numpy())
    reference = keras.ops.convert_to_numpy(gated(x[:32], training=False))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(copy(x[:32], training=False)),
        reference.astype("float32"), atol=0.05 * np.abs(reference).max())
    # A float32 model is converted as it is.
    keras.mixed_precision.set_global_policy("float32")
    plain = tfprune.models.small_cnn()
    assert precision.float32_copy(plain) is plain


def test_policy_restored_when_the_copy_fails(digits, monkeypatch):
    x, _ = digits
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    small = tfprune.models.small_cnn()

    def broken(*args, **kwargs):
        raise TypeError("no such layer")

    monkeypatch.setattr(keras.saving, "deserialize_keras_object", broken)
    with pytest.raises(ValueError, match="could not be rebuilt from its "
                                         "config in float32"):
        tfprune.to_tflite(small, representative=x[:8])
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"


@keras.saving.register_keras_serializable(package="tfprune_tests")
class _Bfloat16Inside(keras.layers.Layer):
    """A float32 layer that rounds through bfloat16 on its own."""

    def call(self, inputs):
        return keras.ops.cast(keras.ops.cast(inputs, "bfloat16"), "float32")


def test_a_16_bit_graph_never_reaches_the_converter(digits):
    x, _ = digits
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(4)(_Bfloat16Inside()(
        keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="still computes in 16 bits"):
        tfprune.to_tflite(model, representative=x[:8])


def test_mixed_precision_export(digits, tmp_path):
    x, _ = digits
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(16, 32),
                                                  dense_units=32))
    tfprune.prune_now(gated, 0.5, importance="l1")
    small = tfprune.shrink(gated)
    report = tfprune.export(small, str(tmp_path / "mcu"),
                            representative=x[:50])
    assert report["arena_bytes"] > 0
    assert (tmp_path / "mcu" / "model.tflite").exists()
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"


def test_bfloat16_weights_are_cast_and_gates_keep_float32_weights(digits):
    x, _ = digits
    keras.mixed_precision.set_global_policy("bfloat16")  # 16-bit weights
    model = tfprune.models.small_cnn(widths=(16, 32), dense_units=32)
    gated = tfprune.gate(model)
    for gate in _gates(gated):
        assert gate.dtype_policy.name == "mixed_bfloat16"
        assert keras.backend.standardize_dtype(gate.score.dtype) == "float32"
    copy = precision.float32_copy(model)
    assert keras.mixed_precision.global_policy().name == "bfloat16"
    for a, b in zip(model.weights, copy.weights):
        assert keras.backend.standardize_dtype(b.dtype) == "float32"
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a).astype("float32"),
            keras.ops.convert_to_numpy(b))
    assert precision.low_precision_layers(model)  # the model is unchanged
