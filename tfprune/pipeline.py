"""One call from an unpruned model to a pruned, shrunk, int8-converted one.

`train_prune_export` is what the recipe scripts run: gate, train with
`TargetRatio`, shrink, convert to int8 TFLite, evaluate float and int8
accuracy, and write `model.keras`, `model_int8.tflite` and `report.json`.
"""

import json
import math
import os
import tempfile
import time

import keras
import numpy as np

from tfprune import convert, distillation
from tfprune.callbacks import TargetRatio
from tfprune.cost import measure
from tfprune.gating import gate
from tfprune.graph import ChannelGraph
from tfprune.schedules import RewoundCosine
from tfprune.surgery import shrink
from tfprune.validation import check_fraction


def write_atomically(path, write):
    """Calls `write(tmp_path)`, then moves the file to `path` in one step.

    On any error no file (neither partial nor temporary) is left behind.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_bytes(data):
    def write(path):
        with open(path, "wb") as f:
            f.write(data)
    return write


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time, in seconds, to the logs (`"seconds"`)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.time() - self._start


class StopAfterEpoch(keras.callbacks.Callback):
    """Ends `fit` after epoch `last` (0-based)."""

    def __init__(self, last):
        super().__init__()
        self.last = last

    def on_epoch_end(self, epoch, logs=None):
        if epoch >= self.last:
            self.model.stop_training = True


def learning_rate_schedule(peak, steps, warmup_steps, rewind=None):
    """Linear warm-up from 0 to `peak` over `warmup_steps`, then a cosine
    decay to 0 at `steps`; with `rewind=(at_step, to_step)`, a
    `RewoundCosine` of it."""
    warmup_steps = max(min(warmup_steps, steps - 1), 0)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps > 0 else peak,
        decay_steps=max(steps - warmup_steps, 1),
        warmup_target=peak if warmup_steps > 0 else None,
        warmup_steps=warmup_steps)
    if rewind is None:
        return schedule
    return RewoundCosine(schedule, *rewind, end_step=steps)


def _compile(student, schedule, weight_decay, distill=None, first_step=0):
    """Compiles `student` for training (SGD + Nesterov, cross-entropy).

    `distill = (teacher, temperature, weight)` wraps it in a
    `keras.distillation.Distiller`; `first_step` starts the learning-rate
    schedule there (to continue a run with a new model). Returns the model
    to `fit`.
    """
    optimizer = keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                     weight_decay=weight_decay)
    trainer = student
    if distill is not None:
        teacher, temperature, weight = distill
        trainer = keras.distillation.Distiller(
            teacher=teacher, student=student,
            distillation_losses=distillation.distillation_loss(
                temperature),
            student_loss_weight=1.0 - weight)
        # BackupAndRestore needs a built model.
        shape = [1 if d is None else d for d in student.inputs[0].shape]
        trainer(keras.ops.zeros(shape, student.inputs[0].dtype))
    trainer.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])
    if first_step:
        optimizer.build(student.trainable_variables)
        optimizer.iterations.assign(first_step)
    return trainer


def keras_accuracy(model, data):
    """Top-1 accuracy of a Keras model on a dataset of `(inputs, labels)`."""
    correct = total = 0
    for x, y in data:
        logits = model(x, training=False)
        predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
        correct += int(np.sum(predicted == np.asarray(y).reshape(-1)))
        total += len(predicted)
    return correct / total


def layer_widths(gated):
    """`{producer layer name: [kept, total]}` for every pruned group."""
    widths = {}
    for group in ChannelGraph(gated).groups:
        for producer in group.producers:
            widths[producer.name] = [group.gate.kept_channels(), group.size]
    return widths


def _check_teacher_name(teacher, pruning):
    """Validates a teacher given by name: `"unpruned"` or `"warmup"`."""
    if teacher not in ("unpruned", "warmup"):
        raise ValueError(
            "`teacher` must be a Keras model, \"unpruned\" (train an "
            "unpruned copy of the model first and distil from it) or "
            "\"warmup\" (distil from the network's own warm-up snapshot). "
            f"Received: teacher={teacher!r}")
    if not pruning:
        raise ValueError(
            f"`teacher={teacher!r}` distils a pruned network from an "
            "unpruned one; without a budget nothing is pruned. Give a "
            "`target` or a trained teacher model.")


def _snapshot_epoch(warmup, epochs):
    """The 0-based epoch whose start `teacher="warmup"` snapshots: the first
    one in which channels may be removed (every step before it is warm-up).
    """
    epoch = math.floor(round(warmup * epochs, 6))
    if epoch < 1:
        raise ValueError(
            "`teacher=\"warmup\"` needs at least one whole warm-up epoch to "
            f"train the teacher; warmup={warmup} of epochs={epochs} gives "
            f"{round(warmup * epochs, 6)}. Raise `warmup` or `epochs`.")
    return epoch


def _unpruned_teacher(model, train, val, out_dir, **recipe):
    """`teacher="unpruned"`: a fresh copy of `model` (new initial weights)
    trained without pruning by the same recipe in `out_dir/teacher/`, or
    the one already there, so that an interrupted run does not train it
    again. Returns `(teacher, its description for the report)`."""
    teacher_dir = os.path.join(out_dir, "teacher")
    path = os.path.join(teacher_dir, "model.keras")
    if not os.path.exists(path):  # written once its training has ended
        train_prune_export(keras.models.clone_model(model), train, val,
                           teacher_dir, target=0, **recipe)
    teacher = keras.models.load_model(path)
    if teacher.count_params() != model.count_params():
        raise ValueError(
            f"{path} holds another model than the one to prune "
            f"({teacher.count_params()} parameters, against "
            f"{model.count_params()}), left by an earlier run in the same "
            "`out_dir`. Remove that folder or choose another `out_dir`.")
    return teacher, (
        f"unpruned {teacher.name} trained first in {teacher_dir} "
        f"({keras_accuracy(teacher, val):.2%} validation accuracy)")


def train_prune_export(model, train, val, out_dir, target=0.94,
                       metric="params", epochs=30, learning_rate=0.1,
                       weight_decay=5e-4, tflm_samples=200,
                       calibration_samples=200, verbose="auto",
                       importance="scores", warmup=0.1, ramp=0.6,
                       lr_warmup_epochs=1, prune_options=None, teacher=None,
                       distill_temperature=4.0, distill_weight=0.5,
                       shrink_for_hold=False, lr_rewind=None, callbacks=(),
                       flash_bytes=None,
                       arena_bytes=None, latency_ms=None, latency_table=None):
    """Trains `model` with pruning to `target`, then shrinks and exports it.

    Args:
        model: an unpruned Keras model with one input and logits output.
        train: a batched `tf.data.Dataset` of `(inputs, labels)`.
        val: a batched `tf.data.Dataset` of `(inputs, labels)`.
        out_dir: where `model.keras`, `model_int8.tflite`, `report.json`
            (and, while training, a `backup/` to resume from) are written.
        target: fraction of `metric` to remove; 0 trains without pruning
            (the unpruned baseline).
        metric: `"params"`, `"macs"` or `"channels"`.
        epochs: training epochs (warm-up, ramp and hold included).
        learning_rate: peak SGD learning rate, reached linearly over
            `lr_warmup_epochs`, then cosine decay to 0.
        weight_decay: SGD weight decay.
        tflm_samples: validation examples to run in the TFLite Micro
            interpreter (slow reference kernels); 0 skips it.
        calibration_samples: examples for int8 calibration.
        verbose: Keras `fit` verbosity.
        importance, warmup, ramp: passed to `tfprune.TargetRatio`.
        lr_warmup_epochs: epochs of linear learning-rate warm-up.
        prune_options: more keyword arguments for `tfprune.TargetRatio`
            (its BatchNormalization re-estimation uses `train` unless
            `calibration_data` is given).
        teacher: optional trained Keras model with the same inputs and
            logits: knowledge distillation (`keras.distillation`), the loss
            becomes `(1 - distill_weight) * cross-entropy + distill_weight
            * T^2 * KL(teacher / T || student / T)` with `T =
            distill_temperature`. `"unpruned"`: first train a copy of
            `model` (new initial weights) without pruning, by the same
            recipe and `callbacks`, in `out_dir/teacher/` (its own
            `model.keras`, `.tflite` and `report.json`: the unpruned
            baseline), then distil from it; twice the training time, and a
            rerun reuses a teacher already trained there. `"warmup"`: the
            teacher is the network itself at the end of the warm-up, before
            any channel is removed (`tfprune.SnapshotTeacher`; needs a whole
            warm-up epoch); distillation starts there. A weak teacher holds
            the student back: after the default 3 of 30 warm-up epochs on
            CIFAR-10 it cost 6.5 points (README); prefer a trained teacher.
        shrink_for_hold: once the masks are final, train the shrunk model
            (fewer MACs, faster steps) for the hold epochs instead of the
            masked full-width one. The optimizer restarts (same
            learning-rate schedule, new momentum).
        lr_rewind: learning-rate rewinding: from the first epoch that
            starts with the final masks (the one `shrink_for_hold` would
            shrink at), the learning rate goes back to the one it had at
            this fraction of training (before `warmup + ramp`) and decays
            to 0 by the end (`RewoundCosine`). Default None: the schedule
            runs on.
        callbacks: more Keras callbacks for training, e.g. the
            `tfprune.EpochShuffle` that ordered `train` (so that a resumed
            run sees the same batches as an uninterrupted one).
        flash_bytes, arena_bytes: instead of `target`, the largest
            allowed size in bytes of the exported int8 `.tflite` and of its
            TFLite Micro tensor arena (`tfprune.TargetRatio`'s budgets).
        latency_ms, latency_table: instead of (or with) those, the longest
            allowed inference time as a `tfprune.LatencyTable` predicts it.

    Returns:
        The report, a dict (also written to `report.json`).
    """
    started = time.time()
    device = {k: v for k, v in (("flash_bytes", flash_bytes),
                                ("arena_bytes", arena_bytes),
                                ("latency_ms", latency_ms)) if v}
    if latency_ms:
        device["latency_table"] = latency_table
    if device and shrink_for_hold:
        raise ValueError(
            "`shrink_for_hold` is not supported with device budgets yet; "
            "train the masked model through the hold (the default).")
    pruning = target > 0 or bool(device)
    net = gate(model) if pruning else model
    steps_per_epoch = int(train.cardinality())
    if steps_per_epoch == 0:
        raise ValueError("`train` is empty: it has no batches.")
    if steps_per_epoch < 0:
        raise ValueError(
            "`train` must have a known number of batches (it sets the "
            "learning-rate and pruning schedules); apply "
            "tf.data.experimental.assert_cardinality(n) to it.")
    steps = epochs * steps_per_epoch
    # The first epoch that starts with the final masks.
    masks_final = min(epochs, math.ceil(round((warmup + ramp) * epochs, 6)))
    rewind = None
    if lr_rewind is not None:
        if not pruning:
            raise ValueError(
                "`lr_rewind` rewinds the learning rate for the hold of a "
                "pruned run; without a budget there is none. Received: "
                f"target={target!r}, lr_rewind={lr_rewind!r}")
        check_fraction("lr_rewind", lr_rewind)
        if lr_rewind >= warmup + ramp:
            raise ValueError(
                "`lr_rewind` must be a fraction of training before the hold "
                f"(0 <= lr_rewind < warmup + ramp = {warmup + ramp}). "
                f"Received: lr_rewind={lr_rewind!r}")
        if masks_final >= epochs:
            raise ValueError(
                "`lr_rewind` needs hold epochs, and warmup + ramp = "
                f"{warmup + ramp} leaves none of the {epochs} epochs. Lower "
                "`ramp`.")
        rewind = (masks_final * steps_per_epoch,
                  int(lr_rewind * steps))
    schedule = learning_rate_schedule(learning_rate, steps,
                                      int(lr_warmup_epochs * steps_per_epoch),
                                      rewind)
    prune = None
    if pruning:  # made here so that a bad budget fails before any training
        options = {"calibration_data": train, **(prune_options or {})}
        budget = device or {"ratio": target, "metric": metric}
        prune = TargetRatio(**budget, warmup=warmup, ramp=ramp,
                            importance=importance, verbose=1, **options)
    snapshot_epoch = teacher_label = None
    if isinstance(teacher, str):
        _check_teacher_name(teacher, pruning)
    if teacher == "warmup":
        snapshot_epoch = _snapshot_epoch(warmup, epochs)
        teacher_label = (
            f"warm-up snapshot (start of epoch {snapshot_epoch + 1})")
        teacher_path = os.path.join(out_dir, "teacher.keras")
        teacher = keras.models.load_model(teacher_path) if os.path.exists(
            teacher_path) else keras.models.clone_model(net)
    elif teacher == "unpruned":
        teacher, teacher_label = _unpruned_teacher(
            model, train, val, out_dir, epochs=epochs,
            learning_rate=learning_rate, weight_decay=weight_decay,
            tflm_samples=0, calibration_samples=calibration_samples,
            verbose=verbose, lr_warmup_epochs=lr_warmup_epochs,
            callbacks=callbacks)
    distill = None if teacher is None else (
        teacher, distill_temperature, distill_weight)

    def compiled(student, first_step=0):
        return _compile(student, schedule, weight_decay, distill, first_step)

    hold_epoch = masks_final if pruning and shrink_for_hold else epochs
    extra = list(callbacks)
    # double_checkpoint: a kill while the backup is written falls back to
    # the previous one.
    callbacks = [*extra, keras.callbacks.BackupAndRestore(
        os.path.join(out_dir, "backup"), double_checkpoint=True),
        EpochTimer()]
    stage_one = os.path.join(out_dir, "masked.keras")
    histories = []
    if pruning and hold_epoch < epochs and os.path.exists(stage_one):
        net = keras.models.load_model(stage_one)  # resumed after stage one
    else:
        if prune is not None:
            callbacks.append(prune)
        if hold_epoch < epochs:
            callbacks.append(StopAfterEpoch(hold_epoch - 1))
        if snapshot_epoch is None:
            trainer = compiled(net)
        else:  # no distillation until the snapshot is taken
            trainer = _compile(net, schedule, weight_decay,
                               (teacher, distill_temperature, 0.0))
            callbacks.append(distillation.SnapshotTeacher(
                snapshot_epoch, distill_weight))
        histories.append(trainer.fit(
            train, epochs=epochs, validation_data=val, callbacks=callbacks,
            verbose=verbose).history)
        if hold_epoch < epochs:
            if snapshot_epoch is not None:
                write_atomically(teacher_path, teacher.save)
            write_atomically(stage_one, net.save)
    if hold_epoch < epochs:
        net_ratio = 1 - measure(net)[metric] / measure(model)[metric]
        small = shrink(net)
        history = compiled(small, hold_epoch * steps_per_epoch).fit(
            train, epochs=epochs, initial_epoch=hold_epoch,
            validation_data=val, verbose=verbose, callbacks=[
                *extra, keras.callbacks.BackupAndRestore(
                    os.path.join(out_dir, "backup_hold"),
                    double_checkpoint=True),
                EpochTimer()]).history
        history["pruned_" + metric] = [net_ratio] * len(history["loss"])
        histories.append(history)
    history = {k: sum((h.get(k, []) for h in histories), [])
               for k in histories[0]} if histories else {}
    if hold_epoch == epochs:
        small = shrink(net) if pruning else net
    os.makedirs(out_dir, exist_ok=True)
    # Saved before the int8 steps, so that a failure there loses nothing.
    write_atomically(os.path.join(out_dir, "model.keras"), small.save)
    float_accuracy = keras_accuracy(small, val)
    tflite = convert.to_tflite(small, representative=val,
                               num_samples=calibration_samples)
    write_atomically(os.path.join(out_dir, "model_int8.tflite"),
                     _write_bytes(tflite))
    int8_accuracy = convert.evaluate_tflite(tflite, val, small)
    tflm_accuracy = None
    if tflm_samples:
        tflm_accuracy = convert.evaluate_tflite(
            tflite, val, small, runtime="tflm", limit=tflm_samples)
    before, after = measure(model), measure(small)
    report = {
        "model": model.name,
        "target": target,
        "metric": metric,
        "flash_bytes": flash_bytes,
        "arena_bytes": arena_bytes,
        "latency_ms": latency_ms,
        "latency_table": None if latency_table is None else
        latency_table.get_config(),
        "importance": importance,
        "schedule": {"warmup": warmup, "ramp": ramp,
                     "learning_rate": learning_rate,
                     "lr_warmup_epochs": lr_warmup_epochs,
                     "lr_rewind": lr_rewind},
        "prune_options": {k: v for k, v in (prune_options or {}).items()
                          if k != "calibration_data"},
        "distillation": None if teacher is None else {
            "teacher": teacher_label or teacher.name,
            "temperature": distill_temperature,
            "weight": distill_weight},
        "epochs": epochs,
        "before": before,
        "after": after,
        "removed": {m: 1 - after[m] / before[m] for m in before},
        "layer_widths": layer_widths(net) if pruning else {},
        "val_accuracy_float": float_accuracy,
        "val_accuracy_int8_litert": int8_accuracy,
        "val_accuracy_int8_tflm": tflm_accuracy,
        "tflm_samples": tflm_samples,
        "tflite_bytes": len(tflite),
        "tflm_arena_bytes": convert.tflm_arena_bytes(tflite),
        "tflite_ops": convert.model_ops(tflite),
        "shrink_for_hold": hold_epoch < epochs,
        "history": {k: [float(v) for v in vals]
                    for k, vals in history.items()},
        "seconds": time.time() - started,
    }
    write_atomically(
        os.path.join(out_dir, "report.json"),
        _write_bytes(json.dumps(report, indent=2, default=_json).encode()))
    return report


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def print_summary(report, keys, out_dir):
    """Prints the chosen report entries and where the files went."""
    print(json.dumps({k: report[k] for k in keys}, indent=2, default=_json))
    print(f"Wrote model.keras, model_int8.tflite, report.json to {out_dir}")
