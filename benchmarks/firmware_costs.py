"""What the device sees: firmware flash and RAM, and emulated latency, of
pruned networks built for a Cortex-M4 with CMSIS-NN and reference kernels.

    python benchmarks/firmware_costs.py --reference_dir=<MLPerf Tiny int8 files> \
        --tflm_root=../shared/tflm > benchmarks/results/firmware_costs.md

1. Calibration. The four MLPerf Tiny reference int8 files (`ic.tflite`,
   `kws.tflite`, `vww.tflite`, `ad.tflite` in --reference_dir: the
   benchmark repository's `pretrainedResnet_quant`, `kws_ref_model`,
   `vww_96_int8` and `ad01_int8`) run in firmware built from `tfprune`'s
   project (Cortex-M4, CMSIS-NN) under QEMU's mps2-an386 with
   `-icount shift=0`: the MPS2 timer's ticks around `Invoke()` repeat
   exactly. The MLPerf Tiny v0.5 reference submission measured the same
   files on a NUCLEO-L4R5ZI (Cortex-M4, 120 MHz, TFLite Micro + CMSIS-NN).
   One factor, ticks per board millisecond, is fitted to IC, KWS and VWW
   (the geometric mean of their ticks / ms); each file's predicted ms
   against the board's is listed, AD too.
2. The table. Each MLPerf Tiny network (`tfprune.models`, untrained weights
   with a little noise) at 100 / 50 / 25% of its reference file's bytes
   (`prune_now(flash_bytes=..., importance="l1")`) and VGG-16-BN x0.25
   unpruned, at -50% MACs and at -94% params: exported with
   `target="mcu"`, built for the Cortex-M4 with CMSIS-NN and with the
   reference kernels, run on 2 inputs: firmware flash (text + data: the
   model and the runtime its operators need), static RAM (data + bss, the
   reserved tensor arena included), the arena used, ticks, milliseconds
   on the calibrated board, and the latency ratio to the unpruned network
   beside the MACs ratio.
3. The int8-only kernel registrations (`op_resolver.h`) against the
   general ones: flash saved, per network (CMSIS-NN).
"""

import math
import os
import statistics
import sys
import tempfile
import warnings

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # before TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

flags.DEFINE_string("reference_dir", None,
                    "Folder with the MLPerf Tiny int8 reference files "
                    "ic.tflite, kws.tflite, vww.tflite, ad.tflite.")
flags.DEFINE_string("tflm_root", "../shared/tflm",
                    "Folder with TFLite Micro's cmsis-nn/, reference/ and "
                    "cmsis/ trees.")
flags.DEFINE_string("cache", os.path.join(
    os.path.expanduser("~"), ".cache", "tfprune", "firmware"),
    "Where the TFLite Micro libraries are built and kept.")
flags.DEFINE_list("fractions", ["1.0", "0.5", "0.25"],
                  "Flash budgets, as fractions of the reference files.")
flags.mark_flag_as_required("reference_dir")
FLAGS = flags.FLAGS

CORE = "cortex-m4"
# MLPerf Tiny v0.5 results, reference submission (NUCLEO-L4R5ZI, Cortex-M4
# at 120 MHz, TFLite Micro with CMSIS-NN): milliseconds per inference.
BOARD_MS = {"ic": 704.2, "kws": 181.9, "vww": 600.6, "ad": 10.05}
FITTED = ("ic", "kws", "vww")
REFERENCE_BYTES = {"ic": 98_496, "kws": 53_936, "vww": 333_288,
                   "ad": 276_976}
NAMES = {"ic": "IC: ResNet-8", "kws": "KWS: DS-CNN",
         "vww": "VWW: MobileNetV1 x0.25", "ad": "AD: autoencoder",
         "vgg": "VGG-16-BN x0.25"}


def _lib_dir(kernels):
    return os.path.join(FLAGS.cache, f"bench-{CORE}-{kernels}")


def _run(project, kernels, inputs):
    """`(sizes, RunResult)` of a project built with `kernels`."""
    from tfprune import firmware

    build = os.path.join(project, "build", kernels)
    program = firmware.build(project, CORE, FLAGS.tflm_root,
                             build_dir=build, lib_dir=_lib_dir(kernels),
                             kernels=kernels)
    return firmware.sizes(program, CORE), firmware.run(program, CORE, inputs)


def _project(tflite, directory, int8_kernels=True):
    """A firmware project for a `.tflite` made elsewhere."""
    from tfprune import convert, deploy, firmware

    os.makedirs(directory, exist_ok=True)
    firmware.write_project(
        directory, tflite, convert.model_ops(tflite),
        deploy.reserved_arena(convert.tflm_arena_bytes(tflite)),
        deploy.ARENA_MARGIN, sample=_random_inputs(tflite, 1)[0],
        int8_kernels=int8_kernels)
    return directory


def _random_inputs(tflite, count):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    shape = Interpreter(model_content=tflite).get_input_details()[0]["shape"]
    return np.random.default_rng(0).integers(
        -128, 128, (count, int(np.prod(shape[1:])))).astype(np.int8)


