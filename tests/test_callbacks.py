"""TargetRatio: schedule, exact final ratio, resume after an interruption."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from conftest import randomize_scores
from tfprune.pruning import BudgetPlan


def _data(n=64, shape=(32, 32, 3), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0, 255, (n, *shape)).astype("float32"),
            rng.integers(0, 10, n))


def _compiled(gated):
    gated.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return gated


@pytest.mark.parametrize("metric", ["params", "macs"])
@pytest.mark.parametrize("ratio", [0.3, 0.5, 0.76, 0.9, 0.94])
def test_short_fit_ends_at_the_target(ratio, metric):
    model = tfprune.models.vgg16_cifar(width=0.125)
    gated = _compiled(tfprune.gate(model))
    x, y = _data()
    gated.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[tfprune.TargetRatio(ratio, metric=metric)])
    small = tfprune.shrink(gated)
    removed = 1 - tfprune.measure(small)[metric] / tfprune.measure(model)[
        metric]
    assert abs(removed - ratio) <= 0.005


def test_channels_metric():
    model = tfprune.models.vgg16_cifar(width=0.125)
    gated = _compiled(tfprune.gate(model))
    gated.fit(*_data(), epochs=2, batch_size=32, verbose=0,
              callbacks=[tfprune.TargetRatio(0.5, metric="channels")])
    removed = 1 - tfprune.measure(tfprune.shrink(gated))["channels"] / (
        tfprune.measure(model)["channels"])
    assert abs(removed - 0.5) <= 0.005


class RecordRatio(keras.callbacks.Callback):
    def __init__(self, plan):
        super().__init__()
        self.plan, self.ratios = plan, []

    def on_train_batch_end(self, batch, logs=None):
        self.ratios.append(self.plan.removed_ratio())


def test_warmup_ramp_hold_phases():
    gated = _compiled(tfprune.gate(tfprune.models.small_cnn()))
    recorder = RecordRatio(BudgetPlan(gated))
    x, y = _data(100, (8, 8, 1))
    # 10 epochs x 5 steps: warm-up 10 steps, ramp 25 steps, hold 15 steps.
    gated.fit(x, y, epochs=10, batch_size=20, verbose=0, callbacks=[
        tfprune.TargetRatio(0.8, schedule=tfprune.PruningSchedule(
            warmup=0.2, ramp=0.5, update_every=1)),
        recorder])
    ratios = np.array(recorder.ratios)
    assert (ratios[:10] == 0).all()
    ramp = ratios[10:35]
    assert ramp[0] < 0.2 < ramp[-1] and ramp[1] > 0
    assert (np.diff(ramp) > -0.02).all()
    hold = ratios[35:]
    assert (hold == hold[0]).all() and abs(hold[0] - 0.8) <= 0.005


def test_schedule_curve():
    cb = tfprune.TargetRatio(
        0.9, schedule=tfprune.PruningSchedule(warmup=0.1, ramp=0.5))
    assert cb.ratio_at(0.05) == 0
    assert cb.ratio_at(0.35) == pytest.approx(0.9 * (1 - 0.5 ** 3))
    assert cb.ratio_at(0.6) == 0.9 and cb.ratio_at(1.0) == 0.9


def test_channels_come_back_when_their_scores_rise():
    gated = tfprune.gate(tfprune.models.small_cnn())
    randomize_scores(gated)
    plan = BudgetPlan(gated)
    plan.apply(0.6)
    gate = gated.get_layer("conv2_gate")
    off = int(np.flatnonzero(gate.mask.numpy() == 0)[0])
    scores = gate.score.numpy()
    scores[off] = 10.0
    gate.score.assign(scores)
    plan.apply(0.6)
    assert gate.mask.numpy()[off] == 1


def test_unknown_number_of_steps():
    x, y = _data(48, (8, 8, 1))
    ds = tf.data.Dataset.from_generator(
        lambda: iter(zip(x, y)),
        output_signature=(tf.TensorSpec((8, 8, 1)), tf.TensorSpec((), tf.int64)),
    ).batch(8)
    model = tfprune.models.small_cnn()
    gated = _compiled(tfprune.gate(model))
    gated.fit(ds, epochs=4, verbose=0, callbacks=[tfprune.TargetRatio(0.7)])
    removed = 1 - tfprune.measure(gated)["params"] / model.count_params()
    assert abs(removed - 0.7) <= 0.01


def test_scores_learn_from_training_and_rank_the_channels():
    model = tfprune.models.small_cnn(widths=(8, 16), dense_units=16)
    gated = _compiled(tfprune.gate(model))
    x, y = _data(64, (8, 8, 1))
    gated.fit(x, y, epochs=3, batch_size=16, verbose=0,
              callbacks=[tfprune.TargetRatio(
                  0.5, schedule=tfprune.PruningSchedule(
                      warmup=0.1, ramp=0.9, update_every=2))])
    # The ramp lasts to the end: the last update chose from these scores.
    for name in ("conv1_gate", "conv2_gate", "fc_gate"):
        gate = gated.get_layer(name)
        scores, mask = gate.score.numpy(), gate.mask.numpy()
        assert (scores >= 0).all() and scores.max() > 0
        if 0 < mask.sum() < gate.channels:
            # Within a layer the kept channels are the best-scored ones.
            assert scores[mask == 1].min() >= scores[mask == 0].max()


class RecordMasks(keras.callbacks.Callback):
    def __init__(self, gate_name):
        super().__init__()
        self.gate_name, self.masks = gate_name, []

    def on_train_batch_end(self, batch, logs=None):
        self.masks.append(
            self.model.get_layer(self.gate_name).mask.numpy().copy())


def test_hold_updates_keep_rechoosing_channels_at_the_target():
    model = tfprune.models.small_cnn()
    gated = _compiled(tfprune.gate(model))
    recorder = RecordMasks("conv2_gate")
    x, y = _data(96, (8, 8, 1))
    gated.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[
        tfprune.TargetRatio(
            0.6, schedule=tfprune.PruningSchedule(
                warmup=0, ramp=0, update_every=2, hold_updates=True),
            ranking=tfprune.Ranking(cost_aware=False)),
        recorder])
    changes = sum((a != b).any() for a, b in zip(recorder.masks,
                                                 recorder.masks[1:]))
    assert changes >= 1
    removed = 1 - tfprune.measure(gated)["params"] / model.count_params()
    assert abs(removed - 0.6) <= 0.005


def test_batchnorm_statistics_are_reestimated_after_mask_changes():
    model = tfprune.models.small_cnn(widths=(8, 16), dense_units=16)
    gated = _compiled(tfprune.gate(model))
    x, y = _data(64, (8, 8, 1))
    one_batch = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(32)
    gated.fit(x, y, epochs=2, batch_size=16, verbose=0,
              validation_data=(x, y), callbacks=[
                  tfprune.TargetRatio(
                      0.7, calibration_data=one_batch, calibration_steps=3,
                      schedule=tfprune.PruningSchedule(warmup=0, ramp=0.5))])
    # The last masks were set at the start of the hold; the statistics are
    # those of the calibration batch through the masked network.
    bn = gated.get_layer("bn2")
    z = x[:32]
    for name in ("rescale", "conv1", "bn1", "relu1", "conv1_gate", "conv2"):
        z = gated.get_layer(name)(z, training=name.startswith("bn"))
    z = keras.ops.convert_to_numpy(z)
    np.testing.assert_allclose(bn.moving_mean.numpy(),
                               z.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               z.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-4)


def test_target_ratio_prunes_the_student_of_a_distiller():
    model = tfprune.models.small_cnn()
    teacher = tfprune.models.small_cnn(name="teacher")
    gated = tfprune.gate(model)
    distiller = keras.distillation.Distiller(
        teacher=teacher, student=gated,
        distillation_losses=tfprune.distillation_loss(4.0))
    distiller.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data(64, (8, 8, 1))
    distiller.fit(x, y, epochs=2, batch_size=16, verbose=0,
                  callbacks=[tfprune.TargetRatio(0.5)])
    removed = 1 - tfprune.measure(gated)["params"] / model.count_params()
    assert abs(removed - 0.5) <= 0.005


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_the_schedule(tmp_path):
    model = tfprune.models.small_cnn()
    gated = _compiled(tfprune.gate(model))
    x, y = _data(80, (8, 8, 1))
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    target = tfprune.TargetRatio(
        0.8, schedule=tfprune.PruningSchedule(warmup=0.1, ramp=0.5))
    with pytest.raises(RuntimeError, match="interrupted"):
        gated.fit(x, y, epochs=6, batch_size=16, verbose=0,
                  callbacks=[backup, target, StopAt(2)])
    ratio_at_stop = BudgetPlan(gated).removed_ratio()
    assert 0 < ratio_at_stop < 0.8

    # A new process would rebuild the model; the backup restores it.
    fresh = _compiled(tfprune.gate(model))
    recorder = RecordRatio(BudgetPlan(fresh))
    history = fresh.fit(x, y, epochs=6, batch_size=16, verbose=0,
                        callbacks=[backup, target, recorder])
    assert len(history.epoch) == 3  # epochs 3..5 only
    # The first resumed step is in the ramp, not back at warm-up.
    assert recorder.ratios[0] >= ratio_at_stop - 0.01
    assert abs(BudgetPlan(fresh).removed_ratio() - 0.8) <= 0.005


@pytest.mark.parametrize("kwargs, message", [
    ({"ratio": 0}, r"strictly between 0 and 1. Received: ratio=0"),
    ({"ratio": 1.0}, r"Received: ratio=1.0"),
    ({"ratio": -0.2}, r"Received: ratio=-0.2"),
    ({"ratio": "0.5"}, r"Received: ratio='0.5'"),
    ({"ratio": 0.5, "metric": "flops"}, r"Received: metric='flops'"),
    ({"ratio": 0.5, "warmup": 0.6, "ramp": 0.6}, r"warmup \+ ramp"),
    ({"ratio": 0.5, "ramp": 2}, r"Received: ramp=2"),
    ({"ratio": 0.5, "update_every": 0}, r"Received: update_every=0"),
    ({"ratio": 0.5, "round_to": 0}, r"Received: round_to=0"),
    ({"ratio": 0.5, "min_channels": -1}, r"Received: min_channels=-1"),
    ({"ratio": 0.5, "calibration_steps": 0}, r"Received: calibration_steps=0"),
    ({"ratio": 0.5, "saliency_decay": 1.5}, r"Received: saliency_decay=1.5"),
    ({"ratio": 0.5, "saliency_decay": 1},
     r"below 1 \(1 would ignore every new saliency\)\. "
     r"Received: saliency_decay=1"),
    ({"ratio": 0.5, "hold_updates": "yes"}, r"Received: hold_updates='yes'"),
    ({"ratio": 0.5, "cost_aware": 1}, r"Received: cost_aware=1"),
    ({"ratio": 0.5, "seed": 1.5}, r"Received: seed=1.5"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfprune.TargetRatio(**kwargs)


def test_prune_now_validates_ratio_and_metric():
    gated = tfprune.gate(tfprune.models.small_cnn())
    with pytest.raises(ValueError, match="Received: ratio=1.5"):
        tfprune.prune_now(gated, 1.5)
    with pytest.raises(ValueError, match="Received: metric='latency'"):
        tfprune.prune_now(gated, 0.5, metric="latency")


def test_get_config():
    cb = tfprune.TargetRatio(0.9, metric="macs",
                             ranking=tfprune.Ranking(round_to=4))
    config = cb.get_config()
    assert config["ratio"] == 0.9 and config["ranking"]["round_to"] == 4
    assert tfprune.TargetRatio(**config).get_config() == config
