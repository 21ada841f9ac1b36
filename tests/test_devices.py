"""Device presets: export checks that the model fits, and says by how much."""

import os
import subprocess
import sys

import pytest

import tfprune
from conftest import REPO, train_digits


@pytest.fixture(scope="module")
def trained():
    return train_digits(0.6, epochs=2)


def test_presets_are_plain_data_a_user_can_extend():
    m4 = tfprune.get_device("cortex-m4")
    assert (m4.flash_bytes, m4.ram_bytes) == (1024 * 1024, 256 * 1024)
    tfprune.register_device(tfprune.Device("tests-board", 50_000, 8_000))
    assert tfprune.get_device("tests-board").ram_bytes == 8_000
    with pytest.raises(ValueError, match=r"Unknown device 'cortex-m99'.*"
                                         r"'cortex-m4'.*register_device"):
        tfprune.get_device("cortex-m99")
    with pytest.raises(ValueError, match="Received: ram_bytes=-1"):
        tfprune.Device("bad", 10, -1)


def test_export_reports_how_the_model_fits(trained, tmp_path):
    model, x, _ = trained
    report = tfprune.export(model, str(tmp_path / "fw"),
                            representative=x[:50], device="cortex-m0plus")
    fit = report["device"]
    assert fit["fits"] and fit["device"] == "cortex-m0plus"
    assert fit["flash"]["used"] == report["tflite_bytes"]
    assert fit["ram"]["used"] == report["arena_bytes"]
    assert fit["flash"]["left"] == 256 * 1024 - report["tflite_bytes"]


def test_a_model_that_does_not_fit_is_not_written(trained, tmp_path):
    model, x, _ = trained
    tiny = tfprune.Device("tiny", flash_bytes=1_000, ram_bytes=100_000)
    out = tmp_path / "fw"
    with pytest.raises(tfprune.ExportError,
                       match=r"does not fit device 'tiny'.*flash: [\d,]+ "
                             r"bytes over \([\d,]+ of 1,000\)\. Prune it "
                             r"further.*nothing was written"):
        tfprune.export(model, str(out), representative=x[:50], device=tiny)
    assert not out.exists() and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="use target='mcu'"):
        tfprune.export(model, str(out), target="mobile",
                       representative=x[:50], device="cortex-m4")


def test_command_line_says_how_much_is_left(trained, tmp_path):
    import numpy as np

    model, x, _ = trained
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "calib.npy", x[:50])
    result = subprocess.run(
        [sys.executable, "-m", "tfprune", "export",
         f"--model={tmp_path / 'm.keras'}", f"--out_dir={tmp_path / 'fw'}",
         f"--representative={tmp_path / 'calib.npy'}", "--device=cortex-m4"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Fits cortex-m4: flash" in result.stdout
    assert "of 1,048,576 bytes" in result.stdout
    assert "of 262,144 bytes" in result.stdout
