"""Time of one budget solve (what TargetRatio does at each mask update).

    python benchmarks/studies/solver_time.py --width=0.25

Random gate scores; median of --repeats solves per target, for the fast
(ramp) and the exact (final) mode.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import statistics  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("repeats", 7, "Solves per setting.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    import tfprune
    from tfprune.pruning import BudgetPlan

    gated = tfprune.gate(tfprune.models.vgg16_cifar(width=FLAGS.width))
    rng = np.random.default_rng(0)
    for layer in gated.layers:
        if isinstance(layer, tfprune.ChannelGate):
            layer.score.assign(rng.normal(size=layer.channels))
    plan = BudgetPlan(gated)
    print(f"VGG-16-BN x{FLAGS.width}, {sum(plan.sizes)} prunable channels, "
          f"median of {FLAGS.repeats} solves (importance, solve, set masks)")
    for target in (0.3, 0.76, 0.94):
        for exact in (False, True):
            times = []
            for _ in range(FLAGS.repeats):
                start = time.perf_counter()
                plan.apply(target, exact=exact)
                times.append(time.perf_counter() - start)
            mode = "exact" if exact else "fast "
            print(f"target {target:.2f} {mode}: "
                  f"{1000 * statistics.median(times):6.1f} ms")


if __name__ == "__main__":
    app.run(main)
