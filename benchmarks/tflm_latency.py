"""The microcontroller side of the speed-up: TFLite Micro latency ratio.

    python benchmarks/tflm_latency.py \
        --pruned=benchmarks/results/accuracy_e30/tfprune_params0.94_s0.tflite

Times the TFLite Micro Python interpreter (reference kernels, the code a
Cortex-M runs without CMSIS-NN) on this host, batch 1, for the pruned
`.tflite` and for the unpruned VGG-16-BN (x --width) converted the same
way (latency does not depend on the weight values; both without tensor
names, as `target="mcu"` writes them), alternating the two
--repeats times, each time --runs invocations; medians are compared with
the MACs ratio (the ideal speed-up) and LiteRT's ratio. The pruned model's
MACs come from the JSON beside the `.tflite` (benchmarks/accuracy.py).
"""

import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

flags.DEFINE_string(
    "pruned", "benchmarks/results/accuracy_e30/tfprune_params0.94_s0.tflite",
    "A pruned int8 .tflite written by benchmarks/accuracy.py.")
flags.DEFINE_float("width", 0.25, "Width of the unpruned VGG-16-BN.")
flags.DEFINE_integer("repeats", 5, "Alternating measurements per model.")
flags.DEFINE_integer("runs", 10, "TFLM invocations per measurement.")
FLAGS = flags.FLAGS


def _seconds(call, runs):
    call()
    start = time.perf_counter()
    for _ in range(runs):
        call()
    return (time.perf_counter() - start) / runs


def main(argv):
    del argv
    import numpy as np

    import tfprune
    from tfprune.device import latency

    with open(FLAGS.pruned, "rb") as f:
        # Files written before `to_tflite(target="mcu")` dropped tensor
        # names still carry them: strip, so both sides count the same way.
        pruned = tfprune.convert.strip_tensor_names(f.read())
    with open(os.path.splitext(FLAGS.pruned)[0] + ".json") as f:
        report = json.load(f)
    unpruned_model = tfprune.models.vgg16_cifar(width=FLAGS.width)
    sample = np.random.default_rng(0).uniform(
        0, 255, (8, 32, 32, 3)).astype("float32")
    unpruned = tfprune.to_tflite(unpruned_model, representative=sample)
    macs = {"pruned": report["after"]["macs"],
            "unpruned": tfprune.measure(unpruned_model)["macs"]}
    files = {"pruned": pruned, "unpruned": unpruned}

    calls = {(runtime_name, name): latency.ready_invoke(data, runtime_name)
             for runtime_name in ("tflm", "litert")
             for name, data in files.items()}
    times = {key: [] for key in calls}
    for _ in range(FLAGS.repeats):
        for (runtime_name, name), call in calls.items():
            runs = FLAGS.runs if runtime_name == "tflm" else 20 * FLAGS.runs
            times[runtime_name, name].append(_seconds(call, runs))
    median = {key: statistics.median(v) for key, v in times.items()}

    print(provenance.stamp() + "\n")
    print(f"pruned: {FLAGS.pruned}; unpruned: VGG-16-BN x{FLAGS.width:g} "
          f"(same conversion); batch 1, median of {FLAGS.repeats} "
          "alternating measurements, this host\n")
    print("| measure | unpruned | pruned | pruned / unpruned |")
    print("|---|---|---|---|")
    print(f"| MACs (ideal latency ratio) | {macs['unpruned']:,} | "
          f"{macs['pruned']:,} | {macs['pruned'] / macs['unpruned']:.3f} |")
    print(f"| .tflite bytes | {len(unpruned):,} | {len(pruned):,} | "
          f"{len(pruned) / len(unpruned):.3f} |")
    for runtime_name, label in (("tflm", "TFLite Micro, reference kernels"),
                                ("litert", "LiteRT, 1 thread")):
        u, p = median[runtime_name, "unpruned"], median[runtime_name,
                                                         "pruned"]
        print(f"| {label} (ms) | {1000 * u:.2f} | {1000 * p:.2f} | "
              f"{p / u:.3f} |")


if __name__ == "__main__":
    app.run(main)
