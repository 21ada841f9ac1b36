"""A recipe killed with SIGKILL mid-ramp resumes to the uninterrupted result."""

import json
import os
import signal
import subprocess
import sys
import time

from conftest import REPO

EPOCHS = 10  # warm-up ends at epoch 1, the ramp at epoch 7


def _digits(out_dir):
    return [sys.executable, "recipes/digits.py", f"--out_dir={out_dir}",
            f"--epochs={EPOCHS}", "--seed=3"]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _finish(args):
    result = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.load(open(args[2].split("=", 1)[1] + "/report.json"))


def _backed_up_epoch(out_dir):
    try:
        with open(os.path.join(out_dir, "backup", "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return -1


def test_sigkill_mid_ramp_then_rerun_matches_an_uninterrupted_run(tmp_path):
    reference = _finish(_digits(tmp_path / "straight"))

    out = tmp_path / "killed"
    process = subprocess.Popen(_digits(out), cwd=REPO, env=_env(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # The backup's "epoch" is the number of epochs done.
    while _backed_up_epoch(out) < 2 and process.poll() is None:
        assert time.time() < deadline, "the recipe never reached epoch 3"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _backed_up_epoch(out)
    assert process.returncode == -signal.SIGKILL
    assert 2 <= killed_at < 7, f"killed outside the ramp (epoch {killed_at})"
    assert not (out / "report.json").exists()

    resumed = _finish(_digits(out))
    assert resumed["layer_widths"] == reference["layer_widths"]
    assert resumed["removed"]["params"] == reference["removed"]["params"]
    # The resumed run went on from the backup, it did not start over.
    assert len(resumed["history"]["loss"]) == EPOCHS - killed_at
