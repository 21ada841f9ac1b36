"""The line every benchmark output starts with: which script and command
made it, at which commit of tfprune.

>>> import provenance
>>> print(provenance.stamp())   # in benchmarks/zoo.py --models=VGG16
Made by `python benchmarks/zoo.py --models=VGG16` at commit 599b5d3 (...).
"""

import datetime
import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def commit():
    """The short hash of tfprune's checked-out commit, with `+changes` when
    the code (library, recipes, benchmark scripts) differs from it;
    `unknown` outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--",
                    "tfprune", "recipes", "benchmarks", "setup.py",
                    ":!benchmarks/results", ":!benchmarks/README.md")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+changes" if dirty else "")) if head else "unknown"


def command(argv=None):
    """The command line, the script's path relative to the repository."""
    argv = list(sys.argv if argv is None else argv)
    script = os.path.relpath(os.path.abspath(argv[0]), REPO)
    return " ".join(["python", script] + [shlex.quote(a) for a in argv[1:]])


def stamp(argv=None):
    """`Made by `<command>` at commit <hash> (<date>).`"""
    return (f"Made by `{command(argv)}` at commit {commit()} "
            f"({datetime.date.today().isoformat()}).")
