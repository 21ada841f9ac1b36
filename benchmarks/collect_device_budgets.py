"""Collects device-budget runs of benchmarks/accuracy.py: a table and plots.

    python benchmarks/collect_device_budgets.py \
        --results_dir=benchmarks/results/device_budgets

Every JSON in --results_dir (and its subfolders, one per model) is one run (pruned to `--flash_bytes`,
`--arena_bytes` or a parameter ratio). Writes into --results_dir:
  summary.md         one row per run: the budget, the exported int8 model's
                     bytes and TFLite Micro arena (measured), whether it
                     meets the budget, accuracy (float, int8 in LiteRT
                     and in the TFLite Micro interpreter);
  accuracy_vs_bytes.png  validation top-1 (int8) against flash bytes and
                     against arena bytes, one colour per model.
"""

import os

from absl import app, flags

import provenance  # noqa: E402

import run_reports

FLAGS = flags.FLAGS
flags.DEFINE_string("results_dir", "benchmarks/results/device_budgets",
                    "Folder of accuracy.py JSON files.")

MODEL_NAMES = {"vgg16_cifar": "VGG-16-BN", "resnet20_cifar": "ResNet-20"}


def model_label(run):
    name = MODEL_NAMES.get(run["model"], run["model"])
    return f"{name} x{run['width']:g}"


def budget_label(run):
    parts = [f"{name} <= {run[key]:,} B" for name, key in (
        ("flash", "flash_bytes"), ("arena", "arena_bytes")) if run.get(key)]
    return ", ".join(parts) or f"-{run['target']:.2%} {run['metric']}"


def meets(run):
    """Whether the exported model meets its device budgets ("" if none)."""
    checks = [run["tflite_bytes"] <= run["flash_bytes"]
              if run.get("flash_bytes") else None,
              run["tflm_arena_bytes"] <= run["arena_bytes"]
              if run.get("arena_bytes") else None]
    checks = [c for c in checks if c is not None]
    return "" if not checks else ("yes" if all(checks) else "**no**")


def tflm(run):
    """int8 accuracy in the TFLite Micro interpreter, on how many images."""
    if run.get("val_accuracy_int8_tflm") is None:
        return "not run"
    return (f"{run['val_accuracy_int8_tflm']:.2%} "
            f"({run['tflm_samples']} images)")


def order(run):
    """Rows by model, then flash budgets, arena budgets, ratios; by size."""
    kind = 0 if run.get("flash_bytes") else 1 if run.get("arena_bytes") \
        else 2
    return (model_label(run), kind, run.get("flash_bytes")
            or run.get("arena_bytes") or run["target"])


def table(runs):
    lines = [
        "| model | budget | params removed | .tflite bytes | TFLM arena "
        "bytes | meets budget | val top-1 float | int8 (LiteRT) | int8 "
        "(TFLite Micro) | epochs |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(runs, key=order):
        lines.append(
            f"| {model_label(run)} | {budget_label(run)} | "
            f"{run['removed']['params']:.2%} | {run['tflite_bytes']:,} | "
            f"{run['tflm_arena_bytes']:,} | {meets(run)} | "
            f"{run['val_accuracy_float']:.2%} | "
            f"{run['val_accuracy_int8_litert']:.2%} | {tflm(run)} | "
            f"{run['epochs']} |")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    models = sorted({model_label(r) for r in runs})
    for column, (key, title) in enumerate((
            ("tflite_bytes", "int8 .tflite (flash) bytes"),
            ("tflm_arena_bytes", "TFLite Micro arena bytes"))):
        axis = axes[column]
        for index, model in enumerate(models):
            colour = f"C{index}"
            for run in runs:
                if model_label(run) != model:
                    continue
                device = run.get("flash_bytes") or run.get("arena_bytes")
                axis.scatter(run[key] / 1024,
                             100 * run["val_accuracy_int8_litert"],
                             color=colour, marker="o" if device else "s",
                             label=model if device else None)
                axis.annotate(budget_label(run), (
                    run[key] / 1024, 100 * run["val_accuracy_int8_litert"]),
                    fontsize=6, xytext=(3, 3) if device else (3, -9),
                    textcoords="offset points")
        axis.set_xscale("log", base=2)
        axis.xaxis.set_major_locator(ticker.LogLocator(base=2,
                                                       subs=(1.0, 1.5)))
        axis.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_xlabel(title + " (KiB, log scale)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("validation top-1, int8 (%)")
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axes[0].legend(unique.values(), unique.keys(), fontsize=8,
                   title="circle: device budget; square: params ratio",
                   title_fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv):
    del argv
    runs = run_reports.load(FLAGS.results_dir, recursive=True)
    if not runs:
        raise app.UsageError(f"No JSON files in {FLAGS.results_dir}.")
    with open(os.path.join(FLAGS.results_dir, "summary.md"), "w") as f:
        f.write(provenance.stamp() + "\n\n" + table(runs))
    plot(runs, os.path.join(FLAGS.results_dir, "accuracy_vs_bytes.png"))
    print(table(runs))


if __name__ == "__main__":
    app.run(main)
