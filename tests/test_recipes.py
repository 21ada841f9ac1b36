"""End-to-end: the README flows, run as a user would run them."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import tfprune
from tfprune import pipeline

from conftest import REPO
from helpers_data import write_image_folder

pytestmark = pytest.mark.slow  # trains in subprocesses


def _run(args, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _check_outputs(out_dir, target):
    names = sorted(os.listdir(out_dir))
    assert names == ["model.keras", "model_int8.tflite", "report.json"]
    report = json.load(open(os.path.join(out_dir, "report.json")))
    assert abs(report["removed"]["params"] - target) <= 0.005 or (
        report["removed"]["params"] > target)
    model = keras.models.load_model(os.path.join(out_dir, "model.keras"))
    assert model.count_params() == report["after"]["params"]
    assert report["layer_widths"]
    assert 0 <= report["val_accuracy_int8_litert"] <= 1
    return report


def test_digits_recipe_default_job(tmp_path):
    out = tmp_path / "digits"
    result = _run(["recipes/digits.py", f"--out_dir={out}", "--epochs=12"],
                  tmp_path)
    assert "Wrote model.keras" in result.stdout
    report = _check_outputs(out, 0.9)
    assert abs(report["removed"]["params"] - 0.9) <= 0.005
    assert report["val_accuracy_float"] > 0.85
    assert abs(report["val_accuracy_int8_litert"]
               - report["val_accuracy_float"]) < 0.05


def test_cifar10_recipe_on_a_local_tfrecord_folder(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 96)
    out = tmp_path / "vgg"
    _run(["recipes/cifar10.py", "--model=vgg16", "--width=0.0625",
          "--target=0.94", "--metric=params", "--epochs=2", "--batch_size=16",
          f"--data_dir={data_dir}", "--val_size=32", "--tflm_samples=4",
          f"--out_dir={out}"], tmp_path)
    report = _check_outputs(out, 0.94)
    assert abs(report["removed"]["params"] - 0.94) <= 0.005
    assert report["val_accuracy_int8_tflm"] is not None
    # From scratch: the recipe's short warm-up and ramp (cheaper run).
    assert (report["schedule"]["warmup"], report["schedule"]["ramp"]) == (
        pipeline.WARMUP, pipeline.RAMP) == (0.05, 0.2)
    # The exported model takes raw 0-255 pixels: its first layers normalize.
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model.layers[1], keras.layers.Normalization)
    x = np.full((1, 32, 32, 3), 255.0, "float32")
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_cifar10_recipe_distils_from_the_unpruned_model_it_trains_first(
        tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 96)
    out = tmp_path / "vgg"
    _run(["recipes/cifar10.py", "--width=0.0625", "--teacher=unpruned",
          "--epochs=2", "--batch_size=16", f"--data_dir={data_dir}",
          "--val_size=32", "--tflm_samples=0", f"--out_dir={out}"], tmp_path)
    teacher = json.load(open(out / "teacher" / "report.json"))
    assert teacher["removed"]["params"] == 0
    assert teacher["distillation"] is None
    report = json.load(open(out / "report.json"))
    assert report["distillation"]["teacher"].startswith(
        f"unpruned {teacher['model']} trained first in {out / 'teacher'}")
    assert abs(report["removed"]["params"] - 0.94) <= 0.005
    assert min(report["history"]["distillation_loss"]) > 0


def test_cifar10_recipe_with_flash_and_arena_budgets(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 64)
    out = tmp_path / "flash"
    _run(["recipes/cifar10.py", "--model=vgg16", "--width=0.125",
          "--flash_bytes=40000", "--arena_bytes=16000", "--epochs=2",
          "--batch_size=16", f"--data_dir={data_dir}", "--val_size=16",
          "--tflm_samples=0", f"--out_dir={out}"], tmp_path)
    report = json.loads((out / "report.json").read_text())
    assert (report["flash_bytes"], report["arena_bytes"]) == (40000, 16000)
    # The exported model (real weights) meets both budgets in TFLite Micro,
    # and the tighter one is used up to about one channel.
    tflite = (out / "model_int8.tflite").read_bytes()
    arena = tfprune.convert.tflm_arena_bytes(tflite)
    assert len(tflite) <= 40000 and arena <= 16000
    assert max(len(tflite) / 40000, arena / 16000) > 0.9


def test_cifar10_recipe_with_a_latency_budget_from_a_device_table(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 64)
    table = tfprune.LatencyTable(ms_per_mmac=2.0, ms_fixed=0.5,
                                 runtime="a board")
    (tmp_path / "board.json").write_text(json.dumps(table.get_config()))
    full = table.predict(tfprune.measure(
        tfprune.models.vgg16_cifar(width=0.0625))["macs"])
    out = tmp_path / "fast"
    _run(["recipes/cifar10.py", "--model=vgg16", "--width=0.0625",
          f"--latency_ms={0.5 * full}",
          f"--latency_table={tmp_path / 'board.json'}", "--epochs=2",
          "--batch_size=16", f"--data_dir={data_dir}", "--val_size=16",
          "--tflm_samples=0", f"--out_dir={out}"], tmp_path)
    report = json.loads((out / "report.json").read_text())
    assert report["latency_table"]["runtime"] == "a board"
    predicted = table.predict(report["after"]["macs"])
    assert 0.45 * full <= predicted <= 0.5 * full


def test_cifar10_recipe_fits_a_device_preset(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 32)
    out = tmp_path / "m0"
    _run(["recipes/cifar10.py", "--model=vgg16", "--width=0.25",
          "--device=cortex-m0plus", "--epochs=1", "--batch_size=16",
          f"--data_dir={data_dir}", "--val_size=16", "--tflm_samples=0",
          f"--out_dir={out}"], tmp_path)
    device = tfprune.get_device("cortex-m0plus")
    tflite = (out / "model_int8.tflite").read_bytes()
    assert len(tflite) <= device.flash_bytes
    assert tfprune.convert.tflm_arena_bytes(tflite) <= device.ram_bytes


def test_cifar10_recipe_says_what_a_bad_latency_table_is(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 32)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "recipes/cifar10.py", "--width=0.0625",
         "--latency_ms=3", "--latency_table=board.json", "--epochs=1",
         f"--data_dir={data_dir}", "--val_size=16",
         f"--out_dir={tmp_path / 'out'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "--latency_table must be 'tflm', 'litert' or a JSON file. " \
           "Received: --latency_table='board.json' (no such file)" in \
           result.stderr
    assert not (tmp_path / "out").exists()


def test_cifar10_recipe_prunes_a_trained_model_to_two_ratios(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 96)
    common = ["--width=0.0625", "--batch_size=16", f"--data_dir={data_dir}",
              "--val_size=32", "--tflm_samples=0"]
    _run(["recipes/cifar10.py", "--target=0", "--epochs=1",
          f"--out_dir={tmp_path / 'trained'}", *common], tmp_path)
    out = tmp_path / "pruned"
    _run(["recipes/cifar10.py", "--model=resnet20",  # ignored: init_from
          f"--init_from={tmp_path / 'trained' / 'model.keras'}",
          "--target=params=0.8,macs=0.6", "--epochs=2", "--teacher=initial",
          f"--out_dir={out}", *common], tmp_path)
    report = json.load(open(out / "report.json"))
    assert report["model"] == "vgg16_cifar"
    assert report["target"] == {"params": 0.8, "macs": 0.6}
    assert report["removed"]["params"] >= 0.8
    assert report["removed"]["macs"] >= 0.6
    assert report["schedule"]["learning_rate"] == 0.02
    assert report["schedule"]["warmup"] == 0.0
    assert report["distillation"]["teacher"] == (
        "initial weights of vgg16_cifar")
    assert len(report["history"]["loss"]) == 2


def test_cifar10_recipe_says_what_a_bad_target_or_start_is(tmp_path):
    for flag, message in (
            ("--target=params:0.8", "--target must be a fraction"),
            ("--init_from=missing.keras", "no such file")):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        result = subprocess.run(
            [sys.executable, "recipes/cifar10.py", flag,
             f"--out_dir={tmp_path}"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=300)
        assert result.returncode != 0
        assert message in result.stderr


def test_cifar10_recipe_trains_resnet8_in_mixed_bfloat16(tmp_path):
    data_dir = tmp_path / "cifar"
    write_image_folder(str(data_dir), 48)
    out = tmp_path / "resnet8"
    _run(["recipes/cifar10.py", "--model=resnet8", "--width=0.5",
          "--precision=mixed_bfloat16", "--target=0.5", "--epochs=2",
          "--batch_size=16", f"--data_dir={data_dir}", "--val_size=16",
          "--tflm_samples=4", f"--out_dir={out}"], tmp_path)
    report = _check_outputs(out, 0.5)
    assert report["val_accuracy_int8_tflm"] is not None
    model = keras.models.load_model(out / "model.keras")
    assert model.count_params() < tfprune.models.resnet8_tiny(
        width=0.5).count_params()
    assert any(layer.dtype_policy.name == "mixed_bfloat16"
               for layer in model.layers)
