"""Bad input across the public API: each gets a specific, helpful error,
and nothing partial is left on disk."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import app
from absl import flags

import tfprune
from tfprune import data as data_lib
from tfprune import deploy
from tfprune import pipeline


def _model():
    return tfprune.models.small_cnn(widths=(8, 16), dense_units=16)


def _x(n=16, shape=(8, 8, 1)):
    return np.random.default_rng(0).uniform(0, 16, (n, *shape)).astype(
        "float32")


def _y(n=16):
    return np.random.default_rng(0).integers(0, 10, n)


def _compiled(model):
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    return model


def _compiled_gated():
    return _compiled(tfprune.gate(_model()))


def _fit(gated, callback):
    gated.fit(_x(), _y(), epochs=1, batch_size=8, verbose=0,
              callbacks=[callback])


def _ds(x, y=None, batch=4):
    items = x if y is None else (x, y)
    return tf.data.Dataset.from_tensor_slices(items).batch(batch)


def _subclassed():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    return Net()


def _two_inputs():
    a, b = keras.Input((4,)), keras.Input((4,))
    return keras.Model([a, b], keras.layers.Dense(2)(
        keras.layers.Concatenate()([a, b])))


CASES = {
    # --- models ---------------------------------------------------------
    "gate: not a model": (
        lambda: tfprune.gate("vgg16"), tfprune.GraphError,
        "needs a functional or Sequential keras.Model; received str"),
    "gate: subclassed model": (
        lambda: tfprune.gate(_subclassed()), tfprune.GraphError,
        "A subclassed model hides its graph inside `call`"),
    "gate: Sequential without an input": (
        lambda: tfprune.gate(keras.Sequential([keras.layers.Dense(3)])),
        tfprune.GraphError, "start it with keras.Input"),
    "gate: nothing prunable": (
        lambda: tfprune.gate(keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3)])),
        tfprune.GraphError, "has nothing to prune"),
    "gate: a gated model again": (
        lambda: tfprune.gate(tfprune.gate(_model())), tfprune.GraphError,
        r"is already gated \(it has ChannelGate layers: \['conv1_gate'"),
    "gate: skip names an unknown layer": (
        lambda: tfprune.gate(_model(), skip=["conv9"]), ValueError,
        r"`skip` names layers that are not in model 'small_cnn': \['conv9'\]"),
    "gate: skip is a string": (
        lambda: tfprune.gate(_model(), skip="conv1"), TypeError,
        "`skip` must be a list of layer names. Received: skip='conv1'"),
    "prune_now: an ungated model": (
        lambda: tfprune.prune_now(_model(), 0.5), tfprune.GraphError,
        "has no ChannelGate layers: call tfprune.gate"),
    "shrink: an ungated model": (
        lambda: tfprune.shrink(_model()), tfprune.GraphError,
        "nothing to shrink"),
    "to_tflite: a gated model, never shrunk": (
        lambda: tfprune.to_tflite(tfprune.gate(_model()),
                                  representative=_x()),
        ValueError, r"Model 'small_cnn_gated' still holds 3 ChannelGate "
                    r"layers \(\['conv1_gate', 'conv2_gate'\] \.\.\.\): "
                    r"converted as it is, it keeps every channel.*Call "
                    r"`small = tfprune.shrink\(model\)` first"),
    "to_tflite: a gated model inside a Sequential": (
        lambda: tfprune.to_tflite(keras.Sequential(
            [keras.Input((8, 8, 1)), tfprune.gate(_model())],
            name="wrapper"), representative=_x()),
        ValueError, r"Model 'wrapper' still holds 3 ChannelGate layers"),
    "export: a gated model, never shrunk": (
        lambda: tfprune.export(tfprune.gate(_model()), "unused",
                               representative=_x()),
        ValueError, r"Model 'small_cnn_gated' still holds 3 ChannelGate "
                    r"layers.*tfprune.shrink\(model\)"),
    "to_tflite: a model with two inputs": (
        lambda: tfprune.to_tflite(_two_inputs(), representative=_x()),
        ValueError, "has 2 inputs; tfprune's data helpers support "
                    "single-input models"),
    # --- ratios, metrics, schedules --------------------------------------
    "ratio of 1": (
        lambda: tfprune.prune_now(tfprune.gate(_model()), 1.0), ValueError,
        r"strictly between 0 and 1. Received: ratio=1.0"),
    "ratio as a string": (
        lambda: tfprune.TargetRatio("0.9"), ValueError,
        "Received: ratio='0.9'"),
    "unknown metric": (
        lambda: tfprune.TargetRatio(0.5, metric="flops"), ValueError,
        r"Unknown metric. Expected one of \('params', 'macs', 'channels', "
        r"'flash', 'arena'\)"),
    "unknown importance": (
        lambda: tfprune.TargetRatio(
            0.5, ranking=tfprune.Ranking(importance="taylor")), ValueError,
        "Unknown importance.*Received: importance='taylor'"),
    "warm-up and ramp longer than training": (
        lambda: tfprune.TargetRatio(0.5, schedule=tfprune.PruningSchedule(
            warmup=0.5, ramp=0.6)), ValueError,
        r"`warmup \+ ramp` must be at most 1"),
    "update_every of zero": (
        lambda: tfprune.TargetRatio(0.5, schedule=tfprune.PruningSchedule(
            update_every=0)), ValueError,
        "`update_every` must be a positive integer. Received: "
        "update_every=0"),
    "a ratio no layout reaches": (
        lambda: tfprune.prune_now(tfprune.gate(_model()), 0.99,
                                  min_channels=8),
        tfprune.BudgetError, r"at most \d+\.\d\d% can be removed"),
    "a mask that is not 0/1": (
        lambda: tfprune.gate(_model()).get_layer("conv1_gate").set_mask(
            [1, 0.5, 1, 1, 1, 1, 1, 1]),
        ValueError, r"a mask holds only 0 and 1. Received values "
                    r"\[0.5, 1.0\]"),
    # --- data: shapes, dtypes, emptiness ---------------------------------
    "representative data of the wrong shape": (
        lambda: tfprune.to_tflite(_model(), representative=_x(4, (9, 9, 1))),
        ValueError, r"examples of shape \(9, 9, 1\), but model 'small_cnn' "
                    r"expects inputs of shape \(8, 8, 1\)"),
    "representative data of strings": (
        lambda: tfprune.to_tflite(_model(), representative=np.full(
            (2, 8, 8, 1), "a")),
        ValueError, "has dtype <U1, but model 'small_cnn' takes numbers"),
    "empty representative data": (
        lambda: tfprune.to_tflite(_model(), representative=_ds(_x(0))),
        ValueError, "The representative data is empty"),
    "representative data as a list": (
        lambda: tfprune.to_tflite(_model(), representative=[1, 2]),
        TypeError, "Expected a NumPy array, a tuple \\(inputs, labels\\), a "
                   "tf.data.Dataset or a generator function. Received: list"),
    "evaluation data with more labels than inputs": (
        lambda: tfprune.evaluate_tflite(b"", (_x(4), _y(5)), _model()),
        ValueError, r"The evaluation data has 4 inputs but 5 labels: inputs "
                    r"and labels must hold the same examples.*Received: "
                    r"inputs of shape \(4, 8, 8, 1\), labels of shape "
                    r"\(5,\)"),
    "evaluation data with fewer labels than inputs, as lists": (
        lambda: tfprune.evaluate_tflite(b"", (_x(3).tolist(), [1, 2]),
                                        _model()),
        ValueError, "The evaluation data has 3 inputs but 2 labels"),
    "evaluation data with a single label": (
        lambda: tfprune.evaluate_tflite(b"", (_x(1), np.int64(3)),
                                        _model()),
        ValueError, "has 1 input but a single label without a batch axis"),
    "a dataset batch with fewer labels than inputs": (
        lambda: tfprune.evaluate_tflite(b"", tf.data.Dataset.zip((
            _ds(_x(8)), tf.data.Dataset.from_tensor_slices(_y(6)).batch(3))),
            _model()),
        ValueError, "The evaluation data has 4 inputs but 3 labels"),
    "export evaluation with more labels than inputs": (
        lambda: tfprune.export(_model(), "unused", representative=_x(),
                               evaluation=(_x(4), _y(5))),
        ValueError, "The evaluation data has 4 inputs but 5 labels"),
    "representative (inputs, labels) of different lengths": (
        lambda: tfprune.to_tflite(_model(), representative=(_x(4), _y(5))),
        ValueError, "The representative data has 4 inputs but 5 labels"),
    "calibration data as a string": (
        lambda: tfprune.TargetRatio(0.5, calibration_data="train/"),
        ValueError, "`calibration_data` must be training inputs.*Received: "
                    "str"),
    "calibration data of the wrong shape": (
        lambda: _fit(_compiled_gated(), tfprune.TargetRatio(
            0.5, calibration_data=_x(4, (3, 3, 1)))),
        ValueError, r"The calibration data has examples of shape \(3, 3, 1\)"),
    "empty calibration data": (
        lambda: _fit(_compiled_gated(), tfprune.TargetRatio(
            0.5, calibration_data=_ds(_x(0)))),
        ValueError, "The calibration data is empty"),
    "TargetRatio on an ungated model": (
        lambda: _fit(_compiled(_model()), tfprune.TargetRatio(0.5)),
        tfprune.GraphError, "Model 'small_cnn' has no ChannelGate layers: "
                            "call tfprune.gate"),
    "training data of unknown length": (
        lambda: pipeline.train_prune_export(
            _model(), _ds(_x(), _y()).filter(lambda a, b: True),
            _ds(_x(), _y()), "unused", epochs=1),
        ValueError, "`train` must have a known number of batches"),
    "empty training data": (
        lambda: pipeline.train_prune_export(
            _model(), _ds(_x(0), _y(0)), _ds(_x(), _y()), "unused",
            epochs=1),
        ValueError, "`train` is empty"),
    "EpochShuffle on a NumPy array": (
        lambda: tfprune.EpochShuffle()(_x(), 16), TypeError,
        "EpochShuffle shuffles a tf.data.Dataset. Received: ndarray"),
    # --- targets, runtimes, .tflite bytes --------------------------------
    "unknown export target": (
        lambda: tfprune.to_tflite(_model(), representative=_x(),
                                  target="gpu"),
        ValueError, r"Unknown target. Expected one of \('mcu', 'mobile'\)"),
    "unknown runtime": (
        lambda: tfprune.evaluate_tflite(b"", (_x(), _y()), _model(),
                                        runtime="tpu"),
        ValueError, r"Unknown runtime. Expected one of \('litert', 'tflm'\)"),
    "bytes that are not a .tflite model": (
        lambda: tfprune.evaluate_tflite(b"<html>not found</html>",
                                        (_x(), _y()), _model()),
        ValueError, "are not a TFLite model .*identifier 'TFL3'"),
    "a .tflite path instead of its bytes": (
        lambda: tfprune.convert.model_ops("model.tflite"), TypeError,
        "Expected the .tflite model as bytes"),
    "labels that do not match the outputs": (
        lambda: tfprune.export(_model(), "unused", representative=_x(),
                               labels=["cat", "dog"]),
        ValueError, "has 10 outputs but 2 labels were given"),
    "export without representative data": (
        lambda: tfprune.export(_model(), "unused"), ValueError,
        "`representative` data is needed"),
    "an arena budget of zero bytes": (
        lambda: tfprune.TargetRatio(
            device=tfprune.DeviceBudget(arena_bytes=0)), ValueError,
        r"`arena_bytes` is a budget .* Received: arena_bytes=0"),
    "a flash budget given as text": (
        lambda: tfprune.prune_now(tfprune.gate(_model()), flash_bytes="64k"),
        ValueError, r"Received: flash_bytes='64k'"),
    "a latency budget without a table in TargetRatio": (
        lambda: _compiled_gated().fit(
            _x(), _y(), epochs=1, verbose=0,
            callbacks=[tfprune.TargetRatio(
                device=tfprune.DeviceBudget(latency_ms=5.0))]),
        ValueError, "`latency_ms` needs `latency_table`"),
    "an unknown latency runtime": (
        lambda: tfprune.profile_latency(_model(), runtime="gpu"), ValueError,
        r"Unknown runtime.*Received: runtime='gpu'"),
    "a device preset that does not exist": (
        lambda: tfprune.export(_model(), "unused", representative=_x(),
                               device="cortex-m99"),
        ValueError, r"Unknown device 'cortex-m99'"),
    "a device that is not a tfprune.Device": (
        lambda: tfprune.register_device({"name": "board"}), TypeError,
        r"must be a tfprune.Device. Received: \{'name': 'board'\}"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gets_a_specific_error(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call, error, message = CASES[name]
    with pytest.raises(error, match=message):
        call()
    assert os.listdir(tmp_path) == []  # nothing written, not even partly


@pytest.mark.parametrize("call, what", [
    (lambda: tfprune.TargetRatio(0.5, calibration_data=(_x(4), _y(5))),
     "calibration data"),
    (lambda: tfprune.gather_saliency(_compiled_gated(), (_x(4), _y(5))),
     "saliency data"),
], ids=["TargetRatio", "gather_saliency"])
def test_labelled_arrays_of_different_lengths_elsewhere(call, what):
    with pytest.raises(ValueError,
                       match=f"The {what} has 4 inputs but 5 labels"):
        call()


def test_export_into_a_path_that_is_a_file(tmp_path):
    target = tmp_path / "firmware"
    target.write_text("my notes")
    with pytest.raises(ValueError, match="`out_dir` must be a folder, but "
                                         ".*firmware' is a file"):
        tfprune.export(_model(), str(target), representative=_x())
    assert target.read_text() == "my notes"
    assert sorted(os.listdir(tmp_path)) == ["firmware"]


def test_export_that_fails_while_writing_leaves_nothing(tmp_path,
                                                        monkeypatch):
    written = []

    def fail_on_second_file(directory, name, content, binary=False):
        if written:
            raise OSError(30, "Read-only file system", name)
        written.append(name)
        with open(os.path.join(directory, name), "wb" if binary else "w") \
                as f:
            f.write(content)

    monkeypatch.setattr(deploy, "_write", fail_on_second_file)
    with pytest.raises(OSError, match="Read-only file system"):
        tfprune.export(_model(), str(tmp_path / "out"), representative=_x())
    assert written and os.listdir(tmp_path) == []


def test_export_into_a_read_only_folder_keeps_old_files(tmp_path,
                                                        monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"old")

    def read_only(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(deploy.os, "replace", read_only)
    with pytest.raises(PermissionError):
        tfprune.export(_model(), str(out), representative=_x())
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert (out / "model.tflite").read_bytes() == b"old"


def test_atomic_write_that_fails_leaves_no_file(tmp_path):
    def half_then_fail(path):
        with open(path, "w") as f:
            f.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        pipeline.write_atomically(str(tmp_path / "report.json"),
                                  half_then_fail)
    assert os.listdir(tmp_path) == []


def test_cifar10_folder_that_does_not_exist_offline(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(FileNotFoundError,
                       match="holds no train-\\*.tfrecord shards, and "
                             "tensorflow_datasets could not load"):
        data_lib.cifar10_splits(str(tmp_path / "missing"))


@pytest.mark.parametrize("argv, message", [
    (["--out_dir=o", "--representative=r.npy"], "--model is required"),
    (["--model=missing.keras", "--out_dir=o", "--representative=r.npy"],
     "--model: no file at 'missing.keras'"),
])
def test_command_line_bad_paths(argv, message, tmp_path, monkeypatch):
    from tfprune import __main__ as cli

    monkeypatch.chdir(tmp_path)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfprune", *argv])
    try:
        with pytest.raises(app.UsageError, match=message):
            cli._main(["tfprune", "export"])
    finally:
        flags.FLAGS.unparse_flags()
    assert os.listdir(tmp_path) == []
