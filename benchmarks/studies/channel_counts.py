"""Is a training step slower at channel counts that are not multiples of 8?

    python benchmarks/studies/channel_counts.py \\
        --widths_from=benchmarks/results/training_cost/tfprune_params0.94_s0.json

The question behind it: in the 30-epoch tfprune run the ramp's narrowed
networks trained no faster than the full-width one, although they compute
fewer MACs. Builds plain VGG-16-BN-shaped networks (Conv 3x3 + BN + ReLU,
the pools of VGG-16, a Dense(10)) at several lists of per-layer widths and
times their training steps, interleaved, on the same random batches:

1. full: VGG-16-BN x`--width`;
2. ramp: every width x`--ramp_scale` (rounded to the nearest count, so
   mostly not multiples of 8), the same rounded down to multiples of 8,
   and rounded up to each of `--multiples`;
3. hold: the widths of a finished run (`layer_widths` of a harness JSON),
   and the same rounded up to each of `--multiples`.

Prints each network's MACs and median step time, both as ratios of the
full network's.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import json  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier (full).")
flags.DEFINE_float("ramp_scale", 0.8, "Width factor of the ramp networks.")
flags.DEFINE_string("widths_from", None, "A harness JSON whose "
                    "`layer_widths` give the hold networks (none: skip).")
flags.DEFINE_list("multiples", ["8", "16"], "Round the ramp and hold "
                  "widths up to multiples of these.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 20, "Timed steps per measurement.")
flags.DEFINE_integer("repeats", 5, "Interleaved measurements per network.")
FLAGS = flags.FLAGS

def _network(widths):
    """Plain VGG-16-BN layout with `widths[i]` filters in conv `i`."""
    import keras
    from keras import layers

    from tfprune.models import VGG16_PLAN

    inputs = keras.Input((32, 32, 3))
    x, i = inputs, 0
    for block in VGG16_PLAN:
        for _ in block:
            x = layers.Conv2D(widths[i], 3, padding="same",
                              use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
            i += 1
        x = layers.MaxPooling2D(2)(x)
    outputs = layers.Dense(10)(layers.Flatten()(x))
    return keras.Model(inputs, outputs)


def _round(widths, multiple, up, limits=None):
    """`widths` rounded to multiples of `multiple` (none below it, none
    above `limits`)."""
    if limits is not None:
        return [min(w, limit) for w, limit
                in zip(_round(widths, multiple, up), limits)]
    step = (lambda w: -(-w // multiple)) if up else (lambda w: w // multiple)
    return [max(multiple, step(w) * multiple) for w in widths]


def _step_seconds(model, data, steps):
    """Median seconds per step of `steps` steps of `fit` (after one
    untimed step)."""
    import numpy as np

    from synthetic_batches import step_timer

    timer = step_timer()
    model.fit(data, epochs=1, steps_per_epoch=steps + 1, verbose=0,
              callbacks=[timer])
    return float(np.median(timer.times[1:]))


def main(argv):
    del argv
    import numpy as np

    import synthetic_batches
    import tfprune
    from tfprune.models import VGG16_PLAN

    full = [max(1, round(w * FLAGS.width)) for b in VGG16_PLAN for w in b]
    ramp = [max(1, round(w * FLAGS.ramp_scale)) for w in full]
    multiples = [int(m) for m in FLAGS.multiples]
    variants = {"full": full, "ramp (x%.2f)" % FLAGS.ramp_scale: ramp,
                "ramp, multiples of 8 (down)": _round(ramp, 8, up=False)}
    for m in multiples:
        variants[f"ramp, multiples of {m} (up)"] = _round(ramp, m, True, full)
    if FLAGS.widths_from:
        with open(FLAGS.widths_from) as f:
            layer_widths = json.load(f)["layer_widths"]
        hold = [kept for kept, _ in layer_widths.values()]
        variants["hold (" + os.path.basename(FLAGS.widths_from) + ")"] = hold
        for m in multiples:
            variants[f"hold, multiples of {m} (up)"] = _round(hold, m, True,
                                                               full)
    data = synthetic_batches.cifar_batches(FLAGS.batch_size)
    models = {name: synthetic_batches.compiled(_network(w))
              for name, w in variants.items()}
    macs = {name: tfprune.measure(m)["macs"] for name, m in models.items()}
    times = {name: [] for name in models}
    for _ in range(FLAGS.repeats):
        for name, model in models.items():
            times[name].append(_step_seconds(model, data, FLAGS.steps))
    step = {name: float(np.median(t)) for name, t in times.items()}
    print(f"Plain VGG-16-BN-shaped networks, batch {FLAGS.batch_size}, "
          f"{FLAGS.repeats} x {FLAGS.steps} steps each, interleaved "
          "(median), TF_ENABLE_ONEDNN_OPTS="
          f"{os.environ['TF_ENABLE_ONEDNN_OPTS']}, {os.cpu_count()} CPUs")
    for name, widths in variants.items():
        print(f"{name:>42}: {step[name] * 1e3:7.1f} ms/step "
              f"{step[name] / step['full']:6.3f}x time  "
              f"{macs[name] / macs['full']:6.3f}x MACs  widths {widths}")


if __name__ == "__main__":
    app.run(main)
