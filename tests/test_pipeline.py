"""train_prune_export: the schedule options the recipes and benchmarks use."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.pipeline import train_prune_export


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images[..., None].astype("float32")
    y = digits.target.astype("int32")
    train = tf.data.Dataset.from_tensor_slices((x[:600], y[:600])).batch(50)
    val = tf.data.Dataset.from_tensor_slices((x[1500:], y[1500:])).batch(100)
    return train, val


def test_shrink_for_hold_trains_the_small_model_in_the_hold(tmp_path):
    train, val = _digits()
    model = tfprune.models.small_cnn()
    report = train_prune_export(
        model, train, val, str(tmp_path), target=0.8, epochs=6,
        learning_rate=0.05, tflm_samples=0, shrink_for_hold=True,
        warmup=0.1, ramp=0.6, verbose=0)
    assert report["shrink_for_hold"]
    history = report["history"]
    assert len(history["val_accuracy"]) == 6
    assert len(history["seconds"]) == 6
    # warm-up 10% + ramp 60% of 6 epochs: the last 1 epoch trains the
    # shrunk model; the ratio stays at the target.
    assert abs(history["pruned_params"][-1] - 0.8) <= 0.005
    assert abs(report["removed"]["params"] - 0.8) <= 0.005
    assert report["val_accuracy_float"] > 0.5
    saved = keras.models.load_model(tmp_path / "model.keras")
    assert saved.count_params() == report["after"]["params"]
    assert os.path.exists(tmp_path / "masked.keras")
    assert json.load(open(tmp_path / "report.json"))["shrink_for_hold"]


class RecordRate(keras.callbacks.Callback):
    """The learning rate at the first step of every epoch."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        self.rates.append(float(keras.ops.convert_to_numpy(
            optimizer.learning_rate)))


@pytest.mark.parametrize("shrink_for_hold", [False, True])
def test_lr_rewind_restarts_the_rate_for_the_hold(tmp_path, shrink_for_hold):
    train, val = _digits()  # 12 steps per epoch
    record = RecordRate()
    report = train_prune_export(
        tfprune.models.small_cnn(), train, val, str(tmp_path), target=0.7,
        epochs=10, learning_rate=0.05, tflm_samples=0, lr_rewind=0.3,
        warmup=0.1, ramp=0.6,
        shrink_for_hold=shrink_for_hold, callbacks=[record], verbose=0)
    plain = tfprune.pipeline.learning_rate_schedule(0.05, 120, 12)
    # Warm-up 10% + ramp 60%: the masks are final from epoch 7 (0-based);
    # there the rate goes back to the one of step 36 (30% of training).
    for epoch in range(7):
        assert record.rates[epoch] == pytest.approx(
            float(plain(epoch * 12)), rel=1e-5)
    assert record.rates[7] == pytest.approx(float(plain(36)), rel=1e-5)
    assert record.rates[7] > 2 * float(plain(84))
    assert record.rates[7] > record.rates[8] > record.rates[9] > 0
    assert report["schedule"]["lr_rewind"] == 0.3
    assert abs(report["removed"]["params"] - 0.7) <= 0.005
    assert report["val_accuracy_float"] > 0.5


