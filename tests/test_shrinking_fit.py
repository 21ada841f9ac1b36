"""tfprune.fit: one call that rebuilds the network narrower while it trains,
carries optimizer, schedule, callbacks and History, and meets the target."""

import json
import os
import warnings

import keras
import numpy as np
import pytest

import tfprune

EPOCHS = 8
STEPS = 12  # batches of 64 per epoch


@pytest.fixture(autouse=True)
def _rebuild_whenever_channels_settle(monkeypatch):
    """These tests check the mechanism, not whether a rebuild pays for its
    trace on this tiny network: every saving counts."""
    from tfprune import training

    monkeypatch.setattr(training, "PAYBACK", 0.0)


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[..., None].astype("float32")[:STEPS * 64]
    return x, digits.target[:STEPS * 64]


def _gated(seed=0):
    keras.utils.set_random_seed(seed)
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(32, 48, 64),
                                                  dense_units=64))
    schedule = keras.optimizers.schedules.CosineDecay(0.05,
                                                      EPOCHS * STEPS)
    gated.compile(keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                       weight_decay=5e-4),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return gated


def _prune():
    return tfprune.TargetRatio(0.9, schedule=tfprune.PruningSchedule(
        warmup=0.125, ramp=0.5, update_every=4))


class Recorder(keras.callbacks.Callback):
    """What a user callback sees of the run."""

    def on_train_begin(self, logs=None):
        self.events = ["begin"]
        self.models = set()

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(epoch)
        self.models.add(id(self.model))

    def on_train_end(self, logs=None):
        self.events.append("end")


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"killed after epoch {epoch}")


def _fit(gated, callbacks):
    x, y = _digits()
    return tfprune.fit(gated, x, y, epochs=EPOCHS, batch_size=64,
                       shuffle=False, verbose=0, callbacks=callbacks)


def _widths(model):
    return [g.kept_channels() for g in model.layers
            if isinstance(g, tfprune.ChannelGate)]


def test_the_network_narrows_during_training_and_ends_at_the_target():
    gated = _gated()
    full = gated.count_params()
    recorder, prune = Recorder(), _prune()
    history = _fit(gated, [recorder, prune])
    trained = history.model
    assert trained is not gated
    assert trained.count_params() < 0.5 * full  # rebuilt, more than once
    assert len(recorder.models) >= 3
    # One run for the callbacks, one History for the caller.
    assert recorder.events == ["begin", *range(EPOCHS), "end"]
    assert history.epoch == list(range(EPOCHS))
    assert len(history.history["loss"]) == EPOCHS
    # The optimizer's step, hence the learning-rate schedule, carried on.
    assert int(trained.optimizer.iterations) == EPOCHS * STEPS
    # The budget is a fraction of the unpruned network, met exactly.
    small = tfprune.shrink(trained)
    removed = 1 - small.count_params() / tfprune.shrink(
        tfprune.gate(tfprune.models.small_cnn(widths=(32, 48, 64),
                                              dense_units=64))).count_params()
    assert removed == pytest.approx(0.9, abs=0.005)
    assert history.history["pruned_params"][-1] == pytest.approx(removed)
    with pytest.raises(tfprune.GraphError, match="history.model"):
        tfprune.shrink(gated)


