"""Distillation: the SnapshotTeacher callback (a pruned student taught by
its own snapshot) and the mirror-averaged teacher."""

import keras
import numpy as np
import pytest

import tfprune


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=n).astype("int32")
    return x, y


def _distiller(teacher=None):
    gated = tfprune.gate(tfprune.models.small_cnn())
    teacher = teacher or keras.models.clone_model(gated)
    distiller = keras.distillation.Distiller(
        teacher=teacher, student=gated,
        distillation_losses=tfprune.distillation_loss(4.0),
        student_loss_weight=1.0)
    distiller.compile(
        keras.optimizers.SGD(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return distiller


class RecordStudent(keras.callbacks.Callback):
    """Keeps the student's weights at the start of `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights = self.model.student.get_weights()


def test_the_teacher_is_the_student_at_the_snapshot_epoch():
    distiller = _distiller()
    record = RecordStudent(2)
    x, y = _data()
    history = distiller.fit(
        x, y, epochs=4, batch_size=16, verbose=0, validation_data=(x, y),
        callbacks=[
            tfprune.SnapshotTeacher(epoch=2), record,
            tfprune.TargetRatio(0.5, schedule=tfprune.PruningSchedule(
                warmup=0.5, ramp=0.25))]).history
    for taught, recorded in zip(distiller.teacher.get_weights(),
                                record.weights):
        np.testing.assert_array_equal(taught, recorded)
    # The student kept training (and was pruned); the frozen teacher not.
    assert any(not np.array_equal(a, b) for a, b in zip(
        distiller.student.get_weights(), record.weights))
    losses = history["distillation_loss"]
    assert losses[:2] == [0.0, 0.0]
    assert min(losses[2:]) > 0
    # Validation switches with training.
    assert history["val_distillation_loss"][:2] == [0.0, 0.0]
    assert min(history["val_distillation_loss"][2:]) > 0
    assert distiller.student_loss_weight == 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"epoch": 0}, "Received: epoch=0"),
    ({"epoch": 2.0}, "Received: epoch=2.0"),
    ({"epoch": True}, "Received: epoch=True"),
    ({"epoch": 2, "weight": 0}, "Received: weight=0"),
    ({"epoch": 2, "weight": 1.5}, "Received: weight=1.5"),
    ({"epoch": 2, "weight": "0.5"}, "Received: weight='0.5'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfprune.SnapshotTeacher(**kwargs)


def test_refuses_a_model_that_is_not_a_distiller():
    model = tfprune.gate(tfprune.models.small_cnn())
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    x, y = _data(16)
    with pytest.raises(ValueError, match="given Functional 'small_cnn"):
        model.fit(x, y, verbose=0,
                  callbacks=[tfprune.SnapshotTeacher(epoch=1)])


def test_refuses_a_teacher_of_another_architecture():
    other = tfprune.models.small_cnn(name="other", widths=(4, 4))
    distiller = _distiller(teacher=other)
    x, y = _data(16)
    with pytest.raises(ValueError, match="teacher 'other'.*clone_model"):
        distiller.fit(x, y, verbose=0,
                      callbacks=[tfprune.SnapshotTeacher(epoch=1)])


def test_a_mirror_averaged_teacher_averages_the_two_views(tmp_path):
    teacher = tfprune.models.small_cnn()
    x, _ = _data(8)
    averaged = tfprune.distillation.mirror_averaged(teacher)
    expected = (teacher.predict(x, verbose=0)
                + teacher.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(averaged.predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    # The same weights, no new ones; wrapping twice changes nothing.
    assert len(averaged.weights) == len(teacher.weights)
    assert tfprune.distillation.mirror_averaged(averaged) is averaged
    averaged.save(tmp_path / "teacher.keras")
    loaded = keras.models.load_model(tmp_path / "teacher.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)


def test_a_mirror_averaged_teacher_needs_images():
    inputs = keras.Input((640,))
    signal = keras.Model(inputs, keras.layers.Dense(10)(inputs),
                         name="autoencoder")
    with pytest.raises(ValueError, match=r"'autoencoder'.*\[\(None, 640\)\]"):
        tfprune.distillation.mirror_averaged(signal)
