"""Building a firmware project and running it: on the host, or on a
Cortex-M core emulated by QEMU's MPS2 boards.

>>> elf = build("fw", core="cortex-m4", tflm_root="/opt/tflm")
>>> result = run(elf, "cortex-m4", int8_inputs)
>>> result.outputs.shape, result.ticks[:1]
((4, 10), [744485])
"""

import dataclasses
import os
import shutil
import subprocess
import tempfile

import numpy as np

from tfprune.firmware.project import CORES, KERNELS, QEMU_BOARDS

ENV_ROOT = "TFPRUNE_TFLM_ROOT"


class FirmwareError(RuntimeError):
    """A firmware project could not be built or run."""


def find_tflm_root(path=None):
    """The folder holding the TFLite Micro trees: `path`, else the
    `TFPRUNE_TFLM_ROOT` environment variable; a FirmwareError saying what
    to set when it is missing or incomplete."""
    root = path or os.environ.get(ENV_ROOT)
    if not root:
        raise FirmwareError(
            f"No TFLite Micro tree: pass tflm_root= or set {ENV_ROOT} to a "
            "folder with cmsis-nn/ and reference/ (TFLite Micro's "
            "create_tflm_tree.py, with and without "
            "OPTIMIZED_KERNEL_DIR=cmsis_nn) and cmsis/ (CMSIS_6 Core "
            "headers and Cortex_DFP); see docs/deploy-mcu.md.")
    missing = [name for name in ("cmsis-nn", "reference", "cmsis")
               if not os.path.isdir(os.path.join(root, name))]
    if missing:
        raise FirmwareError(
            f"The TFLite Micro folder '{root}' lacks {missing}: it needs "
            "cmsis-nn/, reference/ and cmsis/ (see docs/deploy-mcu.md).")
    return os.path.abspath(root)


def missing_tools(core, run=True):
    """The programs `build` (and `run`, with `run=True`) need for `core`
    that are not on the PATH."""
    tools = ["make"] + (["g++", "gcc"] if core == "host" else
                        ["arm-none-eabi-g++", "arm-none-eabi-size"])
    if run and core in QEMU_BOARDS:
        tools.append("qemu-system-arm")
    return [tool for tool in tools if shutil.which(tool) is None]


def _check_core(core):
    if core not in CORES:
        raise ValueError(f"Unknown core. Expected one of {CORES}. "
                         f"Received: core={core!r}")
    missing = missing_tools(core, run=False)
    if missing:
        raise FirmwareError(
            f"Building for {core} needs {missing} on the PATH. On Debian: "
            "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
            "libstdc++-arm-none-eabi-newlib qemu-system-arm make g++.")


def build(project_dir, core="cortex-m4", tflm_root=None, build_dir=None,
          lib_dir=None, kernels=None, jobs=2):
    """Builds the project for `core`; returns the path of the program.

    Args:
        project_dir: the folder `tfprune.export(..., target="mcu")` wrote.
        core: one of `CORES`.
        tflm_root: the folder of TFLite Micro trees (`find_tflm_root`).
        build_dir: where the objects go (default `<project>/build/<core>`).
        lib_dir: where the TFLite Micro library is built and kept; give
            the same folder to several projects to build it once per core
            (and kernels).
        kernels: `"cmsis-nn"` or `"reference"`; default: CMSIS-NN on
            cores with DSP instructions (`DSP_CORES`), else reference.
        jobs: parallel compile jobs.
    """
    _check_core(core)
    root = find_tflm_root(tflm_root)
    build_dir = os.path.abspath(build_dir or os.path.join(
        project_dir, "build", core))
    make = ["make", "-C", project_dir, f"-j{jobs}", f"CORE={core}",
            f"TFLM_ROOT={root}", f"BUILD={build_dir}"]
    if lib_dir:
        make.append(f"LIB_DIR={os.path.abspath(lib_dir)}")
    if kernels is not None:
        if kernels not in KERNELS:
            raise ValueError(f"Unknown kernels. Expected one of {KERNELS}. "
                             f"Received: kernels={kernels!r}")
        make.append(f"KERNELS={kernels}")
    result = subprocess.run(make, capture_output=True, text=True)
    if result.returncode != 0:
        raise FirmwareError(
            f"Building {project_dir} for {core} failed:\n"
            + result.stderr[-3000:])
    return os.path.join(build_dir, "firmware" if core == "host"
                        else "firmware.elf")


