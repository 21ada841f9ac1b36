"""export(): verified MCU and Android deliverables, written atomically."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from conftest import REPO, collapsed_model, train_digits
from tfprune import deploy as export_lib
from tfprune import firmware
from tfprune import progress


@pytest.fixture(scope="module")
def trained():
    return train_digits(0.6, epochs=6)


@pytest.fixture(scope="module")
def mcu_export(trained, tmp_path_factory):
    model, x, y = trained
    out = tmp_path_factory.mktemp("mcu") / "firmware"
    report = tfprune.export(model, str(out), target="mcu",
                            representative=x[:100],
                            labels=[str(d) for d in range(10)],
                            evaluation=(x[1500:1600], y[1500:1600]))
    return out, report


def test_mcu_files_and_report(mcu_export):
    out, report = mcu_export
    assert sorted(os.listdir(out)) == [
        "Makefile", "board_timer.h", "deploy_report.json", "labels.txt",
        "main.cc", "model.tflite", "model_data.cc", "model_data.h",
        "op_resolver.h", "sample_input.cc", "sample_input.h"]
    assert json.load(open(out / "deploy_report.json")) == report
    assert report["tflite_bytes"] == os.path.getsize(out / "model.tflite")
    assert report["arena_bytes"] >= report["arena_bytes_measured"] * 1.1
    assert report["accuracy_float"] > 0.8
    assert abs(report["accuracy_int8_litert"] - report["accuracy_float"]) < .05
    assert abs(report["accuracy_int8_tflm"] - report["accuracy_int8_litert"]) \
        < 0.05
    assert report["input"]["dtype"] == "int8"


def test_c_array_compiles_and_holds_the_model(mcu_export, tmp_path):
    out, _ = mcu_export
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-c",
                    str(out / "model_data.cc"), "-o",
                    str(tmp_path / "model_data.o")], check=True)
    source = (out / "model_data.cc").read_text()
    assert "alignas(16)" in source
    assert firmware.parse_c_array(source) == (out / "model.tflite").read_bytes()


def test_resolver_registers_exactly_the_model_ops(mcu_export):
    out, report = mcu_export
    header = (out / "op_resolver.h").read_text()
    assert f"constexpr int kNumOps = {len(report['ops'])};" in header
    assert f"kTensorArenaSize = {report['arena_bytes']};" in header
    registered = [line.split("// ")[1] for line in header.splitlines()
                  if "resolver.Add" in line]
    assert registered == report["ops"]
    # int8-only kernels where TFLite Micro has them, the general ones else.
    assert "resolver.AddConv2D(tflite::Register_CONV_2D_INT8());" in header
    assert '#include "tensorflow/lite/micro/kernels/conv.h"' in header
    assert "resolver.AddFullyConnected(" \
        "tflite::Register_FULLY_CONNECTED_INT8());" in header
    assert "resolver.AddReshape();" in header


def test_tflm_runs_from_the_c_array_with_the_reported_arena(mcu_export):
    from tflite_micro.python.tflite_micro import runtime

    out, report = mcu_export
    model_bytes = firmware.parse_c_array((out / "model_data.cc").read_text())
    for arena in (report["arena_bytes"], report["arena_bytes_measured"]):
        interpreter = runtime.Interpreter.from_bytes(model_bytes,
                                                     arena_size=arena)
        interpreter.set_input(np.zeros((1, 8, 8, 1), np.int8), 0)
        interpreter.invoke()
        assert interpreter.get_output(0).shape == (1, 10)
    with pytest.raises(RuntimeError, match="allocate"):
        runtime.Interpreter.from_bytes(
            model_bytes, arena_size=report["arena_bytes_measured"] - 16)


def test_export_to_a_device_says_how_it_fits(trained, tmp_path, capsys,
                                             monkeypatch):
    model, x, _ = trained
    report = tfprune.export(model, str(tmp_path / "fw"),
                            representative=x[:50], device="cortex-m4")
    fit = report["device"]
    line = (f"Fits cortex-m4: flash {report['tflite_bytes']:,} of 1,048,576 "
            f"bytes ({fit['flash']['used_share']:.1%}, "
            f"{fit['flash']['left']:,} left); RAM arena "
            f"{report['arena_bytes']:,} of 262,144 bytes "
            f"({fit['ram']['used_share']:.1%}, {fit['ram']['left']:,} left).")
    assert capsys.readouterr().out == line + "\n"
    assert export_lib.fit_summary(fit) == line
    # Without a device nothing is printed; with Keras' interactive logging
    # off the line goes to the absl log instead, as Keras' own output does.
    tfprune.export(model, str(tmp_path / "plain"), representative=x[:50])
    assert capsys.readouterr().out == ""
    # (The converter resets absl's verbosity, so the call is recorded.)
    logged = []
    monkeypatch.setattr(progress.logging, "info",
                        lambda message, *_, **__: logged.append(message))
    keras.config.disable_interactive_logging()
    try:
        tfprune.export(model, str(tmp_path / "quiet"),
                       representative=x[:50], device="cortex-m4")
    finally:
        keras.config.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    fits = [m for m in map(str, logged) if m.startswith("Fits")]
    assert len(fits) == 1 and fits[0].startswith("Fits cortex-m4: flash ")


def test_mobile_export_without_tflite_support(trained, tmp_path):
    model, x, _ = trained
    with pytest.warns(UserWarning, match="labels.txt is written"):
        report = tfprune.export(model, str(tmp_path / "app"),
                                target="mobile", representative=x[:50],
                                labels=[f"digit {d}" for d in range(10)])
    assert sorted(os.listdir(tmp_path / "app")) == [
        "deploy_report.json", "labels.txt", "model.tflite"]
    assert report["metadata"] is False and report["xnnpack"] is True
    assert (tmp_path / "app" / "labels.txt").read_text().splitlines()[3] == \
        "digit 3"


def test_mobile_export_warns_when_xnnpack_refuses_the_model(tmp_path):
    model, x = collapsed_model()
    with pytest.warns(UserWarning, match="setUseXNNPACK"):
        report = tfprune.export(model, str(tmp_path / "app"),
                                target="mobile", representative=x)
    assert report["xnnpack"] is False
    assert json.load(open(tmp_path / "app" / "deploy_report.json"))[
        "xnnpack"] is False


def test_failed_export_leaves_nothing(trained, tmp_path, monkeypatch):
    model, x, _ = trained
    out = tmp_path / "fw"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"previous model")

    def broken(*_, **__):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_lib.convert, "tflm_arena_bytes", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        tfprune.export(model, str(out), target="mcu", representative=x[:20])
    assert os.listdir(out) == ["model.tflite"]
    assert (out / "model.tflite").read_bytes() == b"previous model"
    assert os.listdir(tmp_path) == ["fw"]  # no staging folder left

    with pytest.raises(RuntimeError, match="disk full"):
        tfprune.export(model, str(tmp_path / "new"), target="mcu",
                       representative=x[:20])
    assert not (tmp_path / "new").exists()


def test_operators_tflm_lacks_are_rejected(tmp_path):
    inputs = keras.Input((4, 4, 2))
    x = layers.Conv2D(4, 3, padding="same")(inputs)
    x = layers.UpSampling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    data = np.random.default_rng(0).normal(size=(20, 4, 4, 2)).astype("f4")
    with pytest.raises(tfprune.ExportError, match="TILE"):
        tfprune.export(model, str(tmp_path / "fw"), target="mcu",
                       representative=data)
    assert not (tmp_path / "fw").exists()


def test_bad_arguments(trained, tmp_path):
    model, x, _ = trained
    with pytest.raises(ValueError, match="Received: target='watch'"):
        tfprune.export(model, str(tmp_path), target="watch",
                       representative=x[:5])
    with pytest.raises(ValueError, match="10 outputs but 3 labels"):
        tfprune.export(model, str(tmp_path), representative=x[:5],
                       labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="`representative` data is needed"):
        tfprune.export(model, str(tmp_path))
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\)"):
        tfprune.export(model, str(tmp_path),
                       representative=np.zeros((4, 8, 8, 3), "float32"))


def test_command_line(trained, tmp_path):
    model, x, y = trained
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "calib.npy", x[:50])
    np.savez(tmp_path / "val.npz", x=x[1500:1550], y=y[1500:1550])
    result = subprocess.run(
        [sys.executable, "-m", "tfprune", "export",
         f"--model={tmp_path / 'm.keras'}", f"--out_dir={tmp_path / 'fw'}",
         "--target=mcu", f"--representative={tmp_path / 'calib.npy'}",
         f"--evaluation={tmp_path / 'val.npz'}"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Exported to" in result.stdout
    report = json.load(open(tmp_path / "fw" / "deploy_report.json"))
    assert report["evaluation_examples"] == 50


def test_command_line_usage_errors(tmp_path):
    for args, message in ((["frobnicate"], "Expected one command"),
                          (["export"], "--model is required")):
        result = subprocess.run(
            [sys.executable, "-m", "tfprune", *args], cwd=REPO,
            capture_output=True, text=True, timeout=300,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert result.returncode != 0
        assert message in result.stderr + result.stdout


TFLITE_SUPPORT = os.environ.get(
    "TFPRUNE_TFLITE_SUPPORT", os.path.join(REPO, ".tflite_support"))

_READ_BACK = """
import json, sys
import numpy as np, tfprune
from sklearn.datasets import load_digits
from tensorflow_lite_support.metadata.python import metadata
x = load_digits().images[..., None].astype("float32")
model = tfprune.models.small_cnn(widths=(8, 8), dense_units=16)
report = tfprune.export(model, sys.argv[1], target="mobile",
                        representative=x[:20],
                        labels=[f"digit {d}" for d in range(10)])
