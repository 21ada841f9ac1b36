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


def test_masked_channels_still_get_a_score_gradient():
    gate = tfprune.ChannelGate()
    x = tf.ones((1, 2, 2, 3))
    gate(x)
    gate.set_mask([1, 0, 1])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gate(x, training=True) * [1.0, 2.0, -1.0])
    grad = tape.gradient(loss, gate.score).numpy()
    # d loss / d score = sum(g * x) * sigmoid'(0) = 4 * g * 0.25
    np.testing.assert_allclose(grad, [1.0, 2.0, -1.0])


def test_score_gain_scales_the_gradient():
    gate = tfprune.ChannelGate(score_gain=10.0)
    x = tf.ones((1, 3))
    gate(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(gate(x, training=True))
    np.testing.assert_allclose(tape.gradient(loss, gate.score), [2.5] * 3)


def test_weights_and_config():
    gate = tfprune.ChannelGate(score_gain=2.0, name="g")
    gate(np.zeros((1, 5), "float32"))
    assert [w.name for w in gate.trainable_weights] == ["score"]
    assert [w.name for w in gate.non_trainable_weights] == ["mask"]
    assert gate.get_config()["score_gain"] == 2.0
    clone = tfprune.ChannelGate.from_config(gate.get_config())
    assert clone.score_gain == 2.0 and clone.name == "g"


@pytest.mark.parametrize("bad", [0, -1.0, "1"])
def test_bad_score_gain(bad):
    with pytest.raises(ValueError, match=r"score_gain.*Received: score_gain="):
        tfprune.ChannelGate(score_gain=bad)


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
