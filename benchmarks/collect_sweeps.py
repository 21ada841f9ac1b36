"""One table for a sweep: every run JSON under a folder of variants.

    python benchmarks/collect_sweeps.py \
        --sweep_dir=benchmarks/results/finetune_sweeps

A sweep folder holds one subfolder per setting tried (`e5_bs32/`,
`e10_kdt2/`, ...), each with the JSONs `benchmarks/accuracy.py` wrote.
Writes `<sweep_dir>/sweeps.md`: a row per run (setting, method, budget,
seed, epochs, float and int8 top-1, the command), sorted by setting.
"""

import os

from absl import app, flags

import provenance
import run_reports

flags.DEFINE_string("sweep_dir", None, "Folder of setting folders.")
FLAGS = flags.FLAGS
flags.mark_flag_as_required("sweep_dir")

HEADER = ("| setting | method | budget | seed | epochs | val top-1 float | "
          "int8 LiteRT | command |\n|---|---|---|---|---|---|---|---|")


def _budget(report):
    if report.get("flash_bytes"):
        return f"flash <= {report['flash_bytes']:,} B"
    target = report.get("target")
    if isinstance(target, dict):
        return " and ".join(f"-{v:.1%} {k}" for k, v in target.items())
    if not target:
        return "none"
    return f"-{target:.1%} {report.get('metric', 'params')}"


def _percent(value):
    return "" if value is None else f"{100 * value:.2f}%"


def rows(sweep_dir):
    """The table's rows, one per run JSON, sorted by setting then name."""
    found = []
    for setting in sorted(os.listdir(sweep_dir)):
        folder = os.path.join(sweep_dir, setting)
        if not os.path.isdir(folder):
            continue
        for report in run_reports.load(folder):
            found.append(
                f"| {setting} | {report.get('method', '?')}"
                f"{' + KD' if report.get('distillation') else ''} | "
                f"{_budget(report)} | {report.get('seed', '')} | "
                f"{report.get('epochs', '')} | "
                f"{_percent(report.get('val_accuracy_float'))} | "
                f"{_percent(report.get('val_accuracy_int8_litert'))} | "
                f"`{report.get('command', '')}` |")
    return found


def main(argv):
    del argv
    found = rows(FLAGS.sweep_dir)
    if not found:
        raise SystemExit(f"No run JSONs under {FLAGS.sweep_dir}/<setting>/.")
    note = ("A run's `--results_dir` names the folder it was written to; "
            "the sweep's folders were gathered here since.")
    text = "\n".join([provenance.stamp(), "", note, "", HEADER, *found]) + "\n"
    with open(os.path.join(FLAGS.sweep_dir, "sweeps.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
