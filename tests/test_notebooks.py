"""The Colab notebooks run top to bottom (shell lines and installs skipped)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

NOTEBOOKS = sorted(
    f for f in os.listdir(os.path.join(REPO, "colab")) if f.endswith(".ipynb"))


EXPECTED = {
    "quickstart.ipynb": "int8 accuracy (TFLM)",
    "deploy_mcu.ipynb": "model_data.cc compiles",
    "prune_trained.ipynb": "pruned trained model",
}


def test_every_notebook_is_checked():
    assert sorted(EXPECTED) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path):
    notebook = json.load(open(os.path.join(REPO, "colab", name)))
    lines = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            lines += [line.rstrip("\n") for line in cell["source"]
                      if not line.lstrip().startswith(("!", "%"))]
    code = "\n".join(lines).replace("EPOCHS = 20", "EPOCHS = 8")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert EXPECTED[name] in result.stdout
