"""Collects the MLPerf Tiny image-classification runs: a table and a plot.

    python benchmarks/collect_mlperf_ic.py \
        --results_dir=benchmarks/results/mlperf_ic

Every JSON under --results_dir (subfolders included: `finetune_e<E>/`
holds the runs that start from the trained ResNet-8) is one run of
benchmarks/accuracy.py --model=resnet8. Writes into --results_dir:
  summary.md        one row per method and flash budget: int8 validation
                    top-1 (mean over seeds, and every seed), float, the
                    difference to the unpruned model, the int8 file's bytes
                    and its TFLite Micro arena;
  accuracy_vs_flash.png  int8 validation top-1 against the int8 file's
                    bytes, one colour per method, the budgets as lines.
"""

import os

from absl import app, flags

import provenance  # noqa: E402

import run_reports

FLAGS = flags.FLAGS
flags.DEFINE_string("results_dir", "benchmarks/results/mlperf_ic",
                    "Folder of accuracy.py JSON files (searched recursively).")

REFERENCE_BYTES = 98_496  # MLPerf Tiny's reference int8 ResNet-8 file


def method_label(run):
    """The method, its teacher and where it started: "tfprune + self-KD
    (from trained, 10 ep)"."""
    label = run["method"]
    if run.get("teacher") == "initial":
        label += " + self-KD"
    elif run.get("teacher"):
        label += " + KD from a trained unpruned model"
    if run.get("init_from"):
        label += f" (from trained, {run['epochs']} ep)"
    if run.get("round_to", 1) > 1:
        label += f", widths in multiples of {run['round_to']}"
    return label


def budget_label(run):
    if run.get("flash_bytes"):
        return f"≤ {run['flash_bytes']:,} B"
    if run["method"] == "thin" and "--flash_bytes=" in run["command"]:
        budget = int(run["command"].split("--flash_bytes=")[1].split()[0])
        return f"≤ {budget:,} B"
    return "none"


def groups(runs):
    """`{(budget, method): [runs]}`, budgets largest first."""
    found = {}
    for run in runs:
        found.setdefault((budget_label(run), method_label(run)),
                         []).append(run)

    def order(key):
        budget = key[0]
        size = 10**9 if budget == "none" else int(
            budget.split()[1].replace(",", ""))
        return -size, key[1]

    return {key: sorted(found[key], key=lambda r: r["seed"])
            for key in sorted(found, key=order)}


def _mean(values):
    return sum(values) / len(values)


def table(runs):
    by_key = groups(runs)
    unpruned = [r["val_accuracy_int8_litert"] for (_, m), rs in by_key.items()
                if m == "unpruned" for r in rs]
    base = _mean(unpruned) if unpruned else None
    lines = [
        "| flash budget | method | int8 top-1, mean (seeds) | Δ vs unpruned "
        "| float top-1 | .tflite bytes | TFLM arena bytes | epochs |",
        "|---|---|---|---|---|---|---|---|"]
    for (budget, method), rs in by_key.items():
        int8 = [r["val_accuracy_int8_litert"] for r in rs]
        each = ", ".join(f"{100 * a:.2f}" for a in int8)
        delta = "" if base is None else f"{100 * (_mean(int8) - base):+.2f}"
        sizes = sorted({r["tflite_bytes"] for r in rs})
        arenas = sorted({r["tflm_arena_bytes"] for r in rs})
        lines.append(
            f"| {budget} | {method} | **{100 * _mean(int8):.2f}%** ({each}) "
            f"| {delta} | "
            f"{100 * _mean([r['val_accuracy_float'] for r in rs]):.2f}% | "
            f"{' / '.join(f'{s:,}' for s in sizes)} | "
            f"{' / '.join(f'{a:,}' for a in arenas)} | {rs[0]['epochs']} |")
    return "\n".join(lines) + (
        f"\n\nThe reference int8 ResNet-8 of MLPerf Tiny is "
        f"{REFERENCE_BYTES:,} B; half of it is {REFERENCE_BYTES // 2:,} B, a "
        f"quarter {REFERENCE_BYTES // 4:,} B.\n")


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    methods = sorted({method_label(r) for r in runs})
    for index, method in enumerate(methods):
        mine = [r for r in runs if method_label(r) == method]
        axis.scatter([r["tflite_bytes"] / 1000 for r in mine],
                     [100 * r["val_accuracy_int8_litert"] for r in mine],
                     color=f"C{index}", label=method, s=18)
    for fraction in (2, 4):
        axis.axvline(REFERENCE_BYTES / fraction / 1000, color="k", lw=0.8,
                     ls=":")
    axis.set_xlabel("int8 .tflite bytes (thousands); dotted: 1/2 and 1/4 of "
                    "the reference file")
    axis.set_ylabel("validation top-1, int8 (%)")
    axis.set_title("ResNet-8 (MLPerf Tiny IC) on CIFAR-10")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv):
    del argv
    runs = [r for r in run_reports.load(FLAGS.results_dir, recursive=True)
            if r.get("model") == "resnet8_tiny"]
    if not runs:
        raise app.UsageError(
            f"No ResNet-8 run JSON files under {FLAGS.results_dir}.")
    text = provenance.stamp() + "\n\n" + table(runs)
    with open(os.path.join(FLAGS.results_dir, "summary.md"), "w") as f:
        f.write(text)
    plot(runs, os.path.join(FLAGS.results_dir, "accuracy_vs_flash.png"))
    print(text)


if __name__ == "__main__":
    app.run(main)
