"""The TFLite Micro tensor arena: trying sizes in a child process that a
TFLite Micro crash cannot take this process with, and `TFLMError`."""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from tfprune.convert.flatbuffer import check_tflite
from tfprune.convert.quantization import (degenerate_message,
                                          degenerate_tensors)
from tfprune.validation import check_positive_int


class TFLMError(ValueError):
    """A model that does not run in TFLite Micro with the arena given.

    Raised instead of letting TFLite Micro kill the process (a failed
    allocation can crash it): every interpreter tfprune builds in this
    process (`run_tflite(runtime="tflm")`, `export(target="mcu")`,
    TFLite Micro timing in `profile_latency`) is tried in a child process
    first. A `ValueError`.

    >>> try:
    ...     tfprune.convert.check_tflm_arena(tflite_bytes, 8 * 1024)
    ... except tfprune.TFLMError as error:
    ...     print(error)  # what TFLite Micro said, and the arena to try
    """


# The probing interpreter runs in a child process: TFLite Micro does not
# always survive a failed allocation (some paths use the null pointer a
# failed tail allocation returns, and the whole process dies with a
# segmentation fault), so a trial that kills the child is a failed trial.
# The child reads one arena size per line and answers "ok" or "failed ...".
_PROBE = """
import sys

import numpy as np
from tflite_micro.python.tflite_micro import runtime

with open(sys.argv[1], "rb") as f:
    model = f.read()
for line in sys.stdin:
    try:
        interpreter = runtime.Interpreter.from_bytes(
            model, arena_size=int(line))
        details = interpreter.get_input_details(0)
        interpreter.set_input(
            np.zeros(details["shape"], details["dtype"]), 0)
        interpreter.invoke()
        answer = "ok"
    except RuntimeError as error:
        answer = "failed " + " ".join(str(error).split())
    interpreter = None
    sys.stderr.flush()
    print(answer, flush=True)
"""

# sha256 of a model -> the smallest arena seen to run it (in a child), so
# that interpreters in this process are only ever built with one that runs.
_RUNS_WITH = {}
_MAX_REMEMBERED = 512


def _digest(tflite_bytes):
    return hashlib.sha256(bytes(tflite_bytes)).hexdigest()


def _remember(digest, arena):
    if digest not in _RUNS_WITH and len(_RUNS_WITH) >= _MAX_REMEMBERED:
        _RUNS_WITH.pop(next(iter(_RUNS_WITH)))
    _RUNS_WITH[digest] = min(arena, _RUNS_WITH.get(digest, arena))


def _label(model_name):
    return f"Model '{model_name}'" if model_name else "The model"


