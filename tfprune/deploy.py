"""`export`: deployable files for a microcontroller or an Android phone.

For `target="mcu"`: `model.tflite`, `deploy_report.json` (bytes, tensor
arena, operators, accuracy) and a firmware project (`tfprune.firmware`):
`model_data.cc` / `model_data.h` (the model as a 16-byte-aligned C array),
`op_resolver.h` (a `tflite::MicroMutableOpResolver<N>` registering exactly
the model's operators, int8-only kernels where TFLite Micro has them),
`sample_input.cc` / `.h`, `main.cc`, `board_timer.h` and a `Makefile` for
Cortex-M cores and the host. For `target="mobile"`: `model.tflite` (with label and
normalization metadata when `tflite-support` is importable), `labels.txt`
and `deploy_report.json`.

Files appear in `out_dir` only when every step succeeded.
"""

import json
import math
import os
import re
import shutil
import tempfile
import warnings

import keras
import numpy as np

from tfprune import convert, firmware, progress
from tfprune import data as data_lib
from tfprune.device import presets

# The arena measured by the 64-bit Python TFLM interpreter is exact for that
# build; 32-bit MCUs need the same or less, but optimized kernels (CMSIS-NN,
# ESP-NN) ask for scratch buffers the reference kernels do not, and TFLM
# versions differ in bookkeeping. 10% covers what we have seen; the exact
# minimum is reported beside it.
ARENA_MARGIN = 0.10

# Operators the Keras -> TFLite converter can emit that TFLite Micro lacks.
TFLM_MISSING = {
    "TILE": "UpSampling2D (nearest) lowers to TILE",
    "REDUCE_PROD": "a Dense layer on a 3-D input with a dynamic batch",
    "GELU": "the gelu activation",
    "DENSIFY": "sparsity-encoded weights",
}


def reserved_arena(measured_bytes):
    """The tensor arena a firmware reserves for a model that ran in
    `measured_bytes`: `ARENA_MARGIN` more, in 16-byte units."""
    return int(math.ceil(measured_bytes * (1 + ARENA_MARGIN) / 16) * 16)


class ExportError(ValueError):
    """The model cannot be deployed to the requested target."""


def _check_quantization(tflite, model_name):
    degenerate = [t for t in convert.degenerate_tensors(tflite)
                  if t.aborts_tflm]
    if degenerate:
        raise ExportError(
            f"Model '{model_name}' cannot run in TFLite Micro (it aborts on "
            "such a model): its int8 quantization degenerated: "
            + convert.degenerate_message(degenerate) + " Nothing was written.")


def _check_ops(ops, target):
    custom = [op for op in ops if op.upper().startswith(("FLEX", "CUSTOM"))]
    if custom:
        raise ExportError(
            f"The converted model uses non-builtin operators {custom} "
            "(Flex/select-TF or custom ops), which devices do not have. "
            "Replace the layers that produce them with builtin ones.")
    if target == "mcu":
        missing = {op: why for op, why in TFLM_MISSING.items() if op in ops}
        if missing:
            raise ExportError(
                "TFLite Micro lacks operators this model needs: "
                + "; ".join(f"{op} ({why})" for op, why in missing.items())
                + ". Change those layers, or export with target='mobile'.")


