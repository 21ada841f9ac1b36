"""Bytes saved by dropping intermediate tensor names from int8 .tflite files
(what `to_tflite(target="mcu")` now does; tfprune.convert.strip_tensor_names).

    python benchmarks/studies/strip_names.py > benchmarks/results/studies/strip_names.md

Reads the committed 30-epoch models, which were converted with names.
"""

import glob
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_string("pattern", "benchmarks/results/accuracy_e30/*.tflite",
                    "The .tflite files to compare.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfprune.convert import strip_tensor_names

    print("| file | with names | names dropped | saved |")
    print("|---|---|---|---|")
    for path in sorted(glob.glob(FLAGS.pattern)):
        with open(path, "rb") as f:
            named = f.read()
        stripped = strip_tensor_names(named)
        print(f"| {os.path.basename(path)} | {len(named):,} | "
              f"{len(stripped):,} | {len(named) - len(stripped):,} "
              f"({1 - len(stripped) / len(named):.1%}) |")


if __name__ == "__main__":
    app.run(main)