@pytest.mark.parametrize("kwargs, message", [
    ({"target": 0.0, "lr_rewind": 0.3}, "without a budget there is none"),
    ({"lr_rewind": 0.7}, "Received: lr_rewind=0.7"),
    ({"lr_rewind": -0.1}, "Received: lr_rewind=-0.1"),
    ({"lr_rewind": "0.3"}, "Received: lr_rewind='0.3'"),
    ({"lr_rewind": 0.3, "ramp": 0.9}, "leaves none of the 4 epochs"),
    ({"teacher": "snapshot"}, "Received: teacher='snapshot'"),
    ({"teacher": "warmup", "target": 0.0}, "without a budget nothing"),
    ({"teacher": "warmup", "warmup": 0.1}, "warmup=0.1 of epochs=4 gives 0.4"),
    ({"teacher": "unpruned", "target": 0.0}, "without a budget nothing"),
    ({"teacher": "initial", "target": 0.0}, "without a budget nothing"),
    ({"mirror_teacher": True}, "give `teacher` too"),
    ({"mirror_teacher": "yes", "teacher": "initial"},
     "Received: mirror_teacher='yes'"),
    # A bad budget fails before the teacher trains.
    ({"teacher": "unpruned", "target": 1.5}, "Received: ratio=1.5"),
])
def test_bad_lr_rewinds_and_teachers(tmp_path, kwargs, message):
    train, val = _digits()
    settings = {"target": 0.7, "epochs": 4, "tflm_samples": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        train_prune_export(tfprune.models.small_cnn(), train, val,
                           str(tmp_path), verbose=0, **settings)
    assert not os.listdir(tmp_path)


def test_distillation_loss_is_the_tempered_kl_of_the_softmaxes():
    rng = np.random.default_rng(0)
    teacher = 5 * rng.normal(size=(8, 10)).astype("float32")
    student = rng.normal(size=(8, 10)).astype("float32")
    t = 4.0

    def softmax(logits):
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p, q = softmax(teacher / t), softmax(student / t)
    expected = t ** 2 * np.mean(np.sum(p * np.log(p / q), -1))
    loss = tfprune.distillation_loss(t)
    assert np.isclose(float(loss.compute_loss(teacher, student)), expected,
                      rtol=1e-4)
    assert abs(float(loss.compute_loss(teacher, teacher))) < 1e-4


def test_a_mirror_teacher_of_a_signal_model_fails_before_training(
        tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(
        (x, rng.integers(0, 4, size=64))).batch(16)
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(hidden),
                        name="signal")
    with pytest.raises(ValueError, match=r"'signal'.*\[\(None, 16\)\]"):
        train_prune_export(model, data, data, str(tmp_path), target=0.5,
                           epochs=2, teacher="unpruned", mirror_teacher=True,
                           tflm_samples=0, verbose=0)
    assert not os.listdir(tmp_path)  # the unpruned teacher did not train


@pytest.mark.parametrize("temperature", [0, -1.0, "4", True])
def test_bad_distillation_temperatures(temperature):
    with pytest.raises(ValueError,
                       match=f"Received: temperature={temperature!r}"):
        tfprune.distillation_loss(temperature)


def test_distillation_from_a_teacher(tmp_path):
    train, val = _digits()
    teacher = tfprune.models.small_cnn(name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    teacher.fit(train, epochs=2, verbose=0)
    report = train_prune_export(
        tfprune.models.small_cnn(), train, val, str(tmp_path), target=0.7,
        epochs=3, learning_rate=0.05, tflm_samples=0, teacher=teacher,
        verbose=0)
    assert report["distillation"] == {"teacher": "teacher",
                                      "temperature": 4.0, "weight": 0.5}
    assert abs(report["removed"]["params"] - 0.7) <= 0.005
    assert np.isfinite(report["history"]["loss"]).all()
    # The distillation term is a KL divergence: never negative.
    assert min(report["history"]["distillation_loss"]) >= 0


@pytest.mark.parametrize("shrink_for_hold", [False, True])
def test_distillation_from_the_warmup_snapshot(tmp_path, shrink_for_hold):
    train, val = _digits()
    report = train_prune_export(
        tfprune.models.small_cnn(), train, val, str(tmp_path), target=0.7,
        epochs=6, learning_rate=0.05, tflm_samples=0, teacher="warmup",
        warmup=0.34, ramp=0.33, shrink_for_hold=shrink_for_hold, verbose=0)
    # Warm-up: epochs 0-1 (34% of 6 = 2.04); the snapshot starts epoch 2.
    assert report["distillation"]["teacher"] == (
        "warm-up snapshot (start of epoch 3)")
    losses = report["history"]["distillation_loss"]
    assert losses[:2] == [0.0, 0.0]
    assert min(losses[2:]) > 0
    assert abs(report["removed"]["params"] - 0.7) <= 0.005
    assert report["val_accuracy_float"] > 0.5
    assert os.path.exists(tmp_path / "teacher.keras") == shrink_for_hold


class InterruptAt(keras.callbacks.Callback):
    """Raises as `epoch` begins (the previous one is backed up), keeping the
    teacher's weights."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.teacher = self.model.teacher.get_weights()
            raise KeyboardInterrupt


class RecordTeacher(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self, "weights"):  # after BackupAndRestore restored
            self.weights = self.model.teacher.get_weights()


def test_a_run_distilled_from_its_snapshot_resumes(tmp_path):
    train, val = _digits()
    settings = dict(target=0.7, epochs=5, learning_rate=0.05,
                    tflm_samples=0, teacher="warmup", warmup=0.4, ramp=0.4,
                    verbose=0)
    interrupt = InterruptAt(3)  # the snapshot started epoch 2
    with pytest.raises(KeyboardInterrupt):
        train_prune_export(tfprune.models.small_cnn(), train, val,
                           str(tmp_path), callbacks=[interrupt], **settings)
    record = RecordTeacher()
    report = train_prune_export(tfprune.models.small_cnn(), train, val,
                                str(tmp_path), callbacks=[record], **settings)
    for restored, taken in zip(record.weights, interrupt.teacher):
        np.testing.assert_array_equal(restored, taken)
    # Epochs 3 and 4 ran after the resume, both distilled.
    assert len(report["history"]["loss"]) == 2
    assert min(report["history"]["distillation_loss"]) > 0
    assert abs(report["removed"]["params"] - 0.7) <= 0.005


class InterruptDistillation(keras.callbacks.Callback):
    """Raises as the distilled training's epoch `epoch` begins (the
    teacher's own training, also given this callback, runs through)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch and isinstance(
                self.model, keras.distillation.Distiller):
            raise KeyboardInterrupt


def test_distillation_from_an_unpruned_copy_trained_first(tmp_path):
    train, val = _digits()
    settings = dict(target=0.7, epochs=3, learning_rate=0.05,
                    tflm_samples=0, teacher="unpruned", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train_prune_export(tfprune.models.small_cnn(), train, val,
                           str(tmp_path),
                           callbacks=[InterruptDistillation(1)], **settings)
    teacher_dir = tmp_path / "teacher"
    teacher_report = json.load(open(teacher_dir / "report.json"))
    assert teacher_report["removed"]["params"] == 0
    assert len(teacher_report["history"]["loss"]) == 3  # the same epochs
    trained_at = os.path.getmtime(teacher_dir / "model.keras")
    report = train_prune_export(tfprune.models.small_cnn(), train, val,
                                str(tmp_path), **settings)
    # The rerun reused the teacher and resumed the pruned run at epoch 1.
    assert os.path.getmtime(teacher_dir / "model.keras") == trained_at
    assert len(report["history"]["loss"]) == 2
    assert report["distillation"]["teacher"] == (
        f"unpruned {teacher_report['model']} trained first in {teacher_dir} "
        f"({teacher_report['val_accuracy_float']:.2%} validation accuracy)")
    assert min(report["history"]["distillation_loss"]) > 0
    assert abs(report["removed"]["params"] - 0.7) <= 0.005


def test_refuses_a_stale_teacher_of_another_model(tmp_path):
    train, val = _digits()
    os.makedirs(tmp_path / "teacher")
    tfprune.models.small_cnn(widths=(8, 16)).save(
        tmp_path / "teacher" / "model.keras")
    with pytest.raises(ValueError, match="holds another model"):
        train_prune_export(tfprune.models.small_cnn(), train, val,
                           str(tmp_path), target=0.7, epochs=2,
                           tflm_samples=0, teacher="unpruned", verbose=0)


REPORT_KEYS = {
    "model", "target", "metric", "flash_bytes", "arena_bytes", "latency_ms",
    "latency_table", "importance", "schedule", "prune_options",
    "distillation", "epochs", "before", "after", "removed", "layer_widths",
    "val_accuracy_float", "val_accuracy_int8_litert",
    "val_accuracy_int8_tflm", "tflm_samples", "tflite_bytes",
    "tflm_arena_bytes", "tflite_ops", "shrink_for_hold",
    "shrink_during_training", "history", "seconds"}


def test_the_report_keeps_its_keys(tmp_path):
    """The keys the recipes and benchmarks read, as before the pipeline
    was split into steps."""
    train, val = _digits()
    report = train_prune_export(
        tfprune.models.small_cnn(), train, val, str(tmp_path), target=0.5,
        epochs=2, tflm_samples=4, verbose=0)
    assert set(report) == REPORT_KEYS
    assert set(report["schedule"]) == {"warmup", "ramp", "learning_rate",
                                       "lr_warmup_epochs", "lr_rewind"}
    assert report["val_accuracy_int8_tflm"] is not None
    assert json.load(open(tmp_path / "report.json")).keys() == report.keys()


def test_every_library_function_fits_on_a_screen():
    """No function in tfprune/ (the pipeline subpackage included) is over
    80 lines, docstring and all."""
    import ast
    import pathlib

    long = []
    for path in pathlib.Path(tfprune.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        long += [(path.name, node.name, node.end_lineno - node.lineno + 1)
                 for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.end_lineno - node.lineno + 1 > 80]
    assert not long


def test_the_default_run_rebuilds_the_network_during_training(tmp_path):
    train, val = _digits()
    report = train_prune_export(
        tfprune.models.small_cnn(), train, val, str(tmp_path), target=0.7,
        epochs=6, learning_rate=0.05, tflm_samples=0, verbose=0)
    assert report["shrink_during_training"]
    assert abs(report["removed"]["params"] - 0.7) <= 0.005
    # Widths are reported against the unpruned network.
    assert report["layer_widths"]["conv2"][1] == 64