@dataclasses.dataclass
class RunResult:
    """What a firmware run printed.

    Attributes:
        outputs: int8 outputs, one row per input.
        classes: the predicted class of each input.
        ticks: board timer ticks around each `Invoke()` (empty without the
            MPS2 timer, e.g. on the host).
        arena_used_bytes: what `MicroInterpreter::arena_used_bytes()` said.
    """

    outputs: np.ndarray
    classes: list
    ticks: list
    arena_used_bytes: int


def parse_output(text):
    """A `RunResult` from the firmware's printed lines."""
    outputs, classes, ticks, arena = [], [], [], None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "error":
            raise FirmwareError(f"The firmware said: {line}")
        if words[0] == "output":
            classes.append(int(words[1]))
            outputs.append([int(w) for w in words[2:]])
        elif words[0] == "invoke_ticks":
            ticks.append(int(words[1]))
        elif words[0] == "arena_used_bytes":
            arena = int(words[1])
    if not outputs or arena is None:
        raise FirmwareError(f"No outputs in the firmware's output: "
                            f"{text[-2000:]!r}")
    return RunResult(np.array(outputs, dtype=np.int8), classes, ticks, arena)


def _command(program, core, path):
    """How to start `program` on `core`, reading inputs from `path`."""
    args = [path] if path else []
    if core == "host":
        return [program] + args
    if core not in QEMU_BOARDS:
        raise FirmwareError(f"No emulator runs {core}: build it and run it "
                            "on the board.")
    if shutil.which("qemu-system-arm") is None:
        raise FirmwareError("Running Cortex-M firmware needs qemu-system-arm "
                            "(on Debian: apt-get install qemu-system-arm).")
    semihosting = ",".join(["enable=on,target=native,arg=firmware"]
                           + [f"arg={a}" for a in args])
    return ["qemu-system-arm", "-M", QEMU_BOARDS[core], "-nographic",
            "-icount", "shift=0", "-semihosting-config", semihosting,
            "-kernel", program]


def run(program, core, inputs=None, timeout=600):
    """Runs a built program on int8 `inputs` (one row per input; None: the
    sample input built into it) and returns its `RunResult`. Cortex-M
    programs run under QEMU with `-icount shift=0`, so their tick counts
    repeat exactly."""
    with tempfile.TemporaryDirectory(prefix="tfprune-fw-") as tmp:
        path = None
        if inputs is not None:
            path = os.path.join(tmp, "input.bin")
            np.ascontiguousarray(inputs, dtype=np.int8).tofile(path)
        result = subprocess.run(_command(program, core, path),
                                capture_output=True, text=True,
                                timeout=timeout)
    if result.returncode != 0:
        raise FirmwareError(
            f"{program} exited with status {result.returncode}: "
            f"{(result.stdout + result.stderr)[-2000:]}")
    return parse_output(result.stdout)


# Sections a Cortex-M image keeps in flash besides .text and .data.
_FLASH_EXTRA = (".ARM.exidx", ".copy.table", ".zero.table", ".rodata")


def sizes(program, core):
    """Bytes of a built program, from its sections: `flash` (code,
    constants and the model, plus .data's initial values), `ram` (.data
    and .bss: static variables, the tensor arena included), and the
    `heap` and `stack` the linker script reserves."""
    tool = "size" if core == "host" else "arm-none-eabi-size"
    out = subprocess.run([tool, "-A", program], capture_output=True,
                         text=True, check=True).stdout
    section = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].startswith(".") and \
                words[1].isdigit():
            section[words[0]] = int(words[1])
    data, bss = section.get(".data", 0), section.get(".bss", 0)
    flash = section.get(".text", 0) + data + sum(
        section.get(name, 0) for name in _FLASH_EXTRA)
    return {"flash": flash, "ram": data + bss, "text": section.get(
        ".text", 0), "data": data, "bss": bss,
            "heap": section.get(".heap", 0),
            "stack": section.get(".stack", 0)}
