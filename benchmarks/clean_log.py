"""Keeps a Keras training log readable: one line per epoch, no progress bars.

    python ... | python benchmarks/clean_log.py > run.log
"""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")

for line in sys.stdin:
    last = ANSI.sub("", line.rstrip("\n").split("\r")[-1])
    if "━" in last and "val_accuracy" not in last:
        continue
    print(last.replace("━", ""), flush=True)
