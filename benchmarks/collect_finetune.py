"""Collects the trained-model fine-tune protocol into one table and a plot.

    python benchmarks/collect_finetune.py --results_root=benchmarks/results

Reads `<root>/finetune_start/` (the trained model every run starts from)
and every `<root>/finetune_e<E>/` (E fine-tune epochs; the JSONs of
benchmarks/accuracy.py --init_from and benchmarks/tfmot_baseline.py
--init_from), and writes into the root:
  finetune.md   per method and budget, the validation top-1 after each E
                (mean over seeds, every seed, and the difference to the
                trained model), int8 LiteRT beside it; tfmot's rows with
                their file bytes, gzipped bytes and latency;
  finetune.png  validation top-1 against fine-tune epochs, one panel per
                budget, the trained model as a line.
Each finetune_e<E>/ folder also gets its own summary.md (collect_accuracy).
"""

import glob
import os
import re

from absl import app, flags

import provenance  # noqa: E402

import collect_accuracy
import run_reports

FLAGS = flags.FLAGS
flags.DEFINE_string("results_root", "benchmarks/results",
                    "Folder holding finetune_start/ and finetune_e<E>/.")


def folders(root):
    """`{E: path}` of every finetune_e<E> folder, by E."""
    found = {}
    for path in glob.glob(os.path.join(root, "finetune_e*")):
        match = re.fullmatch(r"finetune_e(\d+)", os.path.basename(path))
        if match and os.path.isdir(path):
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def budget_label(metric, target):
    return f"−{100 * float(target):.1f}% {metric}".replace(".0%", "%")


def rows(by_epochs):
    """`{(budget label, method): {E: [runs]}}` over every folder, the
    control first, then by metric and fraction removed (`_method_rank`
    within a budget)."""
    table, budgets = {}, {}
    for epochs, runs in by_epochs.items():
        plain = [r for r in runs if r["method"] != "tfmot"]
        for (method, metric, target), rs in collect_accuracy.groups(
                plain).items():
            label = "fine-tuned, not pruned" if method == "unpruned" \
                else budget_label(metric, target)
            if method != "unpruned":
                budgets[label] = (metric, float(target))
            table.setdefault((label, method), {})[epochs] = rs
        for r in runs:
            if r["method"] == "tfmot":
                row = r.get("row") or f"params{r['target']:g}"
                metric = re.match(r"[a-z]+", row).group(0)
                fraction = row[len(metric):]
                label = budget_label(metric, fraction)
                budgets[label] = (metric, float(fraction))
                table.setdefault((label, "tfmot"), {}).setdefault(
                    epochs, []).append(r)
    return dict(sorted(table.items(), key=lambda item: (
        budgets.get(item[0][0], ("", 0.0)), *_method_rank(item[0][1]))))


METHOD_ORDER = ("unpruned", "tfprune", "l1", "l1oneshot", "random", "dcp",
                "tfmot")


def _method_rank(method):
    """By `METHOD_ORDER`, each method before its distilled row."""
    base = method.split(" ")[0]
    rank = METHOD_ORDER.index(base) if base in METHOD_ORDER else len(
        METHOD_ORDER)
    return rank, method != base


def _mean(values):
    return sum(values) / len(values)


def markdown(start, table, epochs):
    base = start["val_accuracy_float"]
    head = "| budget | method | " + " | ".join(
        f"E={e}: float, mean (seeds) | Δ vs trained | int8" for e in epochs)
    lines = [f"Starting point: {start['name']}, validation top-1 "
             f"{100 * base:.2f}% (int8 "
             f"{100 * start['val_accuracy_int8_litert']:.2f}%).", "",
             head + " |", "|---|---|" + "---|---|---|" * len(epochs)]
    for (label, method), by_e in table.items():
        cells = []
        for e in epochs:
            rs = by_e.get(e)
            if not rs:
                cells.append(" | | ")
                continue
            acc = [r["val_accuracy_float"] for r in rs]
            each = ", ".join(f"{100 * a:.2f}" for a in acc)
            cells.append(
                f"**{100 * _mean(acc):.2f}%** ({each}) | "
                f"{100 * (_mean(acc) - base):+.2f} | "
                f"{100 * _mean([r['val_accuracy_int8_litert'] for r in rs]):.2f}%")
        lines.append(f"| {label} | {method} | " + " | ".join(cells) + " |")
    files = [r for by_e in table.values() for rs in by_e.values() for r in rs
             if r["method"] == "tfmot"]
    if files:
        lines += ["", collect_accuracy.tfmot_table(files).strip()]
    return "\n".join(lines) + "\n"


def plot(start, table, path):
    import matplotlib.pyplot as plt

    budgets = sorted({label for label, _ in table
                      if not label.startswith("fine-tuned")})
    if not budgets:
        return
    methods = list(dict.fromkeys(method for _, method in table))
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}
    every_e = sorted({e for by_e in table.values() for e in by_e})
    fig, axes = plt.subplots(1, len(budgets), figsize=(4.5 * len(budgets), 3.6),
                             sharey=True, sharex=True, squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        ax.axhline(100 * start["val_accuracy_float"], color="k", ls="--",
                   lw=1, label="trained model")
        for (label, method), by_e in table.items():
            if label != budget:
                continue
            es = sorted(by_e)
            ax.plot(es, [100 * _mean([r["val_accuracy_float"] for r in by_e[e]])
                         for e in es], marker="o", label=method,
                    color=colors[method])
        ax.set_title(budget)
        ax.set_xticks(every_e)
        ax.set_xlim(every_e[0] - 1, every_e[-1] + 1)
        ax.set_xlabel("fine-tune epochs")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation top-1 (%)")
    legend = {label: handle for ax in axes[0]
              for handle, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(legend.values(), legend.keys(), loc="center left",
               bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv):
    del argv
    root = FLAGS.results_root
    starts = run_reports.load(os.path.join(root, "finetune_start"))
    found = folders(root)
    if not starts or not found:
        raise SystemExit(f"{root} needs finetune_start/ and finetune_e<E>/ "
                         "folders of run JSONs.")
    by_epochs = {e: run_reports.load(path) for e, path in found.items()}
    table = rows(by_epochs)
    text = provenance.stamp() + "\n\n" + markdown(starts[0], table,
                                                   list(found))
    with open(os.path.join(root, "finetune.md"), "w") as f:
        f.write(text)
    plot(starts[0], table, os.path.join(root, "finetune.png"))
    print(text)


if __name__ == "__main__":
    app.run(main)
