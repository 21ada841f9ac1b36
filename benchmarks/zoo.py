"""The keras.applications zoo: coverage, and gate -> prune_now -> shrink exactness.

    python benchmarks/zoo.py > benchmarks/results/zoo.md

For each family (built offline: `weights=None`, `classifier_activation=None`,
10 classes): `tfprune.coverage` (share of params and MACs in layers with a
prunable channel axis), then gate, random gate scores and BatchNormalization
statistics (so that a wrong slice shows), `prune_now(--ratio)`, `shrink`,
and the largest logit difference between the gated (masked) model and the
shrunk one, relative to the largest logit. "equal" means within 1e-4.
"""

import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

FAMILIES = {
    # name: input side (>= the family's minimum)
    "ConvNeXtTiny": 64, "DenseNet121": 64, "EfficientNetB0": 64,
    "EfficientNetV2B0": 64, "InceptionV3": 75, "MobileNet": 64,
    "MobileNetV2": 64, "MobileNetV3Small": 64, "RegNetX002": 64,
    "ResNet50": 64, "ResNet50V2": 64, "VGG16": 64, "Xception": 71,
}

flags.DEFINE_list("models", list(FAMILIES), "keras.applications families.")
flags.DEFINE_float("ratio", 0.5, "Fraction of parameters to remove.")
flags.DEFINE_integer("seed", 0, "Seed of the random scores, statistics, input.")
FLAGS = flags.FLAGS


def _build(keras, name, side):
    kwargs = dict(weights=None, input_shape=(side, side, 3), classes=10,
                  classifier_activation=None)
    if name.startswith(("ConvNeXt", "EfficientNetV2", "MobileNetV3")):
        kwargs["include_preprocessing"] = False
    return getattr(keras.applications, name)(**kwargs)


def _randomize(tfprune, keras, np, gated, rng):
    for layer in gated.layers:
        if isinstance(layer, tfprune.ChannelGate):
            layer.score.assign(rng.normal(size=layer.channels))
        elif type(layer).__name__ == "LayerScale":  # ConvNeXt: init 1e-6
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(
                "float32") for w in layer.get_weights()])
        elif isinstance(layer, keras.layers.BatchNormalization):
            weights = layer.get_weights()
            shapes = [w.shape for w in weights]
            weights = [rng.uniform(0.5, 1.5, s).astype("float32")
                       for s in shapes]
            if len(weights) == 4:  # gamma, beta, mean, variance
                weights[1] -= 1.0
                weights[2] -= 1.0
            layer.set_weights(weights)


def _row(name, side):
    import keras
    import numpy as np

    import tfprune

    rng = np.random.default_rng(FLAGS.seed)
    model = _build(keras, name, side)
    start = time.perf_counter()
    report = tfprune.coverage(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = tfprune.gate(model)
    _randomize(tfprune, keras, np, gated, rng)
    ratio = tfprune.prune_now(gated, FLAGS.ratio)
    small = tfprune.shrink(gated)
    x = rng.uniform(0, 1, (2, side, side, 3)).astype("float32")
    masked = keras.ops.convert_to_numpy(gated(x, training=False))
    shrunk = keras.ops.convert_to_numpy(small(x, training=False))
    relative = float(np.abs(masked - shrunk).max() / np.abs(masked).max())
    removed = 1 - small.count_params() / model.count_params()
    seconds = time.perf_counter() - start
    producers = sum(len(entry["layers"]) for entry in report["left_out"])
    left_out = f"{producers} layer(s), e.g. {report['left_out'][0]['reason']}" \
        if report["left_out"] else "—"
    return (f"| {name} | {model.count_params():,} | "
            f"{100 * report['params']:.1f}% | {100 * report['macs']:.1f}% | "
            f"{report['groups']} | {100 * ratio:.2f}% | {100 * removed:.2f}% "
            f"| {relative:.1e} | {'yes' if relative <= 1e-4 else '**no**'} | "
            f"{seconds:.0f} | {left_out} |")


def main(argv):
    del argv
    print(provenance.stamp() + "\n")
    print(f"gate -> prune_now({FLAGS.ratio}) -> shrink, seed {FLAGS.seed}, "
          "10 classes, weights=None\n")
    print("| model | params | coverage: params | coverage: MACs | groups | "
          "measured ratio | count_params removed | max rel. logit diff | "
          "equal (1e-4) | seconds | left out |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    import keras

    for name in FLAGS.models:
        if not hasattr(keras.applications, name):
            print(f"| {name} | not in keras.applications of Keras "
                  f"{keras.__version__} | | | | | | | | | |", flush=True)
            continue
        try:
            print(_row(name, FAMILIES[name]), flush=True)
        except Exception as error:  # a failure is a result: show it
            message = str(error).splitlines()[0][:200]
            print(f"| {name} | failed: {type(error).__name__}: {message} "
                  "| | | | | | | | | |", flush=True)


if __name__ == "__main__":
    app.run(main)