def calibrate(tmp):
    """`(ticks per board ms, table lines)` from the reference files."""
    ticks = {}
    for task in BOARD_MS:
        with open(os.path.join(FLAGS.reference_dir, f"{task}.tflite"),
                  "rb") as f:
            tflite = f.read()
        project = _project(tflite, os.path.join(tmp, f"ref_{task}"))
        _, result = _run(project, "cmsis-nn", _random_inputs(tflite, 1))
        ticks[task] = result.ticks[0]
    factor = math.exp(statistics.mean(
        math.log(ticks[t] / BOARD_MS[t]) for t in FITTED))
    lines = [
        f"Ticks per board millisecond, fitted to {', '.join(FITTED)} "
        f"(geometric mean of ticks / ms): **{factor:,.1f}**.", "",
        "| reference file | emulated ticks | board ms (MLPerf Tiny v0.5) "
        "| predicted ms | error |", "|---|---|---|---|---|"]
    for task, count in ticks.items():
        predicted = count / factor
        lines.append(
            f"| {NAMES[task]}{'' if task in FITTED else ' (not fitted)'} "
            f"| {count:,} | {BOARD_MS[task]:g} | {predicted:.1f} | "
            f"{predicted / BOARD_MS[task] - 1:+.1%} |")
    return factor, lines


def _noisy(model):
    import numpy as np

    rng = np.random.default_rng(0)
    model.set_weights([
        w + (max(1e-3 * np.abs(w).mean(), 1e-2)
             * rng.uniform(0.5, 1.0, w.shape)).astype(w.dtype)
        for w in model.get_weights()])
    return model


def networks():
    """`[(network, budget label, shrunk model)]`: the table's rows."""
    import keras

    import tfprune

    builders = {"ic": tfprune.models.resnet8_tiny,
                "kws": tfprune.models.ds_cnn_tiny,
                "vww": tfprune.models.mobilenet_v1_tiny,
                "ad": tfprune.models.autoencoder_tiny,
                "vgg": lambda: tfprune.models.vgg16_cifar(width=0.25)}
    budgets = {task: [(f"{float(f):.0%} flash",
                       {"flash_bytes": int(float(f) * REFERENCE_BYTES[task])})
                      for f in FLAGS.fractions] for task in REFERENCE_BYTES}
    budgets["vgg"] = [("unpruned", None), ("-50% MACs", {"ratio": 0.5,
                                                         "metric": "macs"}),
                      ("-94% params", {"ratio": 0.94})]
    for task, rows in budgets.items():
        for label, budget in rows:
            keras.utils.set_random_seed(0)
            model = _noisy(builders[task]())
            if budget is not None and not (
                    "flash_bytes" in budget and budget["flash_bytes"]
                    >= REFERENCE_BYTES[task]):
                gated = tfprune.gate(model)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tfprune.prune_now(gated, importance="l1", **budget)
                model = tfprune.shrink(gated)
            yield task, label, model


def _inputs(model, count=2):
    import numpy as np

    shape = [count] + [int(d) for d in model.inputs[0].shape[1:]]
    high = 255.0 if len(shape) == 4 and shape[-1] == 3 else 1.0
    return np.random.default_rng(0).uniform(0, high, shape).astype("float32")


def table(factor, tmp):
    """The lines of the cost table and of the int8-kernel savings."""
    import tfprune
    from tfprune import convert

    lines = [
        "| network | budget | kernels | MACs | .tflite bytes | firmware "
        "flash | static RAM | arena used | ticks | ms (calibrated) | latency "
        "ratio | MACs ratio |", "|---" * 12 + "|"]
    savings = ["| network | int8 kernels: flash | general kernels: flash "
               "| saved |", "|---|---|---|---|"]
    full = {}
    for task, label, model in networks():
        x = _inputs(model)
        project = os.path.join(tmp, task + "_" + "".join(
            c if c.isalnum() else "_" for c in label))
        tfprune.export(model, project, target="mcu", representative=x)
        with open(os.path.join(project, "model.tflite"), "rb") as f:
            tflite = f.read()
        inputs = convert.quantize_inputs(tflite, x)
        macs = tfprune.measure(model)["macs"]
        flash = {}
        for kernels in ("cmsis-nn", "reference"):
            sizes, result = _run(project, kernels, inputs)
            flash[kernels] = sizes["flash"]
            ticks = statistics.median(result.ticks)
            full.setdefault((task, kernels), (ticks, macs))
            base_ticks, base_macs = full[(task, kernels)]
            lines.append(
                f"| {NAMES[task]} | {label} | {kernels} | {macs:,} | "
                f"{len(tflite):,} | {sizes['flash']:,} | {sizes['ram']:,} | "
                f"{result.arena_used_bytes:,} | {ticks:,.0f} | "
                f"{ticks / factor:.1f} | {ticks / base_ticks:.3f} | "
                f"{macs / base_macs:.3f} |")
            print(lines[-1], file=sys.stderr, flush=True)  # progress
        if label in ("100% flash", "unpruned"):
            general = _project(tflite, project + "_general",
                               int8_kernels=False)
            general_sizes, _ = _run(general, "cmsis-nn", inputs[:1])
            savings.append(
                f"| {NAMES[task]} | {flash['cmsis-nn']:,} | "
                f"{general_sizes['flash']:,} | "
                f"{general_sizes['flash'] - flash['cmsis-nn']:,} |")
    return lines, savings


def main(argv):
    del argv
    with tempfile.TemporaryDirectory(prefix="tfprune-fw-bench-") as tmp:
        factor, calibration = calibrate(tmp)
        print("\n".join(calibration), file=sys.stderr, flush=True)
        lines, savings = table(factor, tmp)
    print("\n".join([
        provenance.stamp(), "",
        f"Firmware for {CORE} (QEMU mps2-an386, -icount shift=0), built "
        "by the project `tfprune.export(..., target=\"mcu\")` writes, "
        "against TFLite Micro in --tflm_root; newlib-nano, semihosting.",
        "", "## Calibration", "", *calibration, "",
        "## Pruned networks", "", *lines, "",
        "## int8-only kernel registrations (CMSIS-NN)", "", *savings]))


if __name__ == "__main__":
    app.run(main)
