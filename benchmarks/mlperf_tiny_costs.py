"""The MLPerf Tiny reference networks on a microcontroller: tfprune's int8
files and TFLite Micro arenas against the reference ones (issue 25), and
KWS, VWW and AD pruned to fractions of the reference flash.

    python benchmarks/mlperf_tiny_costs.py
    python benchmarks/mlperf_tiny_costs.py --tables=budgets --fractions=0.5

`--tables=unpruned` writes benchmarks/results/mlperf_tiny_unpruned.md: for
each network at width 1 and its reference input shape, parameters, MACs,
tfprune's int8 `.tflite` bytes (`target="mcu"`, Dense layers per tensor,
the default; and per channel, for comparison) and the smallest TFLite Micro
arena, next to the reference files' (MLPerf Tiny v1.x int8 models).

`--tables=budgets` writes benchmarks/results/mlperf_tiny_budgets.md: each of
--budget_tasks is gated, pruned at once to --fractions of its reference
file's bytes (`tfprune.prune_now(gated, flash_bytes=..., importance="l1")`;
a budget the unpruned network already fits leaves it unpruned) and shrunk;
then parameters, MACs, int8 bytes, TFLite Micro arena and latency (the
TFLite Micro Python interpreter, reference kernels, batch 1, on this host:
the median of --repeats timings of --runs invocations each, processor
time, the network's models timed in turns), with its ratio to the
unpruned network's.

Weights are the builders' initial ones with a little noise (as
`tfprune.device.flash.converted` does: the converter would otherwise share
identical constant tensors, such as all-zero biases, that trained models do
not have); sizes do not depend on the weights' values beyond that.
"""

import os
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

TASKS = ("ic", "kws", "vww", "ad")
flags.DEFINE_list("tables", ["unpruned", "budgets"],
                  "Tables to write: unpruned, budgets.")
flags.DEFINE_list("budget_tasks", ["kws", "vww", "ad"],
                  f"Networks of the budgets table, among {TASKS}.")
flags.DEFINE_list("fractions", ["1.0", "0.5", "0.25"],
                  "Flash budgets, as fractions of the reference file.")
flags.DEFINE_integer("repeats", 5, "TFLite Micro timings per model.")
flags.DEFINE_integer("runs", 20, "Invocations per timing.")
flags.DEFINE_string("results_dir", "benchmarks/results",
                    "Where the markdown tables go.")
FLAGS = flags.FLAGS

# The MLPerf Tiny v1.x reference int8 files: bytes, TFLite Micro arena.
REFERENCE = {
    "ic": (98_496, 55_984),
    "kws": (53_936, 24_272),
    "vww": (333_288, 103_680),
    "ad": (276_976, 4_640),
}
NAMES = {"ic": "IC: ResNet-8", "kws": "KWS: DS-CNN",
         "vww": "VWW: MobileNetV1 x0.25", "ad": "AD: autoencoder"}


def _build(task):
    """The network at width 1, with the same initial weights every call."""
    import keras

    import tfprune

    keras.utils.set_random_seed(0)
    return {"ic": tfprune.models.resnet8_tiny,
            "kws": tfprune.models.ds_cnn_tiny,
            "vww": tfprune.models.mobilenet_v1_tiny,
            "ad": tfprune.models.autoencoder_tiny}[task]()


def _tflm_ms(files):
    """Median milliseconds of one TFLite Micro inference of each file, timed
    in turns (drifts in the load of the machine reach all alike)."""
    from tfprune.device import latency

    invokes = [latency.ready_invoke(tflite, "tflm") for tflite in files]
    times = [[] for _ in files]
    for _ in range(FLAGS.repeats):
        for invoke, timing in zip(invokes, times):
            invoke()
            start = time.process_time()
            for _ in range(FLAGS.runs):
                invoke()
            timing.append((time.process_time() - start) / FLAGS.runs)
    return [1000 * statistics.median(timing) for timing in times]


def _sizes(model, dense_quantization=None):
    from tfprune import convert
    from tfprune.device import flash

    kwargs = {"dense_quantization": dense_quantization} \
        if dense_quantization else {}
    tflite = flash.converted(model, **kwargs)
    return tflite, convert.tflm_arena_bytes(tflite, model_name=model.name)


def _mark(value, limit):
    return "yes" if value <= limit else "**no**"


