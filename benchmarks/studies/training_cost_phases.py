"""Where a tfprune run's time went, phase by phase, against the unpruned run.

    python benchmarks/studies/training_cost_phases.py \\
        --results_dir=benchmarks/results/training_cost/frozen

Reads the pairs `benchmarks/training_cost.py` wrote to --results_dir (each
harness JSON's per-epoch `seconds` and its schedule) and prints, per seed,
the tfprune run's epoch time in the warm-up, the ramp and the hold as a
ratio of the unpruned run's same epochs, both runs' time outside the
epochs (set-up, rebuilds' retraces, export and evaluation after training)
and the run-time ratio. Writes the same to `<results_dir>/phases.txt`.
"""

import glob
import json
import os

from absl import app, flags

from tfprune.pipeline import first_epoch_from

flags.DEFINE_string("results_dir", "benchmarks/results/training_cost",
                    "A folder of training_cost.py pairs.")
FLAGS = flags.FLAGS


def phase_bounds(schedule, epochs):
    """`(first ramp epoch, first hold epoch)`, 0-based, as the recipe
    counts them (`tfprune.pipeline.first_epoch_from`)."""
    return (first_epoch_from(schedule["warmup"], epochs),
            first_epoch_from(schedule["warmup"] + schedule["ramp"], epochs))


def phase_line(seed, pruned, unpruned):
    """One seed's line: phase ratios and time outside the epochs."""
    ours, theirs = pruned["history"]["seconds"], unpruned["history"]["seconds"]
    if len(ours) != len(theirs):
        raise ValueError(f"seed {seed}: {len(ours)} tfprune epochs against "
                         f"{len(theirs)} unpruned ones")
    ramp, hold = phase_bounds(pruned["schedule"], len(ours))
    parts = []
    for name, begin, end in (("warm-up", 0, ramp), ("ramp", ramp, hold),
                             ("hold", hold, len(ours)),
                             ("all epochs", 0, len(ours))):
        if end > begin:
            a, b = sum(ours[begin:end]), sum(theirs[begin:end])
            parts.append(f"{name} (epochs {begin + 1}-{end}) {a / b:.3f}x "
                         f"({a:.0f} s / {b:.0f} s)")
    outside = [r["seconds"] - sum(r["history"]["seconds"])
               for r in (pruned, unpruned)]
    return (f"seed {seed}: " + ", ".join(parts)
            + f"; outside the epochs {outside[0]:.0f} s / {outside[1]:.0f} s"
            f"; run {pruned['seconds'] / unpruned['seconds']:.3f}x")


def main(argv):
    del argv
    lines = []
    for path in sorted(glob.glob(os.path.join(FLAGS.results_dir,
                                              "tfprune_*_s*.json"))):
        name = os.path.basename(path)
        seed = name[:-len(".json")].rsplit("_s", 1)[1]
        with open(path) as f:
            pruned = json.load(f)
        with open(os.path.join(FLAGS.results_dir,
                               name.replace("tfprune_", "unpruned_", 1))) as f:
            unpruned = json.load(f)
        lines.append(phase_line(seed, pruned, unpruned))
    if not lines:
        raise SystemExit(f"No tfprune_*_s*.json pairs in {FLAGS.results_dir}")
    text = ("tfprune epochs against the unpruned run's same epochs "
            "(tfprune s / unpruned s)\n\n" + "\n".join(lines) + "\n")
    with open(os.path.join(FLAGS.results_dir, "phases.txt"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    app.run(main)
