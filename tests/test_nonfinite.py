"""A diverged run (NaN or inf loss, scores or weights) stops with a clear error."""

import keras
import numpy as np
import pytest

import tfprune


def _gated():
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(8, 16),
                                                  dense_units=16))
    gated.compile(keras.optimizers.SGD(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return gated


def _masks(gated):
    return [layer.mask.numpy().copy() for layer in gated.layers
            if isinstance(layer, tfprune.ChannelGate)]


def _data(n=64):
    rng = np.random.default_rng(0)
    return (rng.uniform(0, 16, (n, 8, 8, 1)).astype("float32"),
            rng.integers(0, 10, n))


class _MasksAtStep(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step, self.masks = step, None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.step:
            self.masks = _masks(self.model)


def test_nan_loss_stops_fit_before_any_mask_is_computed_from_it():
    gated = _gated()
    x, y = _data()
    x[3 * 8 + 2] = np.nan  # a NaN pixel in the 4th batch of 8
    seen = _MasksAtStep(3)  # the masks the NaN step trained with
    with pytest.raises(FloatingPointError,
                       match=r"loss became nan at epoch 1, step 4; masks "
                             r"left as they were \(\d+\.\d\d% of params "
                             r"removed\)"):
        gated.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                  callbacks=[tfprune.TargetRatio(
                      0.5, schedule=tfprune.PruningSchedule(
                          warmup=0, update_every=1)), seen])
    assert not all(m.all() for m in seen.masks)  # the ramp had begun
    for old, new in zip(seen.masks, _masks(gated)):
        np.testing.assert_array_equal(old, new)


def test_inf_loss_is_reported_too():
    gated = _gated()
    x, y = _data()
    x[0] = np.inf
    with pytest.raises(FloatingPointError, match=r"loss became (nan|inf) at "
                                                 r"epoch 1, step 1"):
        gated.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
                  callbacks=[tfprune.TargetRatio(0.5)])


def test_nan_saliency_is_never_folded_into_the_scores():
    gate = tfprune.ChannelGate(name="gate_x")
    gate.build((None, 4))
    gate.score.assign([1.0, 2.0, 3.0, 4.0])
    gate.saliency.assign([1.0, np.nan, 1.0, np.inf])
    with pytest.raises(FloatingPointError,
                       match="ChannelGate 'gate_x': the saliency of 2 "
                             "channels became NaN or infinite"):
        gate.fold_saliency(10, 0.9)
    np.testing.assert_array_equal(gate.score.numpy(), [1, 2, 3, 4])


def test_nan_weights_do_not_become_masks():
    gated = _gated()
    conv = gated.get_layer("conv1")
    kernel = conv.kernel.numpy()
    kernel[..., 0] = np.nan
    conv.kernel.assign(kernel)
    with pytest.raises(FloatingPointError,
                       match="'l1' importance of the channels of gate "
                             "'.*' holds NaN or infinite values"):
        tfprune.prune_now(gated, 0.5, importance="l1")
    assert all(m.all() for m in _masks(gated))


def test_shrink_and_to_tflite_refuse_nan_weights():
    gated = _gated()
    tfprune.prune_now(gated, 0.5)
    small = tfprune.shrink(gated)
    bias = gated.get_layer("classifier").bias
    bias.assign(np.full(bias.shape, np.nan, "float32"))
    with pytest.raises(ValueError,
                       match=r"tfprune.shrink refuses model '.*': weight "
                             r"'classifier/bias' of layer 'classifier' "
                             r"holds 10 NaN or infinite values"):
        tfprune.shrink(gated)
    small.get_layer("classifier").bias.assign(
        np.full(bias.shape, np.inf, "float32"))
    with pytest.raises(ValueError, match="tfprune.to_tflite refuses model"):
        tfprune.to_tflite(small, representative=_data()[0])