def test_the_hold_network_has_frozen_gates():
    """Rebuilt for the hold (final masks), the gates pass their input
    through (no mask multiply, no saliency); the rebuilds before it still
    measure."""
    gates_by_model = []

    class Gates(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            gates_by_model.append([(g.measures_saliency and not g.frozen)
                                   for g in self.model.layers
                                   if isinstance(g, tfprune.ChannelGate)])

    history = _fit(_gated(), [_prune(), Gates()])
    hold_begins = int((0.125 + 0.5) * EPOCHS)  # epoch 5: the last ramp one
    assert all(all(m) for m in gates_by_model[:hold_begins])
    assert not any(any(m) for m in gates_by_model[hold_begins:])
    gates = [g for g in history.model.layers
             if isinstance(g, tfprune.ChannelGate)]
    assert all(not np.any(keras.ops.convert_to_numpy(g.saliency))
               for g in gates)
    assert all(g.kept_channels() == g.channels and g.frozen for g in gates)


def test_a_rebuild_keeps_what_the_masked_model_computes(monkeypatch):
    """At every rebuild the new model's outputs (training mode too) equal
    the old one's on the same batch."""
    from tfprune import training

    x, _ = _digits()
    checked = []
    rebuilt = training._Run.rebuilt

    def checking(self, model, keep, next_epoch, final=False):
        new = rebuilt(self, model, keep, next_epoch, final)
        for mode in (False, True):
            a = keras.ops.convert_to_numpy(model(x[:64], training=mode))
            b = keras.ops.convert_to_numpy(new(x[:64], training=mode))
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
        checked.append(next_epoch)
        return new

    monkeypatch.setattr(training._Run, "rebuilt", checking)
    _fit(_gated(), [_prune()])
    assert len(checked) >= 2


def test_backup_and_restore_resumes_across_a_rebuild(tmp_path):
    straight = _fit(_gated(), [
        _prune(), keras.callbacks.BackupAndRestore(str(tmp_path / "a"))])
    backup = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        _fit(_gated(), [_prune(), keras.callbacks.BackupAndRestore(backup),
                        Interrupt(5)])
    state = json.load(open(os.path.join(backup, "tfprune_rebuilt",
                                        "state.json")))
    assert 0 < state["epoch"] <= 5  # killed after a rebuild
    recorder = Recorder()
    resumed = _fit(_gated(), [_prune(), keras.callbacks.BackupAndRestore(
        backup), recorder])
    assert recorder.events[1] == 6  # went on from the backup
    assert _widths(resumed.model) == _widths(straight.model)
    for a, b in zip(straight.model.get_weights(),
                    resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert not os.path.exists(backup)  # a finished run leaves no backup


def test_without_target_ratio_it_is_model_fit():
    gated = _gated()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to rebuild, nothing to say
        history = _fit(gated, [])
    assert history.model is gated


def _fed_datasets(monkeypatch, gated, train, val, epochs=1):
    """The datasets `tfprune.fit` hands to `model.fit`, segment by segment."""
    fed = []
    fit = type(gated).fit

    def recording_fit(self, x=None, *args, **kwargs):
        fed.append((x, kwargs.get("validation_data")))
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(type(gated), "fit", recording_fit)
    tfprune.fit(gated, train, validation_data=val, epochs=epochs, verbose=0,
                callbacks=[_prune()])
    return fed


def _digit_batches():
    import tensorflow as tf

    x, y = _digits()
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(64).prefetch(
        tf.data.AUTOTUNE)


def test_datasets_train_without_the_autotuning_thread(monkeypatch):
    """Deleting a tf.data iterator whose autotuning thread ran waits for the
    thread's next wake-up (benchmarks/studies/fit_end_stall.py: up to a minute at
    every rebuild); the datasets `fit` feeds to each segment have it off."""
    train, val = _digit_batches(), _digit_batches().take(2)
    fed = _fed_datasets(monkeypatch, _gated(), train, val, epochs=EPOCHS)
    assert len(fed) >= 2  # rebuilt at least once
    for x, v in fed:
        assert x.options().autotune.enabled is False
        assert v.options().autotune.enabled is False
    assert train.options().autotune.enabled is None  # the caller's is as it was


def test_a_dataset_that_turns_autotuning_on_keeps_it_and_is_warned(
        monkeypatch):
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = True
    train = _digit_batches().with_options(options)
    with pytest.warns(UserWarning, match="training dataset sets "
                      r"autotune.enabled=True.*without_autotuning"):
        fed = _fed_datasets(monkeypatch, _gated(), train, None)
    assert fed[0][0].options().autotune.enabled is True