data = open(sys.argv[1] + "/model.tflite", "rb").read()
shown = metadata.MetadataDisplayer.with_model_buffer(data)
print(json.dumps({
    "metadata": report["metadata"],
    "files": shown.get_packed_associated_file_list(),
    "labels": shown.get_associated_file_buffer("labels.txt").decode(),
    "json": json.loads(shown.get_metadata_json())}))
"""


def test_mobile_metadata_reads_back_with_tflite_support(tmp_path):
    """With tflite-support installed apart (BUILD.md: pip install --no-deps
    --target .tflite_support tflite-support==0.4.4, and libusb-1.0-0)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(
                   [TFLITE_SUPPORT, os.environ.get("PYTHONPATH", "")]))
    probe = subprocess.run(
        [sys.executable, "-c", "from tensorflow_lite_support.metadata."
         "python.metadata_writers import image_classifier"],
        env=env, capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip("tflite-support is not installed in "
                    f"{TFLITE_SUPPORT}: {probe.stderr.splitlines()[-1:]}")
    result = subprocess.run(
        [sys.executable, "-c", _READ_BACK, str(tmp_path / "app")], env=env,
        capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["metadata"] is True
    assert shown["files"] == ["labels.txt"]
    assert shown["labels"].splitlines()[3] == "digit 3"
    process = shown["json"]["subgraph_metadata"][0]["input_tensor_metadata"][
        0]["process_units"][0]["options"]
    assert process == {"mean": [0.0], "std": [1.0]}  # normalizing is inside
