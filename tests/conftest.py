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


def train_digits(ratio, epochs, seed=0):
    """A small CNN trained with TargetRatio on scikit-learn's digits, shrunk.

    Returns `(small model, x, y)` with all 1,797 examples (the first 1,500
    were used for training).
    """
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(seed)
    digits = load_digits()
    x = digits.images[..., None].astype("float32")
    y = digits.target
    gated = tfprune.gate(tfprune.models.small_cnn(widths=(16, 32),
                                                  dense_units=32))
    gated.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    gated.fit(x[:1500], y[:1500], epochs=epochs, batch_size=64, verbose=0,
              callbacks=[tfprune.TargetRatio(ratio)])
    return tfprune.shrink(gated), x, y


def gated_resnet():
    """A small gated ResNet (depth 8, width 0.5) for the budget tests."""
    return tfprune.gate(tfprune.models.resnet_cifar(8, width=0.5))


def fit_with(gated, callback, examples=64):
    """Two epochs of `fit` on random CIFAR-shaped data with `callback`;
    returns the history dict."""
    gated.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    x = np.random.default_rng(0).uniform(
        0, 255, (examples, 32, 32, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, examples)
    return gated.fit(x, y, epochs=2, batch_size=16, verbose=0,
                     callbacks=[callback]).history


def collapsed_model():
    """A model whose 1-channel ReLU outputs only zeros (a dead bottleneck
    after extreme pruning), and 8 inputs for it: its int8 range collapses
    and LiteRT's XNNPACK delegate refuses the file."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    dead = keras.layers.Conv2D(1, 3, padding="same", activation="relu")
    x = keras.layers.Conv2D(4, 3, padding="same")(dead(x))
    model = keras.Model(inputs, keras.layers.Dense(3)(
        keras.layers.GlobalAveragePooling2D()(x)))
    dead.set_weights([dead.get_weights()[0], np.array([-5.0], "float32")])
    x = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 1)).astype("float32")
    return model, x
