"""The `tfprune` console script: help, version, and usage errors.

Exports through the command line are tested in test_export.py and
test_devices.py.
"""

import os
import shutil
import subprocess
import sys

import pytest

import tfprune
from conftest import REPO
from tfprune import __main__ as cli

SCRIPT = shutil.which("tfprune", path=os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


def _run(*args, module=False):
    if module:
        command = [sys.executable, "-m", "tfprune"]
    else:
        if SCRIPT is None:
            pytest.skip("the `tfprune` console script is not installed "
                        "(pip install -e .)")
        command = [SCRIPT]
    return subprocess.run(
        [*command, *args], cwd=REPO, capture_output=True, text=True,
        timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_help_lists_the_commands():
    result = _run("--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("Usage: tfprune <command> [flags]")
    assert "\n  export  Convert a .keras model to int8 TFLite" in result.stdout
    assert "--version" in result.stdout
    assert "Run `tfprune <command> --help` for a command's flags." \
        in result.stdout


def test_command_help_lists_its_flags():
    result = _run("export", "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.startswith("Usage: tfprune export --model=... --out_dir=... "
                          "--representative=... [flags]")
    for name in cli.COMMANDS["export"].flags:
        assert f"\n  --{name}: " in out, name
    assert "--model: A .keras model (e.g. from a recipe). (required)" in out
    assert "--target: <mcu|mobile>: Device family. (default: 'mcu')" in out
    assert "(default: 200)" in out


def test_version():
    result = _run("--version")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == f"tfprune {tfprune.__version__}\n"


def test_python_dash_m_answers_the_same():
    result = _run("-h", "export", module=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("Usage: python -m tfprune export ")


@pytest.mark.parametrize("args, message, help_start", [
    ([], "Error: Expected one command, one of ('export',). Received: []",
     "Usage: tfprune <command>"),
    (["export"], "Error: --model is required. See `tfprune export --help`.",
     "Usage: tfprune export "),
    (["frobnicate", "--help"], "Unknown command 'frobnicate'. Expected one "
     "of ('export',).", "Usage: tfprune <command>"),
], ids=["no command", "missing flag", "help for an unknown command"])
def test_usage_errors_show_the_help_and_fail(args, message, help_start):
    result = _run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert message in result.stderr
    assert help_start in result.stderr


def test_help_texts_in_process():
    """The texts themselves, and how flag values are told from commands."""
    assert "export" in cli.overview()
    assert "--device: A device preset" in cli.command_help("export")
    assert cli._positionals(["--model", "export", "export", "--help"]) == [
        "export"]
    assert cli._positionals(["--model=m", "-h", "export", "--", "x"]) == [
        "export", "x"]
    assert cli._program(["/usr/bin/tfprune"]) == "tfprune"
    assert cli._program([os.path.join("tfprune", "__main__.py")]) == \
        "python -m tfprune"