def unpruned_table():
    import tfprune

    lines = [
        "MLPerf Tiny reference networks, unpruned (width 1, reference input "
        "shape): tfprune's int8 `.tflite` (`target=\"mcu\"`, Dense layers "
        "quantized per tensor: the default) and smallest TFLite Micro arena "
        "(64-bit Python interpreter) against the MLPerf Tiny v1.x reference "
        "files. Last two columns: the same with Dense layers per channel "
        "(`dense_quantization=\"per_channel\"`).",
        "",
        "| network | input | params | MACs | int8 bytes | reference bytes "
        "| ≤ reference | TFLM arena | reference arena | ≤ reference "
        "| per-channel bytes | per-channel arena |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for task in TASKS:
        model = _build(task)
        measured = tfprune.measure(model)
        tflite, arena = _sizes(model)
        per_channel, per_channel_arena = _sizes(model, "per_channel")
        ref_bytes, ref_arena = REFERENCE[task]
        shape = "x".join(str(d) for d in model.inputs[0].shape[1:])
        line = (f"| {NAMES[task]} | {shape} | {measured['params']:,} | "
                f"{measured['macs']:,} | {len(tflite):,} | {ref_bytes:,} | "
                f"{_mark(len(tflite), ref_bytes)} | {arena:,} | "
                f"{ref_arena:,} | {_mark(arena, ref_arena)} | "
                f"{len(per_channel):,} | {per_channel_arena:,} |")
        print(line, flush=True)
        lines.append(line)
    return lines


def budgets_table():
    import tfprune

    lines = [
        "KWS, VWW and AD pruned at once to a fraction of the reference "
        "file's bytes (`prune_now(gated, flash_bytes=..., "
        "importance=\"l1\")`, untrained weights), shrunk, int8 "
        "(`target=\"mcu\"`). TFLM latency: TFLite Micro Python interpreter, "
        f"reference kernels, batch 1, median of {FLAGS.repeats} timings of "
        f"{FLAGS.runs} invocations (processor time; a network's models timed "
        "in turns), this host; ratio to the unpruned network (timed again "
        "alongside; 100% rows are it).",
        "",
        "| network | budget | flash budget | params | MACs | int8 bytes "
        "| ≤ budget | TFLM arena | TFLM ms | latency ratio |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for task in FLAGS.budget_tasks:
        model = _build(task)
        full, _ = _sizes(model)
        rows = []
        for fraction in map(float, FLAGS.fractions):
            budget = int(fraction * REFERENCE[task][0])
            if len(full) <= budget:
                small, note = model, " (unpruned: fits)"
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    gated = tfprune.gate(_build(task))
                    tfprune.prune_now(gated, flash_bytes=budget,
                                      importance="l1")
                small, note = tfprune.shrink(gated), ""
            rows.append((fraction, note, budget, tfprune.measure(small),
                         *_sizes(small)))
        full_ms, *ms = _tflm_ms([full] + [row[4] for row in rows])
        for (fraction, note, budget, measured, tflite, arena), row_ms in zip(
                rows, ms):
            line = (f"| {NAMES[task]} | {fraction:.0%}{note} | {budget:,} | "
                    f"{measured['params']:,} | {measured['macs']:,} | "
                    f"{len(tflite):,} | {_mark(len(tflite), budget)} | "
                    f"{arena:,} | {row_ms:.2f} | {row_ms / full_ms:.3f} |")
            print(line, flush=True)
            lines.append(line)
    return lines


def main(argv):
    del argv
    unknown = sorted(set(FLAGS.tables) - {"unpruned", "budgets"})
    if unknown or not set(FLAGS.budget_tasks) <= set(TASKS):
        raise app.UsageError(
            f"--tables takes unpruned, budgets; --budget_tasks {TASKS}. "
            f"Received: --tables={FLAGS.tables} "
            f"--budget_tasks={FLAGS.budget_tasks}")
    tables = {"unpruned": unpruned_table, "budgets": budgets_table}
    for name in ("unpruned", "budgets"):
        if name not in FLAGS.tables:
            continue
        lines = tables[name]()
        path = os.path.join(FLAGS.results_dir, f"mlperf_tiny_{name}.md")
        with open(path, "w") as f:
            f.write("\n".join([provenance.stamp(), ""] + lines) + "\n")
        print(f"\nwrote {path}\n", flush=True)


if __name__ == "__main__":
    app.run(main)
