"""Where the time of a pruning epoch goes, beside a plain epoch's.

    python benchmarks/studies/fit_epoch_parts.py --width=0.25 --batch_size=128

On VGG-16-BN at --width, random CIFAR-shaped batches, one process, times
each part `tfprune.fit` adds to an epoch of the 30-epoch recipe: a
training step of the plain model and of the gated model (its backward pass
gathers the saliency), BatchNorm re-estimation (`TargetRatio` runs it
before each validation whose masks changed: `calibration_steps` eager
forward batches), a validation pass of --val_batches batches, and a
rebuild (masks set to --ratio, `surgery.narrow`, compile, optimizer
carried over) with the first step of the narrowed model (a new trace),
and a step of the network `tfprune.fit` trains in the hold (--hold_ratio
removed, no saliency). It prints each in seconds, steps against a plain
step, the rest against a plain epoch of --steps steps.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import time  # noqa: E402

from absl import app, flags  # noqa: E402

flags.DEFINE_float("width", 0.25, "VGG-16-BN width multiplier.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_integer("steps", 352, "Training steps of an epoch (45,000 "
                     "CIFAR-10 images at batch 128).")
flags.DEFINE_integer("timed_steps", 40, "Steps timed per step measurement.")
flags.DEFINE_integer("val_batches", 40, "Batches of a validation pass.")
flags.DEFINE_integer("calibration_steps", 20, "TargetRatio's default.")
flags.DEFINE_float("ratio", 0.3, "Params removed before the rebuild timed.")
flags.DEFINE_float("hold_ratio", 0.94, "Params removed in the hold's network.")
FLAGS = flags.FLAGS


def _timed(work):
    """`(seconds, result)` of `work()`."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def _seconds(work):
    return _timed(work)[0]


def _step_seconds(model, data):
    """Mean seconds of a training step (first, warm-up steps not timed)."""
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)
    total = _seconds(lambda: model.fit(data, steps_per_epoch=FLAGS.timed_steps,
                                       epochs=1, verbose=0))
    return total / FLAGS.timed_steps


def main(argv):
    del argv
    import tfprune
    from synthetic_batches import cifar_batches, compiled
    from tfprune import batchnorm, training
    from tfprune.graph import ChannelGraph

    data = cifar_batches(FLAGS.batch_size)
    plain = compiled(tfprune.models.vgg16_cifar(width=FLAGS.width),
                     metrics=["accuracy"])
    gated = compiled(tfprune.gate(plain), metrics=["accuracy"])
    parts = {"plain step": _step_seconds(plain, data),
             "gated step": _step_seconds(gated, data)}
    for name, model in (("plain", plain), ("gated", gated)):
        model.evaluate(data, steps=2, verbose=0)
        parts[f"validation, {name}"] = _seconds(lambda: model.evaluate(
            data, steps=FLAGS.val_batches, verbose=0))
    batches = iter(data)
    batchnorm.recalibrate(gated, batches, 1)
    parts["BatchNorm re-estimation"] = _seconds(lambda: batchnorm.recalibrate(
        gated, batches, FLAGS.calibration_steps))

    # What `tfprune.fit` does at a rebuild (no backup: nothing saved).
    run = training._Run(1, None, None, training.SLACK, training.MIN_SAVING)

    def rebuild(ratio, final=False):
        tfprune.prune_now(gated, ratio, importance="l1")
        keep = [group.gate.mask.numpy() > 0
                for group in ChannelGraph(gated).groups]
        return run.rebuilt(gated, keep, 0, final=final)

    parts["rebuild (masks, narrow, compile, carry)"], model = _timed(
        lambda: rebuild(FLAGS.ratio))
    first = _seconds(lambda: model.fit(data, steps_per_epoch=1, epochs=1,
                                       verbose=0))
    narrowed_step = _step_seconds(model, data)
    parts["first step after it, less a step"] = first - narrowed_step
    parts[f"narrowed step (-{FLAGS.ratio:.0%} params)"] = narrowed_step
    held = rebuild(FLAGS.hold_ratio, final=True)
    parts[f"hold step (-{FLAGS.hold_ratio:.0%} params, no saliency)"] = \
        _step_seconds(held, data)

    step, epoch = parts["plain step"], parts["plain step"] * FLAGS.steps
    print(f"VGG-16-BN x{FLAGS.width}, batch {FLAGS.batch_size}; a plain "
          f"step {step * 1000:.1f} ms, a plain epoch of {FLAGS.steps} steps "
          f"{epoch:.1f} s, TF_ENABLE_ONEDNN_OPTS="
          f"{os.environ['TF_ENABLE_ONEDNN_OPTS']}")
    for name, seconds in parts.items():
        share = (f"{seconds / step:6.3f}x a plain step" if "step" in name
                 and "first" not in name else
                 f"{seconds / epoch:6.1%} of a plain epoch")
        print(f"{name:>40}: {seconds:8.3f} s  {share}")


if __name__ == "__main__":
    app.run(main)
