"""Wall time of a pruning run against the unpruned run, back to back.

    python benchmarks/training_cost.py --repeats=2
    python benchmarks/training_cost.py --repeats=2 --epochs=5 --metric=macs \\
        --target=0.5 --init_from=benchmarks/results/finetune_start/unpruned_params0.94_s0.keras \\
        --results_dir=benchmarks/results/training_cost/finetune

Each repeat runs `benchmarks/accuracy.py --method=unpruned` and then
`--method=tfprune` (seed = the repeat's index, the harness' default flags
otherwise, each in its own process), one after the other, and prints the
ratio of their wall times: the whole process (imports, data, training,
shrink, export, evaluation) and the harness' own `seconds` (the run
without imports and data loading), and of their CPU times (user + system,
less moved by other load on the machine than wall time). Each run starts
afresh: the harness' training folder, which it would resume from, is
removed first, and a run that trained fewer than --epochs is refused.
Every run's JSON, `.tflite` and log go to --results_dir as the harness
names them; the ratios go to `<results_dir>/ratios.txt`. Flags after `--`
go to both harness runs as they are (`-- --width=0.125`). Give the machine
to the benchmark: anything beside it moves both times.
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import time

from absl import app, flags

import provenance  # noqa: E402

flags.DEFINE_integer("repeats", 2, "Pairs of runs (seeds 0, 1, ...).")
flags.DEFINE_integer("epochs", 30, "Epochs of every run.")
flags.DEFINE_enum("metric", "params", ["params", "macs"], "Budget metric.")
flags.DEFINE_float("target", 0.94, "Fraction of --metric tfprune removes.")
flags.DEFINE_string("init_from", None, "A trained .keras both runs start "
                    "from (the fine-tune flow); none: from scratch.")
flags.DEFINE_string("results_dir", "benchmarks/results/training_cost",
                    "Where runs and ratios.txt go.")
FLAGS = flags.FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "accuracy.py")


def harness_args(method, seed, extra):
    args = [*extra, f"--method={method}", f"--seed={seed}",
            f"--epochs={FLAGS.epochs}", f"--metric={FLAGS.metric}",
            f"--target={FLAGS.target}", f"--results_dir={FLAGS.results_dir}"]
    if FLAGS.init_from:
        args.append(f"--init_from={FLAGS.init_from}")
    return args


def _children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(method, seed, extra):
    """`(wall seconds, CPU seconds, the run's JSON report)` of one harness
    process."""
    name = f"{method}_{FLAGS.metric}{FLAGS.target:g}_s{seed}"
    log_path = os.path.join(FLAGS.results_dir, name + ".log")
    # The harness resumes from its training folder: time a fresh run.
    shutil.rmtree(os.path.join("runs", "accuracy", os.path.basename(
        os.path.normpath(FLAGS.results_dir)), name), ignore_errors=True)
    env = dict(os.environ)  # the harness imports tfprune, installed or not
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.dirname(HERE), env.get("PYTHONPATH")) if p)
    start, cpu = time.perf_counter(), _children_cpu_seconds()
    with open(log_path, "w") as log:
        done = subprocess.run([sys.executable, HARNESS,
                               *harness_args(method, seed, extra)],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - start
    cpu = _children_cpu_seconds() - cpu
    if done.returncode:
        raise RuntimeError(f"{method} seed {seed} failed (exit "
                           f"{done.returncode}): see {log_path}")
    with open(os.path.join(FLAGS.results_dir, name + ".json")) as f:
        report = json.load(f)
    trained = len(report["history"]["seconds"])
    if trained != FLAGS.epochs:
        raise RuntimeError(f"{method} seed {seed} trained {trained} of "
                           f"{FLAGS.epochs} epochs: not a whole run to time")
    return wall, cpu, report


def main(argv):
    extra = argv[1:]  # after "--": flags for the harness, both runs
    os.makedirs(FLAGS.results_dir, exist_ok=True)
    lines = [provenance.stamp(), "",
             f"tfprune ({FLAGS.metric} -{FLAGS.target:.0%}) against unpruned, "
             f"{FLAGS.epochs} epochs, "
             + (f"from {FLAGS.init_from}" if FLAGS.init_from else
                "from scratch") + ", back to back, benchmarks/accuracy.py "
             "defaults otherwise", ""]
    for seed in range(FLAGS.repeats):
        base_wall, base_cpu, base = timed_run("unpruned", seed, extra)
        wall, cpu, run = timed_run("tfprune", seed, extra)
        lines.append(
            f"seed {seed}: unpruned {base_wall:.0f} s (run "
            f"{base['seconds']:.0f} s, {base['val_accuracy_float']:.2%}), "
            f"tfprune {wall:.0f} s (run {run['seconds']:.0f} s, "
            f"{run['val_accuracy_float']:.2%}, "
            f"{run['removed'][FLAGS.metric]:.2%} {FLAGS.metric} removed): "
            f"wall {wall / base_wall:.3f}x, run "
            f"{run['seconds'] / base['seconds']:.3f}x, CPU time "
            f"{cpu / base_cpu:.3f}x")
        print(lines[-1], flush=True)
        with open(os.path.join(FLAGS.results_dir, "ratios.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
