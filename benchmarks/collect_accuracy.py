"""Collects the JSONs of benchmarks/accuracy.py into a table and plots.

    python benchmarks/collect_accuracy.py --results_dir=benchmarks/results/accuracy

Writes into --results_dir:
  summary.md              one row per method and budget (mean over seeds, with
                          every seed's value), the table docs/results.md shows;
  accuracy_vs_removed.png validation top-1 against the parameters removed
                          and against the MACs removed;
  widths.png              kept channels per layer, per method, vs the original;
  epochs.png              validation and training accuracy per epoch, with the
                          removed fraction, for every pruning run.
"""

import collections
import os

from absl import app, flags

import provenance  # noqa: E402

import run_reports

FLAGS = flags.FLAGS
flags.DEFINE_string("results_dir", "benchmarks/results/accuracy",
                    "Folder of <method>_<metric><target>_s<seed>.json files.")

ORDER = ("tfprune", "l1", "l1oneshot", "random", "slimming", "dcp", "thin",
         "scratch", "unpruned")
TEACHERS = {None: "", "warmup": " + self-KD (warm-up snapshot)",
            "initial": " + self-KD (initial weights)"}


def groups(runs):
    """`{(method, metric, target): [runs]}`, grouped by budget."""
    grouped = collections.defaultdict(list)
    for r in runs:
        target = r["target"] if r["method"] not in (
            "thin", "scratch", "unpruned") \
            else r["name"].split("_")[1].removeprefix(r["metric"])
        teacher = r.get("teacher")
        method = r["method"] + TEACHERS.get(teacher, " + KD") + (
            " + shrunk hold" if r.get("shrink_for_hold") else "")
        if r["method"] == "scratch" and "_from-" in r["name"]:
            method += " (widths of " + r["name"].split("_from-")[1].split(
                "_")[0] + ")"
        if r.get("weight_decay", 5e-4) != 5e-4:
            method += f", weight decay {r['weight_decay']:g}"
        if r.get("round_to", 1) > 1:
            method += f", widths in multiples of {r['round_to']}"
        if isinstance(target, dict):  # several budgets, every one met
            target = " and ".join(f"{v:g} {k}" for k, v in target.items())
        grouped[(method, r["metric"], str(target))].append(r)

    def order(item):  # one block per budget (parameters first), then method
        method, metric, target = item[0]
        base = method.split(" ")[0]
        return (metric != "params", metric, target,
                ORDER.index(base) if base in ORDER else 99, method)

    return dict(sorted(grouped.items(), key=order))


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _budget(metric, target, run):
    """'−94% params', or '−94.1% params and −76.2% macs' for a run with
    several budgets (`run["target"]` a dict: `--macs_target`)."""
    if isinstance(run.get("target"), dict):
        return " and ".join(f"−{v:.1%} {k}"
                            for k, v in run["target"].items())
    return f"−{float(target):.0%} {metric}"


