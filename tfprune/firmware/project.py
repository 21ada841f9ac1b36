"""A firmware project for a model: sources and a Makefile that build it
for a Cortex-M core (or the host) against a TFLite Micro tree.

>>> files = write_project("fw", tflite_bytes, ops, arena_bytes=24_576,
...                       sample=int8_input)
>>> sorted(files)[:3]
['Makefile', 'board_timer.h', 'main.cc']
"""

import importlib.resources
import os

from tfprune.firmware import sources

# The cores the Makefile builds for, and QEMU's board for each that runs.
CORES = ("cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "host")
QEMU_BOARDS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500",
               "cortex-m33": "mps2-an505"}
# Cores whose DSP instructions the CMSIS-NN kernels use.
DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33")
KERNELS = ("cmsis-nn", "reference")
TEMPLATES = ("Makefile", "main.cc", "board_timer.h")


def template(name):
    """The text of one of the project's fixed files."""
    return importlib.resources.files("tfprune.firmware").joinpath(
        "templates", name).read_text(encoding="utf-8")


def project_files(tflite_bytes, ops, arena_bytes, margin, sample,
                  int8_kernels=True):
    """`{file name: text}` of the project for one model.

    Args:
        tflite_bytes: the int8 model.
        ops: its operators (`tfprune.convert.model_ops`).
        arena_bytes: the tensor arena the firmware reserves.
        margin: the share of `arena_bytes` above the measured arena.
        sample: one int8 input (flat), run when no input file is given.
        int8_kernels: register the int8-only kernel variants (False: the
            general kernels, to measure what the variants save).
    """
    model_source, model_header = sources.c_array(tflite_bytes)
    sample_source, sample_header = sources.sample_input_sources(sample)
    files = {name: template(name) for name in TEMPLATES}
    files.update({
        "model_data.cc": model_source, "model_data.h": model_header,
        "op_resolver.h": sources.op_resolver_header(
            ops, arena_bytes, margin, int8_kernels=int8_kernels),
        "sample_input.cc": sample_source, "sample_input.h": sample_header,
    })
    return files


def write_project(directory, tflite_bytes, ops, arena_bytes, margin=0.0,
                  sample=None, int8_kernels=True):
    """Writes the project's files into `directory` (see `project_files`);
    returns their names."""
    if sample is None:
        raise ValueError("`sample` (one int8 input) is needed: the firmware "
                         "runs it when given no input file.")
    files = project_files(tflite_bytes, ops, arena_bytes, margin, sample,
                          int8_kernels)
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return sorted(files)
