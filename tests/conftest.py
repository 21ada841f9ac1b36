import os

# Exact-value comparisons need one fixed oneDNN setting (see DESIGN.md).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tfprune  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_CIFAR = os.path.join(REPO, "..", "shared", "datasets", "cifar10")


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def randomize_scores(gated, seed=0):
    """Gives every gate random scores, so masks differ from a prefix."""
    rng = np.random.default_rng(seed)
    for layer in gated.layers:
        if isinstance(layer, tfprune.ChannelGate):
            layer.score.assign(rng.normal(size=layer.channels))


def randomize_bn(model, seed=0):
    """Non-trivial BatchNormalization statistics, so that slicing errors show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.1, beta.shape).astype("float32"),
                rng.normal(0, 0.1, mean.shape).astype("float32"),
                rng.uniform(0.5, 1.5, var.shape).astype("float32"),
            ])


def max_abs_diff(a, b, x):
    return float(np.max(np.abs(
        keras.ops.convert_to_numpy(a(x, training=False))
        - keras.ops.convert_to_numpy(b(x, training=False)))))