def table(runs):
    lines = [
        "| method | budget | seeds | params (removed) | MACs removed | "
        "val top-1 float: mean (each seed) | int8 LiteRT | int8 TFLM | "
        ".tflite bytes | minutes |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for (method, metric, target), rs in groups(runs).items():
        removed = rs[0]["removed_vs_reference"]
        each = ", ".join(f"{100 * r['val_accuracy_float']:.2f}" for r in rs)
        tflm = _mean([r.get("val_accuracy_int8_tflm") for r in rs])
        budget = "—" if method == "unpruned" else _budget(metric, target,
                                                           rs[0])
        lines.append(
            f"| {method} | {budget} | {len(rs)} | "
            f"{rs[0]['after']['params']:,} (−{100 * removed['params']:.2f}%) | "
            f"−{100 * removed['macs']:.1f}% | "
            f"**{_pct(_mean([r['val_accuracy_float'] for r in rs]))}** "
            f"({each}) | "
            f"{_pct(_mean([r['val_accuracy_int8_litert'] for r in rs]))} | "
            f"{_pct(tflm)} | {rs[0]['tflite_bytes']:,} | "
            f"{_mean([r['seconds'] for r in rs]) / 60:.0f} |")
    return "\n".join(lines) + "\n"


def tfmot_table(tfmot_runs):
    """tensorflow-model-optimization's magnitude pruning beside tfprune:
    the files' bytes, gzipped bytes and LiteRT latency."""
    if not tfmot_runs:
        return ""
    lines = [
        "| method | seed | nonzero kernel weights | val top-1 float | int8 "
        "LiteRT | .tflite bytes | gzipped bytes | LiteRT ms (1 thread) |",
        "|---|---|---|---|---|---|---|---|"]
    for r in tfmot_runs:
        row = f" ({r['row']} row)" if r.get("row") else ""
        lines.append(
            f"| tfmot magnitude, {r['target']:.0%} sparsity{row} | "
            f"{r['seed']} | "
            f"{1 - r['kernel_sparsity']:.1%} | "
            f"{_pct(r['val_accuracy_float'])} | "
            f"{_pct(r['val_accuracy_int8_litert'])} | "
            f"{r['tflite_bytes']:,} | {r['gzip_bytes']:,} | "
            f"{r['latency_ms_litert']:.3f} |")
        same = r.get("tfprune_same_seed")
        if same:
            lines.append(
                f"| tfprune (same seed's .tflite) | {r['seed']} | | | | "
                f"{same['tflite_bytes']:,} | {same['gzip_bytes']:,} | "
                f"{same['latency_ms_litert']:.3f} |")
    return "\n" + "\n".join(lines) + "\n"


def plot_accuracy(runs, path):
    """Validation top-1 against the parameters removed and the MACs removed
    (a MACs budget and a parameter budget spend the cuts differently)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for (method, metric, target), rs in groups(runs).items():
        y = [100 * r["val_accuracy_float"] for r in rs]
        for ax, cost in zip(axes, ("params", "macs")):
            x = [100 * r["removed_vs_reference"][cost] for r in rs]
            ax.scatter(x, y, label=f"{method} ({metric} {target})", s=30)
    for ax, cost in zip(axes, ("parameters", "MACs")):
        ax.set_xlabel(f"{cost} removed (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation top-1 (%)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_widths(runs, path):
    import matplotlib.pyplot as plt

    pruned = [(k, rs) for k, rs in groups(runs).items() if rs[0]["layer_widths"]]
    if not pruned:
        return
    layers = list(pruned[0][1][0]["layer_widths"])
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([pruned[0][1][0]["layer_widths"][n][1] for n in layers], "k--",
            label="original")
    for (method, metric, target), rs in pruned:
        kept = [_mean([r["layer_widths"][n][0] for r in rs]) for n in layers]
        ax.plot(kept, marker="o", ms=3, label=f"{method} ({metric} {target})")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("channels kept (mean over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_epochs(runs, path):
    import matplotlib.pyplot as plt

    pruned = [r for r in runs if r["layer_widths"]]
    if not pruned:
        return
    columns = min(3, len(pruned))
    rows = -(-len(pruned) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 2.4 * rows),
                             squeeze=False)
    for ax in axes.flat[len(pruned):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, pruned):
        h = r["history"]
        epochs = range(1, len(h["accuracy"]) + 1)
        ax.plot(epochs, h["accuracy"], label="train")
        ax.plot(epochs, h["val_accuracy"], label="validation")
        ax.set_ylim(0, 1)
        ax.set_title(r["name"], fontsize=8)
        ax.set_ylabel("top-1", fontsize=8)
        removed = [k for k in h if k.startswith("pruned_")]
        if removed:
            twin = ax.twinx()
            twin.plot(epochs, h[removed[0]], "k:", label="removed")
            twin.set_ylim(0, 1)
            twin.set_ylabel("removed", fontsize=8)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes.flat[max(0, len(pruned) - columns):len(pruned)]:
        ax.set_xlabel("epoch")  # the lowest plot of each column
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def stability(runs):
    """Largest (train − validation) accuracy gap of every pruning run, in
    points, over the epochs whose masks changed (the ramp) and overall."""
    lines = []
    for r in runs:
        h = r["history"]
        removed = [v for k, v in h.items() if k.startswith("pruned_")]
        if not r["layer_widths"] or "val_accuracy" not in h or not removed:
            continue
        gaps = [t - v for t, v in zip(h["accuracy"], h["val_accuracy"])]
        ratios = removed[0]
        ramp = [e for e in range(len(gaps)) if ratios[e] > 0 and (
            e == 0 or ratios[e] != ratios[e - 1])]
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        text = f"- {r['name']}: largest train − validation gap "
        if ramp:
            in_ramp = max(ramp, key=gaps.__getitem__)
            text += (f"in the epochs whose masks changed {100 * gaps[in_ramp]:.1f}"
                     f" pt (epoch {in_ramp + 1}); ")
        lines.append(text + f"overall {100 * gaps[worst]:.1f} pt "
                     f"(epoch {worst + 1})")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    runs = run_reports.load(FLAGS.results_dir)
    if not runs:
        raise SystemExit(f"No run JSONs in {FLAGS.results_dir}.")
    tfmot_runs = [r for r in runs if r["method"] == "tfmot"]
    runs = [r for r in runs if r["method"] != "tfmot"]
    text = (provenance.stamp() + "\n\n" + table(runs) + "\n" + stability(runs)
            + tfmot_table(tfmot_runs))
    with open(os.path.join(FLAGS.results_dir, "summary.md"), "w") as f:
        f.write(text)
    plot_accuracy(runs, os.path.join(FLAGS.results_dir,
                                     "accuracy_vs_removed.png"))
    plot_widths(runs, os.path.join(FLAGS.results_dir, "widths.png"))
    plot_epochs(runs, os.path.join(FLAGS.results_dir, "epochs.png"))
    print(text)


if __name__ == "__main__":
    app.run(main)
