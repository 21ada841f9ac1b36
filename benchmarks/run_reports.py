"""Reading the JSON reports that benchmarks/accuracy.py writes (shared by
the collectors)."""

import glob
import json
import os


def load(results_dir, recursive=False):
    """Every `*.json` in `results_dir` (and its subfolders if `recursive`),
    sorted by path, each with `"name"`: its file name without `.json`."""
    pattern = os.path.join(results_dir, "**", "*.json") if recursive \
        else os.path.join(results_dir, "*.json")
    runs = []
    for path in sorted(glob.glob(pattern, recursive=recursive)):
        with open(path) as f:
            report = json.load(f)
        report["name"] = os.path.splitext(os.path.basename(path))[0]
        runs.append(report)
    return runs