class _ArenaProbe:
    """Tries a model in the TFLite Micro Python interpreter at chosen arena
    sizes, in a child process that a crash cannot take this process with.

    >>> with _ArenaProbe(tflite_bytes) as probe:
    ...     ok, why = probe.runs(16_384)
    """

    def __init__(self, tflite_bytes):
        self._dir = tempfile.mkdtemp(prefix="tfprune-tflm-")
        self._model = os.path.join(self._dir, "model.tflite")
        with open(self._model, "wb") as f:
            f.write(tflite_bytes)
        self._log = open(os.path.join(self._dir, "tflm.log"), "w+b")
        self._child = None
        self.crashes = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _start(self):
        path = [p for p in sys.path if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
        self._child = subprocess.Popen(
            [sys.executable, "-c", _PROBE, self._model],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, env=env)

    def _log_since(self, offset):
        """TFLite Micro's log lines written since `offset`, the last few."""
        self._log.flush()
        self._log.seek(offset)
        lines = [line.strip() for line in
                 self._log.read().decode(errors="replace").splitlines()]
        lines = [line for line in lines if line]
        return " / ".join(dict.fromkeys(lines[-4:]))

    def runs(self, arena):
        """`(True, "")` when the model allocates and invokes in an
        `arena`-byte arena, else `(False, what TFLite Micro said)`."""
        if self._child is None:
            self._start()
        offset = os.fstat(self._log.fileno()).st_size
        try:
            self._child.stdin.write(f"{int(arena)}\n")
            self._child.stdin.flush()
            answer = self._child.stdout.readline()
        except (BrokenPipeError, OSError):
            answer = ""
        if answer.startswith("ok"):
            return True, ""
        log = self._log_since(offset)
        if answer:
            why = answer.split(" ", 1)[-1].strip()
        else:  # the child died
            code = self._child.wait()
            self._close_pipes()
            self._child = None
            self.crashes += 1
            try:
                cause = f"signal {signal.Signals(-code).name}" \
                    if code < 0 else f"exit status {code}"
            except ValueError:
                cause = f"exit status {code}"
            why = f"the TFLite Micro interpreter crashed ({cause})"
        return False, f"{why}; TFLite Micro logged: {log}" if log else why

    def _close_pipes(self):
        for pipe in (self._child.stdin, self._child.stdout):
            try:
                pipe.close()
            except OSError:  # a broken pipe: already gone
                pass

    def close(self):
        if self._child is not None:
            try:
                self._child.stdin.close()
                self._child.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._child.kill()
                self._child.wait()
            self._close_pipes()
            self._child = None
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def check_tflm_arena(tflite_bytes, arena_size, model_name=None):
    """Raises `TFLMError` unless TFLite Micro runs the model in
    `arena_size` bytes; tried in a child process unless an arena at most
    as large has already been seen to run it. Call it before building a
    TFLite Micro interpreter in this process: a too-small arena can crash
    the process instead of raising.

    >>> tfprune.convert.check_tflm_arena(tflite_bytes, 32 * 1024)
    """
    check_positive_int("arena_size", arena_size)
    check_tflite(tflite_bytes)
    digest = _digest(tflite_bytes)
    if _RUNS_WITH.get(digest, arena_size + 1) <= arena_size:
        return
    with _ArenaProbe(tflite_bytes) as probe:
        ok, why = probe.runs(arena_size)
    if not ok:
        raise TFLMError(
            f"{_label(model_name)} does not run in TFLite Micro with a "
            f"{arena_size:,}-byte tensor arena ({why}). Give a larger "
            "arena: tfprune.convert.tflm_arena_bytes(tflite_bytes) measures "
            "the smallest that runs.")
    _remember(digest, arena_size)


def _why_it_does_not_run(tflite_bytes, model_name, upper, why, crashed):
    """The TFLMError message for a model that fails at the largest arena:
    a degenerate quantization first (TFLite Micro aborts on it), then
    operators or memory."""
    degenerate = degenerate_tensors(tflite_bytes)
    if crashed and degenerate:
        return (f"{_label(model_name)} crashes TFLite Micro ({why}) because "
                f"its quantization degenerated: "
                f"{degenerate_message(degenerate)}")
    return (f"{_label(model_name)} does not run in TFLite Micro even with a "
            f"{upper:,}-byte tensor arena ({why}). Check that it uses only "
            "operators TFLite Micro has "
            "(tfprune.convert.model_ops(tflite_bytes)), or pass a larger "
            "`upper` if it needs more memory.")


def tflm_arena_bytes(tflite_bytes, upper=64 * 1024 * 1024, granularity=16,
                     model_name=None):
    """The smallest tensor arena in which TFLite Micro runs the model.

    Found by bisection: the model is loaded, allocated and invoked once per
    trial in the `tflite-micro` Python interpreter, in a child process (a
    too-small arena can crash TFLite Micro; a crash counts as a failed
    trial and the next one starts a new child). That interpreter is a
    64-bit build, so pointers inside the arena are 8 bytes; on a 32-bit MCU
    the same model needs the same or slightly less. Add a margin for other
    TFLM versions and kernels (BUILD.md suggests 10%).

    Args:
        tflite_bytes: the `.tflite` model.
        upper: the largest arena tried, in bytes. Default 64 MiB.
        granularity: the result is a multiple of this. Default 16 (TFLite
            Micro's alignment).
        model_name: the model's name, for error messages.

    Returns:
        Bytes, a multiple of `granularity`, with which the model was seen
        to run (and with `granularity` bytes less, not to).

    Raises:
        TFLMError (a ValueError): the model does not run even with `upper`
            bytes (it uses operators TFLite Micro lacks, or needs more).

    Examples:
        >>> tfprune.convert.tflm_arena_bytes(tflite_bytes)
        19152
    """
    check_positive_int("upper", upper)
    check_positive_int("granularity", granularity)
    check_tflite(tflite_bytes)
    with _ArenaProbe(tflite_bytes) as probe:
        ok, why = probe.runs(upper)
        if not ok:
            raise TFLMError(_why_it_does_not_run(tflite_bytes, model_name,
                                                 upper, why, probe.crashes))
        low, high = 0, upper // granularity
        while high - low > 1:
            middle = (low + high) // 2
            if probe.runs(middle * granularity)[0]:
                high = middle
            else:
                low = middle
    _remember(_digest(tflite_bytes), high * granularity)
    return high * granularity
