"""Exactness: |measured ratio - target| after fit with TargetRatio, over a grid.

    python benchmarks/exactness.py

For each model, metric and target: gate, fit 2 short epochs on random data
with TargetRatio(target, metric), shrink, and measure the shrunk model
against the original (tfprune.measure: count_params and MACs).
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

flags.DEFINE_list("targets", ["0.3", "0.5", "0.76", "0.9", "0.94"],
                  "Target ratios.")
flags.DEFINE_list("metrics", ["params", "macs"], "Metrics.")
flags.DEFINE_list("models", ["vgg16", "resnet56", "mobilenet_v2"], "Models.")
flags.DEFINE_integer("round_to", 1, "round_to for TargetRatio.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import numpy as np

    import tfprune

    builders = {
        "vgg16": lambda: tfprune.models.vgg16_cifar(width=0.25),
        "resnet56": lambda: tfprune.models.resnet_cifar(56, width=0.5),
        "mobilenet_v2": lambda: tfprune.models.mobilenet_v2_cifar(width=0.5),
    }
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 64)
    print(provenance.stamp() + "\n")
    print(f"round_to={FLAGS.round_to}")
    print("| model | metric | target | measured | abs error (pp) |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for name in FLAGS.models:
        model = builders[name]()
        full = tfprune.measure(model)
        for metric in FLAGS.metrics:
            for target in map(float, FLAGS.targets):
                keras.utils.set_random_seed(0)
                gated = tfprune.gate(model)
                gated.compile(keras.optimizers.SGD(0.01),
                              keras.losses.SparseCategoricalCrossentropy(
                                  from_logits=True))
                gated.fit(x, y, epochs=2, batch_size=16, verbose=0,
                          callbacks=[tfprune.TargetRatio(
                              target, metric=metric,
                              ranking=tfprune.Ranking(
                                  round_to=FLAGS.round_to))])
                small = tfprune.measure(tfprune.shrink(gated))
                measured = 1 - small[metric] / full[metric]
                error = abs(measured - target) * 100
                worst = max(worst, error)
                print(f"| {name} | {metric} | {target:.2f} | {measured:.4f} "
                      f"| {error:.3f} |", flush=True)
    print(f"\nlargest error: {worst:.3f} percentage points")


if __name__ == "__main__":
    app.run(main)