def _labels(labels):
    if labels is None:
        return None
    if isinstance(labels, str):
        with open(labels, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    labels = [str(label) for label in labels]
    if not labels:
        raise ValueError("`labels` is empty.")
    return labels


def _metadata_writer():
    """The tflite-support image-classifier metadata writer, or None."""
    try:
        from tensorflow_lite_support.metadata.python.metadata_writers import (
            image_classifier, writer_utils)
    except Exception:  # not installable beside TF 2.21: optional
        return None
    return image_classifier, writer_utils


def _with_metadata(tflite_bytes, labels, tmp_dir):
    writer = _metadata_writer()
    if writer is None or labels is None:
        return tflite_bytes, False
    image_classifier, writer_utils = writer
    label_file = os.path.join(tmp_dir, "labels.txt")
    # Normalization is inside the model: raw pixels go in unchanged.
    model_writer = image_classifier.MetadataWriter.create_for_inference(
        tflite_bytes, input_norm_mean=[0.0], input_norm_std=[1.0],
        label_file_paths=[label_file])
    return model_writer.populate(), True


def export(model, out_dir, target="mcu", representative=None, labels=None,
           evaluation=None, num_samples=200, device=None):
    """Writes the deployable files for `model` into `out_dir`.

    Args:
        model: a Keras model with one input (e.g. from `tfprune.shrink`).
            A gated model (still holding `tfprune.ChannelGate` layers) is
            refused, as by `to_tflite`: call `tfprune.shrink(model)` first.
        out_dir: output folder (created if needed; existing files of the
            same names are replaced only when the export succeeds).
        target: `"mcu"` (TFLite Micro) or `"mobile"` (LiteRT on Android).
        representative: calibration data (any form `to_tflite` takes).
        labels: class names, a list or a path to a text file (one per line).
        evaluation: optional labelled data to report float and int8
            accuracy (LiteRT, and TFLite Micro for `mcu`).
        num_samples: calibration examples. Default 200.
        device: optional preset name (see `tfprune.device.presets`, e.g.
            `"cortex-m4"`) or `tfprune.Device` (`target="mcu"` only): the
            report says how the `.tflite` and the tensor arena (with its
            margin) fit its flash and RAM, an export that fits prints so
            (`Fits cortex-m4: flash ... bytes ...; RAM arena ...`, like
            Keras' progress output: to stdout, or to the absl log after
            `keras.config.disable_interactive_logging()`), and an export
            that does not fit fails, saying by how much.

    Returns:
        The deploy report (also written to `deploy_report.json`). For
        `"mobile"`, `report["xnnpack"]` says whether LiteRT's default
        XNNPACK delegate prepares the file (a warning says why when not).

    Raises:
        ExportError: the model needs operators the target lacks, or does
            not fit `device` (nothing is written).
        ValueError: bad arguments or data, e.g. a gated model or
            `evaluation` with more or fewer labels than inputs (nothing is
            written).

    Examples:
        >>> report = tfprune.export(small, "firmware/model", target="mcu",
        ...                         representative=x_val[:200])
        >>> report["arena_bytes"]
        24576
    """
    device = _checked_device(target, device)
    labels = _check_inputs(model, out_dir, representative, labels,
                           evaluation)
    tflite = convert.to_tflite(model, representative, target=target,
                               num_samples=num_samples)
    ops = convert.model_ops(tflite)
    _check_ops(ops, target)
    if target == "mcu":
        _check_quantization(tflite, model.name)
    report = {"target": target, "model": model.name, "ops": ops,
              "input": _io_details(tflite, "input"),
              "output": _io_details(tflite, "output")}
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".tfprune-export-", dir=parent)
    try:
        if labels is not None:
            _write(staging, "labels.txt", "\n".join(labels) + "\n")
        if target == "mcu":
            sample = _sample_input(model, tflite, representative)
            report.update(_stage_mcu(staging, tflite, ops, model.name,
                                     device, sample))
        else:
            tflite, mobile_report = _stage_mobile(staging, tflite, labels)
            report.update(mobile_report)
        _write(staging, "model.tflite", tflite, binary=True)
        report["tflite_bytes"] = len(tflite)
        if evaluation is not None:
            report.update(_accuracies(model, tflite, evaluation, target))
        _write(staging, "deploy_report.json",
               json.dumps(report, indent=2) + "\n")
        _move_all(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if device is not None:
        progress.say(fit_summary(report["device"]))
    return report


def _check_inputs(model, out_dir, representative, labels, evaluation):
    """Raises ValueError on `export` arguments it cannot use; returns the
    class names (`_labels(labels)`)."""
    if representative is None:
        raise ValueError(
            "`representative` data is needed to calibrate the int8 model.")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(
            f"`out_dir` must be a folder, but '{out_dir}' is a file. Give a "
            "new or existing folder.")
    labels = _labels(labels)
    if labels is not None and model.output_shape[-1] != len(labels):
        raise ValueError(
            f"Model '{model.name}' has {model.output_shape[-1]} outputs but "
            f"{len(labels)} labels were given.")
    if evaluation is not None:
        data_lib.check_data(evaluation, model, what="evaluation data")
    return labels


def _checked_device(target, device):
    """`target` checked, and `device` as a `Device` (or None)."""
    if target not in convert.TARGETS:
        raise ValueError(
            f"Unknown target. Expected one of {convert.TARGETS}. "
            f"Received: target={target!r}")
    if device is None:
        return None
    if target != "mcu":
        raise ValueError(
            "`device` budgets are for microcontrollers: use "
            f"target='mcu'. Received: target={target!r}")
    if isinstance(device, presets.Device):
        return device
    return presets.get_device(device)


def _stage_mcu(staging, tflite, ops, model_name, device, sample):
    """Writes the firmware project into `staging`; returns the arena part
    of the report (and the device fit, which must hold)."""
    measured = convert.tflm_arena_bytes(tflite, model_name=model_name)
    arena = reserved_arena(measured)
    firmware.write_project(staging, tflite, ops, arena, ARENA_MARGIN,
                           sample=sample)
    report = {"arena_bytes_measured": measured, "arena_bytes": arena,
              "arena_margin": ARENA_MARGIN}
    if device is not None:
        report["device"] = device.fit(len(tflite), arena)
        _check_fit(report["device"], device)
    return report


def _sample_input(model, tflite, representative):
    """The first representative example as the int8 model takes it, flat:
    what the firmware runs when given no input file."""
    x, _ = data_lib.check_data(representative, model,
                               what="representative data")
    return convert.quantize_inputs(tflite, x[None]).ravel()


def _stage_mobile(staging, tflite, labels):
    """The mobile `.tflite` (with metadata when tflite-support is there)
    and its part of the report; warns about what the app should know."""
    tflite, has_metadata = _with_metadata(tflite, labels, staging)
    refusal = convert.xnnpack_refusal(tflite)
    if refusal:
        warnings.warn(
            "tfprune.export: LiteRT's XNNPACK delegate, its default "
            f"CPU backend on Android too, cannot prepare this model "
            f"({refusal}). A layer whose int8 range collapsed (every "
            "output equal, e.g. a channel whose ReLU died after "
            "pruning) does this; that layer carries no information. "
            "Check the accuracy and retrain or prune less, or turn "
            "XNNPACK off in the app (Interpreter API: "
            "Interpreter.Options().setUseXNNPACK(false)).",
            stacklevel=3)
    if not has_metadata:
        warnings.warn(
            "tfprune.export: tflite-support is not importable (it "
            "cannot be installed beside TensorFlow 2.21), so no "
            "metadata was embedded; labels.txt is written beside "
            "the model instead. To embed it: pip install --no-deps "
            "--target DIR tflite-support==0.4.4 and put DIR on PYTHONPATH "
            "(docs/deploy-android.md, Metadata).", stacklevel=3)
    return tflite, {"metadata": has_metadata, "xnnpack": refusal is None}


def fit_summary(fit):
    """One line saying how a model fits a device, from `Device.fit`'s
    report: `Fits cortex-m4: flash 31,416 of 1,048,576 bytes (3.0%, ...)`.
    """
    flash, ram = fit["flash"], fit["ram"]
    return (
        f"{'Fits' if fit['fits'] else 'Does not fit'} {fit['device']}: "
        f"flash {flash['used']:,} of {flash['allowed']:,} bytes "
        f"({flash['used_share']:.1%}, {flash['left']:,} left); RAM arena "
        f"{ram['used']:,} of {ram['allowed']:,} bytes "
        f"({ram['used_share']:.1%}, {ram['left']:,} left).")


def _check_fit(fit, device):
    if fit["fits"]:
        return
    over = [f"{what}: {-fit[what]['left']:,} bytes over ({fit[what]['used']:,}"
            f" of {fit[what]['allowed']:,})"
            for what in ("flash", "ram") if fit[what]["left"] < 0]
    raise ExportError(
        f"The model does not fit device '{device.name}' "
        f"({device.description or 'no description'}): {'; '.join(over)}. "
        "Prune it further (e.g. tfprune.TargetRatio(device=tfprune."
        "DeviceBudget(flash_bytes=...))) or pick a larger device; nothing "
        "was written.")


def _io_details(tflite, which):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite)
    details = (interpreter.get_input_details() if which == "input"
               else interpreter.get_output_details())[0]
    params = details["quantization_parameters"]
    return {"shape": [int(d) for d in details["shape"]],
            "dtype": np.dtype(details["dtype"]).name,
            "scale": float(params["scales"][0]),
            "zero_point": int(params["zero_points"][0])}


def _accuracies(model, tflite, evaluation, target):
    xs, ys = [], []
    for x, y in data_lib.iterate_examples(evaluation, model,
                                          what="evaluation data"):
        xs.append(x.astype("float32"))
        ys.append(int(np.asarray(y).reshape(-1)[0]))
    xs, ys = np.stack(xs), np.array(ys)
    logits = model.predict(xs, verbose=0)
    result = {"evaluation_examples": len(ys),
              "accuracy_float": float(np.mean(np.argmax(logits, -1) == ys)),
              "accuracy_int8_litert": convert.evaluate_tflite(
                  tflite, (xs, ys), model)}
    if target == "mcu":
        result["accuracy_int8_tflm"] = convert.evaluate_tflite(
            tflite, (xs, ys), model, runtime="tflm")
    return result


def _write(directory, name, content, binary=False):
    mode = "wb" if binary else "w"
    with open(os.path.join(directory, name), mode) as f:
        f.write(content)


def _move_all(staging, out_dir):
    """Moves the staged files into `out_dir` (the whole folder if new)."""
    if not os.path.exists(out_dir):
        os.replace(staging, out_dir)
        os.makedirs(staging)  # so the caller's cleanup finds a folder
        return
    for name in sorted(os.listdir(staging)):
        os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
