"""The Colab notebooks run top to bottom (shell lines and installs skipped),
from `colab/` as a user runs them, and leave nothing git does not ignore:
they write their outputs under `runs/`."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow  # trains in subprocesses

NOTEBOOKS = sorted(
    f for f in os.listdir(os.path.join(REPO, "colab")) if f.endswith(".ipynb"))


EXPECTED = {
    "quickstart.ipynb": "int8 accuracy (TFLM)",
    "deploy_mcu.ipynb": "model_data.cc compiles",
    "prune_trained.ipynb": "pruned trained model",
}


def test_every_notebook_is_checked():
    assert sorted(EXPECTED) == NOTEBOOKS


def _git_status(path):
    """`git status --porcelain` of `path` (None outside a git checkout)."""
    try:
        result = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", path],
            cwd=REPO, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return None
    return result.stdout if result.returncode == 0 else None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name):
    notebook = json.load(open(os.path.join(REPO, "colab", name)))
    lines = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            lines += [line.rstrip("\n") for line in cell["source"]
                      if not line.lstrip().startswith(("!", "%"))]
    code = "\n".join(lines).replace("EPOCHS = 20", "EPOCHS = 8")
    colab = os.path.join(REPO, "colab")
    runs = os.path.join(colab, "runs")
    had_runs = os.path.exists(runs)
    before = _git_status("colab")
    try:
        result = subprocess.run([sys.executable, "-c", code], cwd=colab,
                                capture_output=True, text=True, timeout=600,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert EXPECTED[name] in result.stdout
        # Everything the notebook wrote is under runs/, which git ignores.
        if before is not None:
            assert _git_status("colab") == before, (
                f"{name} left files git does not ignore in colab/:\n"
                f"{_git_status('colab')}")
            assert not [line for line in _git_status("colab").splitlines()
                        if line.startswith("??")]
    finally:
        if not had_runs:
            shutil.rmtree(runs, ignore_errors=True)
