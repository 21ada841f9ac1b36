"""Cost of pruning: training step time of the gated model against the plain one.

    python benchmarks/studies/gate_overhead.py --width=0.25 --batch_size=128

Runs, interleaved in one process, `fit` on the same random batch stream for
(a) the plain model, (b) the gated model, (c) the gated model with
TargetRatio updating the masks every --update_every steps (the ramp phase,
the most expensive one), (d) the gated model with its masks at --hold_ratio
of the parameters removed (the hold phase, masked), (e) that model
shrunk (what `shrink_for_hold=True` trains in the hold), and the shrunk
model gated again, as `tfprune.fit` rebuilds the hold's network: (f) its
gates multiplying by their all-ones masks without measuring saliency,
(g) its gates frozen (passing their input through, `tfprune.fit` since
2026-12-04). Prints median step times and ratios.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


from absl import app, flags  # noqa: E402

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 62, "Timed steps per measurement.")
flags.DEFINE_integer("repeats", 5, "Measurements per variant.")
# TargetRatio's default: 1/100 of the ramp; for a 30-epoch CIFAR-10 run
# (352 steps per epoch, ramp 0.6) that is every 63 steps (31 for 15 epochs).
flags.DEFINE_integer("update_every", 63, "Mask update interval for (c).")
flags.DEFINE_float("hold_ratio", 0.94, "Params removed in (d) and (e).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    import tfprune
    from synthetic_batches import cifar_batches, compiled, step_timer

    data = cifar_batches(FLAGS.batch_size)

    plain = compiled(tfprune.models.vgg16_cifar(width=FLAGS.width))
    gated = compiled(tfprune.gate(plain))
    held = tfprune.gate(plain)
    tfprune.prune_now(held, FLAGS.hold_ratio, importance="l1")
    shrunk = compiled(tfprune.shrink(held))
    held = compiled(held)
    narrowed = {}
    for frozen in (False, True):
        model = tfprune.gate(tfprune.shrink(held))
        for gate in tfprune.saliency.gates_of(model):
            gate.measures_saliency, gate.frozen = False, frozen
        narrowed[frozen] = compiled(model)
    variants = {
        "plain": (plain, []),
        "gated": (gated, []),
        "gated+TargetRatio": (gated, [tfprune.TargetRatio(
            0.94, schedule=tfprune.PruningSchedule(
                warmup=0.0, ramp=1.0, update_every=FLAGS.update_every))]),
        "masked (hold)": (held, []),
        "shrunk (hold)": (shrunk, []),
        "narrowed (hold)": (narrowed[False], []),
        "frozen (hold)": (narrowed[True], []),
    }
    for model, _ in variants.values():  # trace and warm up
        model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    medians = {name: [] for name in variants}
    for _ in range(FLAGS.repeats):
        for name, (model, callbacks) in variants.items():
            timer = step_timer()
            model.fit(data, steps_per_epoch=FLAGS.steps, epochs=1, verbose=0,
                      callbacks=callbacks + [timer])
            # The first step of a fit includes iterator start-up.
            medians[name].append(float(np.mean(timer.times[1:])))
    base = np.median(medians["plain"])
    print(f"VGG-16-BN x{FLAGS.width}, batch {FLAGS.batch_size}, "
          f"{FLAGS.steps} steps x {FLAGS.repeats} repeats (median of means), "
          f"masks re-solved every {FLAGS.update_every} steps in (c), "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}")
    for name, values in medians.items():
        m = np.median(values)
        print(f"{name:>20}: {1000 * m:7.1f} ms/step  ratio {m / base:.3f}")


if __name__ == "__main__":
    app.run(main)
