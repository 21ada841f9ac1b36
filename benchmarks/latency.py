"""Real gains on the device side: int8 .tflite bytes, TFLM arena, LiteRT latency.

    python benchmarks/latency.py --pruned=runs/vgg16_t0.94 --unpruned=runs/vgg16_t0

Each folder is a recipe --out_dir (model_int8.tflite + report.json). Latency
is LiteRT (ai_edge_litert), batch 1, with 1 and 2 threads; the two models
alternate --repeats times, each time timing --runs invocations, and the
medians are compared. The MACs ratio is the ideal speed-up.
"""

import json
import os
import statistics
import time

from absl import app, flags

flags.DEFINE_string("pruned", "runs/vgg16_t0.94", "Pruned recipe out_dir.")
flags.DEFINE_string("unpruned", "runs/vgg16_t0", "Unpruned recipe out_dir.")
flags.DEFINE_integer("repeats", 7, "Alternating measurements per model.")
flags.DEFINE_integer("runs", 200, "Invocations per measurement.")
FLAGS = flags.FLAGS


def load(folder):
    with open(os.path.join(folder, "model_int8.tflite"), "rb") as f:
        tflite = f.read()
    with open(os.path.join(folder, "report.json")) as f:
        report = json.load(f)
    return tflite, report


def mean_latency(interpreter, runs):
    interpreter.invoke()
    start = time.perf_counter()
    for _ in range(runs):
        interpreter.invoke()
    return (time.perf_counter() - start) / runs


def main(argv):
    del argv
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from tfprune.convert import tflm_arena_bytes

    models = {"pruned": load(FLAGS.pruned), "unpruned": load(FLAGS.unpruned)}
    rows = {}
    for threads in (1, 2):
        interpreters = {}
        for name, (tflite, _) in models.items():
            it = Interpreter(model_content=tflite, num_threads=threads)
            it.allocate_tensors()
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            interpreters[name] = it
        times = {name: [] for name in models}
        for _ in range(FLAGS.repeats):
            for name, it in interpreters.items():
                times[name].append(mean_latency(it, FLAGS.runs))
        rows[threads] = {n: statistics.median(t) for n, t in times.items()}

    p_tflite, p_report = models["pruned"]
    u_tflite, u_report = models["unpruned"]
    p_arena, u_arena = tflm_arena_bytes(p_tflite), tflm_arena_bytes(u_tflite)
    macs_ratio = p_report["after"]["macs"] / u_report["after"]["macs"]
    params_ratio = p_report["after"]["params"] / u_report["after"]["params"]
    lines = [
        f"pruned: {FLAGS.pruned}  unpruned: {FLAGS.unpruned}",
        f"LiteRT batch 1, median of {FLAGS.repeats} x {FLAGS.runs} runs",
        "| measure | unpruned | pruned | pruned / unpruned |",
        "|---|---|---|---|",
        f"| params | {u_report['after']['params']:,} | "
        f"{p_report['after']['params']:,} | {params_ratio:.3f} |",
        f"| MACs (ideal latency ratio) | {u_report['after']['macs']:,} | "
        f"{p_report['after']['macs']:,} | {macs_ratio:.3f} |",
        f"| .tflite bytes | {len(u_tflite):,} | {len(p_tflite):,} | "
        f"{len(p_tflite) / len(u_tflite):.3f} |",
        f"| TFLM arena bytes | {u_arena:,} | {p_arena:,} | "
        f"{p_arena / u_arena:.3f} |",
    ]
    for threads, r in rows.items():
        lines.append(
            f"| LiteRT latency, {threads} thread{'s' * (threads > 1)} (ms) | "
            f"{1000 * r['unpruned']:.3f} | {1000 * r['pruned']:.3f} | "
            f"{r['pruned'] / r['unpruned']:.3f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
