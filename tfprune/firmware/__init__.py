"""Firmware for a model: the project `tfprune.export(..., target="mcu")`
writes (sources and a Makefile for Cortex-M cores and the host), and
building and running it (on the host, or under QEMU).

>>> from tfprune import firmware
>>> elf = firmware.build("fw", core="cortex-m4", tflm_root="/opt/tflm")
>>> firmware.run(elf, "cortex-m4", int8_inputs).outputs
"""

from tfprune.firmware.build import (ENV_ROOT, FirmwareError, RunResult,
                                    build, find_tflm_root, missing_tools,
                                    parse_output, run, sizes)
from tfprune.firmware.project import (CORES, DSP_CORES, KERNELS,
                                      QEMU_BOARDS, project_files,
                                      template, write_project)
from tfprune.firmware.sources import (INT8_KERNELS, c_array,
                                      op_resolver_header, parse_c_array,
                                      resolver_method)

__all__ = [
    "CORES", "DSP_CORES", "ENV_ROOT", "FirmwareError", "INT8_KERNELS",
    "KERNELS",
    "QEMU_BOARDS", "RunResult", "build", "c_array", "find_tflm_root",
    "missing_tools", "op_resolver_header", "parse_c_array", "parse_output",
    "project_files", "resolver_method", "run", "sizes", "template",
    "write_project",
]
