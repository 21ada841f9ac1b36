import subprocess
import sys

import tfprune


def test_import_does_not_pull_in_tfmot_or_keras2():
    code = ("import sys, tfprune; "
            "bad = [m for m in sys.modules if m.startswith("
            "('tensorflow_model_optimization', 'tf_keras'))]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_public_api():
    for name in ("gate", "TargetRatio", "prune_now", "shrink", "measure",
                 "to_tflite", "evaluate_tflite", "ChannelGate", "models",
                 "GraphError", "BudgetError", "register_rule"):
        assert hasattr(tfprune, name), name
    assert callable(tfprune.models.vgg16_cifar)


def test_library_does_not_read_shared_folder():
    import pathlib

    root = pathlib.Path(tfprune.__file__).parent
    for path in root.rglob("*.py"):  # subpackages (device/, rules/) too
        text = path.read_text()
        assert "shared/" not in text and "tensorflow_model_optimization" \
            not in text, path
