"""Predicted against measured device costs of pruned models: flash bytes
and the TFLite Micro tensor arena.

    python benchmarks/device_costs.py > benchmarks/results/device_costs.md

For each architecture the flash polynomial (tfprune/device/flash.py) is
calibrated once, on the unpruned model, as `metric="flash"` and
`flash_bytes=` do at the start of training. Then the gated model is pruned
to several parameter ratios (random gate scores), shrunk, converted to an
int8 `.tflite` (weights randomized, as after training) and its real size
compared with the prediction. The arena model (tfprune/device/arena.py),
calibrated the same way, against `tfprune.convert.tflm_arena_bytes` (the
smallest arena the TFLite Micro interpreter runs the model in).

Latency: `tfprune.profile_latency` fits a table per architecture and
runtime (copies with 0-95% of the MACs removed at random and copies with
random per-layer widths), then the
models pruned above (by their gate scores, to parameter ratios: other
channels, other layers) are timed and compared with the table.
"""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

import provenance  # noqa: E402

flags.DEFINE_list("ratios", ["0.3", "0.5", "0.7", "0.9"],
                  "Parameter ratios removed.")
flags.DEFINE_list("runtimes", ["tflm", "litert"], "Latency runtimes.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np

    import tfprune
    from tfprune import convert
    from tfprune.device import arena, flash, latency
    from tfprune.graph import ChannelGraph

    architectures = {
        "VGG-16-BN x0.25": lambda: tfprune.models.vgg16_cifar(width=0.25),
        "ResNet-20": lambda: tfprune.models.resnet_cifar(20),
        "MobileNetV2 (CIFAR) x0.5": lambda: tfprune.models.mobilenet_v2_cifar(
            width=0.5),
        # Full width, for LiteRT: there the x0.25 models above take
        # ~0.1-0.4 ms whatever their width (fixed per-operator costs).
        "VGG-16-BN x1": lambda: tfprune.models.vgg16_cifar(width=1.0),
    }
    runtimes_of = {"VGG-16-BN x1": ["litert"]}
    print(provenance.stamp() + "\n")
    print("| model | params removed | flash: predicted | measured | error "
          "| arena: predicted | measured | error |")
    print("|---|---|---|---|---|---|---|---|")
    errors, arena_errors = [], []
    latency_rows, latency_errors = [], []
    for name, build in architectures.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gated = tfprune.gate(build())
        poly = flash.flash_polynomial(ChannelGraph(gated))  # calibrated
        arena_model = arena.ArenaModel(ChannelGraph(gated))
        tables = {}
        for runtime in runtimes_of.get(name, FLAGS.runtimes):
            if runtime not in FLAGS.runtimes:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # flat tables: see below
                tables[runtime] = tfprune.profile_latency(build(), runtime)
        rng = np.random.default_rng(0)
        for ratio in map(float, FLAGS.ratios):
            for layer in gated.layers:
                if isinstance(layer, tfprune.ChannelGate):
                    layer.score.assign(rng.normal(size=layer.channels))
            tfprune.prune_now(gated, ratio)
            graph = ChannelGraph(gated)
            widths = [g.gate.kept_channels() for g in graph.groups]
            tflite = flash.converted(tfprune.shrink(gated))
            predicted, measured = poly(widths), len(tflite)
            arena_predicted = arena_model(widths)
            arena_measured = convert.tflm_arena_bytes(tflite)
            error = predicted / measured - 1
            arena_error = arena_predicted / arena_measured - 1
            errors.append(abs(error))
            arena_errors.append(abs(arena_error))
            for runtime, table in tables.items():
                try:
                    ms = latency.time_tflite(
                        tflite, runtime, runs=5 if runtime == "tflm" else 200)
                except RuntimeError as error:
                    if not convert.is_xnnpack_refusal(error):
                        raise
                    latency_rows.append(
                        f"| {name} | {runtime} | not timed: {error} | "
                        f"{ratio:.0%} | | | |")
                    continue
                predicted_ms = table.predict_model(gated)
                latency_errors.append(abs(predicted_ms / ms - 1))
                described = f"flat: {table.ms_fixed:.3f} ms" if table.flat \
                    else (f"{table.ms_per_mmac:.4f} ms/MMAC + "
                          f"{table.ms_per_kelement:.4f} ms/k-output + "
                          f"{table.ms_per_mparam:.4f} ms/M-param + "
                          f"{table.ms_per_kchannel:.4f} ms/k-channel + "
                          f"{table.ms_fixed:.3f} ms; "
                          f"{len(table.points)} copies")
                latency_rows.append(
                    f"| {name} | {runtime} | {described} | {ratio:.0%} | "
                    f"{predicted_ms:.3f} | {ms:.3f} | "
                    f"{100 * (predicted_ms / ms - 1):+.1f}% |")
            print(f"| {name} | {ratio:.0%} | {predicted:,.0f} | "
                  f"{measured:,} | {100 * error:+.2f}% | "
                  f"{arena_predicted:,.0f} | {arena_measured:,} | "
                  f"{100 * arena_error:+.2f}% |", flush=True)
    print(f"\n{len(errors)} pruned models. Flash: largest |error| "
          f"{100 * max(errors):.2f}%, mean {100 * np.mean(errors):.2f}%. "
          f"Arena: largest |error| {100 * max(arena_errors):.2f}%, mean "
          f"{100 * np.mean(arena_errors):.2f}%.")
    print("\nLatency (processor time of one thread, fastest of 5 timings):\n")
    print("| model | runtime | table | params removed | predicted ms | "
          "measured ms | error |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(latency_rows))
    if latency_errors:
        print(f"\n{len(latency_errors)} latency checks; largest |error| "
              f"{100 * max(latency_errors):.1f}%, mean "
              f"{100 * np.mean(latency_errors):.1f}%.")


if __name__ == "__main__":
    app.run(main)
