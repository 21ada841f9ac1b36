import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from conftest import randomize_scores


def test_forward_is_input_times_mask_in_training_and_inference():
    gate = tfprune.ChannelGate()
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    gate(x)
    gate.score.assign([3.0, -2.0, 0.5, 0.0])
    gate.set_mask([1, 0, 1, 0])
    expected = x * np.array([1, 0, 1, 0], dtype="float32")
    np.testing.assert_array_equal(gate(x, training=False), expected)
    np.testing.assert_array_equal(gate(x, training=True), expected)


def _saliency_after_one_step(gate, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(gate(x, training=True) * upstream)
    return tape.gradient(loss, x).numpy(), gate.saliency.numpy()


def test_backward_adds_the_taylor_saliency_of_every_channel():
    gate = tfprune.ChannelGate()
    # Two examples, 2x2 positions, 3 channels; the third is masked.
    x = tf.constant(np.arange(24, dtype="float32").reshape(2, 2, 2, 3) - 8)
    gate(x)
    gate.set_mask([1, 1, 0])
    upstream = tf.constant([1.0, -2.0, 0.5])
    grad, saliency = _saliency_after_one_step(gate, x, upstream)
    # The input gradient is masked like the forward pass ...
    np.testing.assert_array_equal(
        grad, np.broadcast_to([1.0, -2.0, 0.0], x.shape))
    # ... and the saliency is sum over examples of |sum over positions of
    # g * a|, for masked channels too (how much bringing them back helps).
    per_example = np.sum(x.numpy() * upstream.numpy(), axis=(1, 2))
    np.testing.assert_allclose(saliency, np.abs(per_example).sum(axis=0))
    assert saliency[2] > 0
    # A second step adds to it.
    _, twice = _saliency_after_one_step(gate, x, upstream)
    np.testing.assert_allclose(twice, 2 * saliency)


def test_fold_saliency_is_a_running_average():
    gate = tfprune.ChannelGate()
    gate(np.zeros((1, 2), "float32"))
    gate.saliency.assign([4.0, 8.0])
    gate.fold_saliency(steps=4, decay=0.5)  # first fold: taken as it is
    np.testing.assert_allclose(gate.score.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(gate.saliency.numpy(), [0.0, 0.0])
    gate.saliency.assign([6.0, 0.0])
    gate.fold_saliency(steps=2, decay=0.5)
    np.testing.assert_allclose(gate.score.numpy(), [2.0, 1.0])


def test_no_saliency_in_inference():
    gate = tfprune.ChannelGate()
    x = tf.ones((2, 3))
    gate(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(gate(x, training=False))
    tape.gradient(loss, x)
    np.testing.assert_array_equal(gate.saliency.numpy(), [0.0] * 3)


def test_a_gate_that_measures_no_saliency():
    gate = tfprune.ChannelGate(measures_saliency=False, name="g")
    x = tf.ones((2, 3))
    gate(x)
    gate.set_mask([1, 0, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = gate(x, training=True)
        loss = tf.reduce_sum(y)
    np.testing.assert_array_equal(tape.gradient(loss, x), [[1, 0, 1]] * 2)
    np.testing.assert_array_equal(y, [[1, 0, 1]] * 2)
    np.testing.assert_array_equal(gate.saliency.numpy(), [0.0] * 3)
    clone = tfprune.ChannelGate.from_config(gate.get_config())
    assert clone.measures_saliency is False
    assert "measures_saliency" not in tfprune.ChannelGate().get_config()
    with pytest.raises(ValueError, match="measures_saliency='no'"):
        tfprune.ChannelGate(measures_saliency="no")


def test_a_frozen_gate_passes_its_input_through():
    gate = tfprune.ChannelGate(frozen=True, name="g")
    x = tf.constant([[1.0, 2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = gate(x, training=True)
        loss = tf.reduce_sum(y)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(tape.gradient(loss, x), [[1, 1, 1]])
    np.testing.assert_array_equal(gate.saliency.numpy(), [0.0] * 3)
    gate.set_mask([1, 1, 1])  # all kept: allowed
    with pytest.raises(ValueError, match="'g' is frozen.*1 zeros"):
        gate.set_mask([1, 0, 1])
    assert gate.kept_channels() == 3
    assert tfprune.ChannelGate.from_config(gate.get_config()).frozen
    assert "frozen" not in tfprune.ChannelGate().get_config()
    with pytest.raises(ValueError, match="frozen=1"):
        tfprune.ChannelGate(frozen=1)


def test_weights_and_config():
    gate = tfprune.ChannelGate(name="g")
    gate(np.zeros((1, 5), "float32"))
    assert gate.trainable_weights == []
    assert [w.name for w in gate.non_trainable_weights] == [
        "score", "mask", "saliency"]
    clone = tfprune.ChannelGate.from_config(gate.get_config())
    assert clone.name == "g"


def test_set_mask_validation():
    gate = tfprune.ChannelGate(name="g")
    gate(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="'g' has 3 channels"):
        gate.set_mask([1, 0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        gate.set_mask([1, 0.5, 1])


def test_unknown_channel_count():
    with pytest.raises(ValueError, match="known number of channels"):
        tfprune.ChannelGate().build((None, None))


def _small_gated():
    model = tfprune.models.small_cnn(widths=(8, 16), dense_units=16)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5)
    return gated


def test_gated_model_round_trips_through_keras_file(tmp_path):
    gated = _small_gated()
    x = np.random.default_rng(0).uniform(0, 16, (4, 8, 8, 1)).astype("f4")
    path = str(tmp_path / "gated.keras")
    gated.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(gated.layers, loaded.layers):
        assert type(a) is type(b)
        if isinstance(a, tfprune.ChannelGate):
            np.testing.assert_array_equal(a.mask.numpy(), b.mask.numpy())
            np.testing.assert_array_equal(a.score.numpy(), b.score.numpy())
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               gated.predict(x, verbose=0), atol=1e-6)
    # Training continues from the loaded model, masks still in force.
    loaded.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    loaded.fit(x, np.arange(4), epochs=1, verbose=0)
    assert tfprune.measure(loaded) == tfprune.measure(gated)


def test_gated_model_runs_under_xla():
    gated = _small_gated()
    x = tf.constant(np.ones((2, 8, 8, 1), "float32"))
    run = tf.function(lambda t: gated(t, training=False), jit_compile=True)
    np.testing.assert_allclose(run(x), gated(x, training=False), atol=1e-5)


def test_gated_model_trains_under_a_distribution_strategy():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        gated = _small_gated()
        gated.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    x = np.ones((8, 8, 8, 1), "float32")
    gated.fit(x, np.arange(8) % 10, epochs=1, batch_size=4, verbose=0,
              callbacks=[tfprune.TargetRatio(0.5)])
    assert abs(1 - tfprune.measure(gated)["params"]
               / tfprune.models.small_cnn(widths=(8, 16), dense_units=16)
               .count_params() - 0.5) < 0.02
