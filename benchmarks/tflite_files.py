"""Bytes, gzipped bytes and LiteRT latency of several .tflite files, timed
together.

    python benchmarks/tflite_files.py \
        --files='benchmarks/results/finetune_e5/tf*_s0.tflite' \
        --out=benchmarks/results/finetune_files.md

Latencies taken in different processes at different times are not
comparable on a shared machine (the same dense VGG file timed 0.068 ms in
one run and 0.134 ms in another). Here every file gets an interpreter in
one process, and the files take turns: each of --repeats rounds times
--runs invocations of every file, in processor time of one thread (as
`tfprune.device.latency.time_tflite`), and the fastest round of each file
counts (other work on the machine only adds time).
"""

import glob
import gzip
import os
import time

from absl import app, flags

import provenance  # noqa: E402

flags.DEFINE_list("files", None, "Glob patterns of .tflite files.")
flags.DEFINE_integer("repeats", 7, "Rounds over all the files.")
flags.DEFINE_integer("runs", 200, "Invocations of a file per round.")
flags.DEFINE_string("out", None, "Also write the table to this file.")
FLAGS = flags.FLAGS


def gzip_bytes(data):
    """Bytes of `data` gzipped at level 9 (what a download or an OTA
    update of the file costs)."""
    return len(gzip.compress(data, 9))


def fastest_latencies(files, repeats, runs):
    """`{path: ms}`: one int8 inference in LiteRT (batch 1, one thread), the
    fastest of `repeats` interleaved rounds of `runs` invocations."""
    from tfprune.device import latency

    invokes = {}
    for path in files:
        with open(path, "rb") as f:
            invokes[path] = latency.ready_invoke(f.read(), "litert")
        invokes[path]()
    best = {path: float("inf") for path in files}
    for _ in range(repeats):
        for path, invoke in invokes.items():
            start = time.process_time()
            for _ in range(runs):
                invoke()
            best[path] = min(best[path], (time.process_time() - start) / runs)
    return {path: 1000 * seconds for path, seconds in best.items()}


def table(files, repeats, runs):
    ms = fastest_latencies(files, repeats, runs)
    lines = [f"LiteRT, batch 1, one thread: fastest of {repeats} interleaved "
             f"rounds of {runs} invocations, processor time.", "",
             "| file | .tflite bytes | gzipped bytes | LiteRT ms |",
             "|---|---|---|---|"]
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        lines.append(f"| {path} | {len(data):,} | {gzip_bytes(data):,} | "
                     f"{ms[path]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    files = sorted({path for pattern in FLAGS.files or []
                    for path in glob.glob(pattern)})
    if not files:
        raise SystemExit(f"No .tflite file matches --files={FLAGS.files}.")
    text = provenance.stamp() + "\n\n" + table(files, FLAGS.repeats,
                                                 FLAGS.runs)
    if FLAGS.out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)),
                    exist_ok=True)
        with open(FLAGS.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
