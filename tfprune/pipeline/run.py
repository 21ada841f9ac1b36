"""`PruneRun` and `train_prune_export`: one call from a model to a pruned,
shrunk, int8-converted one, with its report."""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from tfprune import convert, distillation, training
from tfprune.callbacks import TargetRatio
from tfprune.cost import measure
from tfprune.gating import gate
from tfprune.graph import ChannelGraph
from tfprune.options import from_old_keywords, group_keywords
from tfprune.files import write_atomically, write_bytes
from tfprune.pipeline.epochs import EpochTimer, StopAfterEpoch
from tfprune.pipeline.recipe import Recipe, budget_of, learning_rate_schedule
from tfprune.pipeline.recipe import steps_per_epoch
from tfprune.surgery import shrink


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
            widths[producer.name] = [group.gate.kept_channels(),
                                     group.gate.original_channels]
    return widths


class PruneRun:
    """One `train_prune_export` run: its steps, in order, in `run()`.

    A subclass replaces one step (e.g. `teacher` or `export`) without
    touching the others.
    """

    def __init__(self, model, train, val, out_dir, recipe, target=0.94,
                 metric="params", device=None):
        self.model, self.train, self.val = model, train, val
        self.out_dir, self.recipe = out_dir, recipe
        self.target, self.metric = target, metric
        self.device = device
        self.budget = budget = budget_of(target, metric, device)
        self.pruning = bool(budget)
        if budget and recipe.shrink_for_hold and "ratio" not in budget:
            raise ValueError(
                "`shrink_for_hold` is not supported with device budgets yet; "
                "train the masked model through the hold (the default).")
        self.steps_per_epoch = steps_per_epoch(train)
        recipe.check_rewind(self.pruning, target)
        distillation.check_mirror_teacher(recipe.mirror_teacher,
                                          recipe.teacher, model)
        self.hold_epoch = recipe.hold_start() if (
            self.pruning and recipe.shrink_for_hold) else recipe.epochs

    def learning_rate(self):
        """The learning-rate schedule over the whole run."""
        r, steps = self.recipe, self.recipe.epochs * self.steps_per_epoch
        rewind = None if r.lr_rewind is None else (
            r.hold_start() * self.steps_per_epoch, int(r.lr_rewind * steps))
        return learning_rate_schedule(
            r.learning_rate, steps,
            int(r.lr_warmup_epochs * self.steps_per_epoch), rewind)

    def pruning_callback(self):
        """The `TargetRatio` (None without a budget); made before any
        training so that a bad budget fails first."""
        if not self.pruning:
            return None
        r = self.recipe
        options, rest = group_keywords({
            "calibration_data": self.train, "warmup": r.warmup,
            "ramp": r.ramp, "importance": r.importance,
            **(r.prune_options or {})})
        return TargetRatio(**self.budget, **options, **rest, verbose=1)

    def teacher(self, net):
        """The `distillation.Teacher` of the gated `net` (None without
        distillation)."""
        r = self.recipe
        if r.teacher == "unpruned":
            distillation.check_teacher_name(r.teacher, self.pruning)
            teacher = self._unpruned_teacher()
        else:
            teacher = distillation.resolve_teacher(
                r.teacher, self.model, net, self.pruning, r.warmup,
                r.epochs, os.path.join(self.out_dir, "teacher.keras"))
        if teacher is None or not r.mirror_teacher:
            return teacher
        return teacher._replace(
            model=distillation.mirror_averaged(teacher.model),
            label=teacher.label + ", averaged with its mirror images")

    def _unpruned_teacher(self):
        """`teacher="unpruned"`: a fresh copy of the model trained without
        pruning by the same recipe in `out_dir/teacher/`, or the one already
        there, so that an interrupted run does not train it again."""
        teacher_dir = os.path.join(self.out_dir, "teacher")
        path = os.path.join(teacher_dir, "model.keras")
        if not os.path.exists(path):  # written once its training has ended
            recipe = dataclasses.replace(self.recipe, tflm_samples=0,
                                         teacher=None, lr_rewind=None,
                                         shrink_for_hold=False)
            PruneRun(keras.models.clone_model(self.model), self.train,
                     self.val, teacher_dir, recipe, target=0).run()
        teacher = distillation.load_teacher(path, self.model)
        return distillation.Teacher(teacher, (
            f"unpruned {teacher.name} trained first in {teacher_dir} "
            f"({keras_accuracy(teacher, self.val):.2%} validation "
            "accuracy)"))

    def compiled(self, student, schedule, teacher, first_step=0,
                 distill_weight=None):
        """`student` compiled for training (SGD + Nesterov, cross-entropy),
        in a `keras.distillation.Distiller` when there is a teacher;
        `first_step` starts the learning-rate schedule there."""
        r = self.recipe
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9,
                                         nesterov=True,
                                         weight_decay=r.weight_decay)
        trainer = student if teacher is None else distillation.distiller(
            teacher.model, student, r.distill_temperature,
            r.distill_weight if distill_weight is None else distill_weight)
        trainer.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"])
        if first_step:
            optimizer.build(student.trainable_variables)
            optimizer.iterations.assign(first_step)
        return trainer

    def _callbacks(self, backup):
        # double_checkpoint: a kill while the backup is written falls back
        # to the previous one.
        return [*self.recipe.callbacks, keras.callbacks.BackupAndRestore(
            os.path.join(self.out_dir, backup), double_checkpoint=True),
            EpochTimer()]

    def train_masked(self, net, schedule, prune, teacher):
        """Trains the gated (or, without a budget, plain) `net` up to the
        hold epoch. Returns its history."""
        callbacks = self._callbacks("backup")
        if prune is not None:
            callbacks.append(prune)
        if self.hold_epoch < self.recipe.epochs:
            callbacks.append(StopAfterEpoch(self.hold_epoch - 1))
        if teacher is None or teacher.snapshot_epoch is None:
            trainer = self.compiled(net, schedule, teacher)
        else:  # no distillation until the snapshot is taken
            trainer = self.compiled(net, schedule, teacher, distill_weight=0)
            callbacks.append(distillation.SnapshotTeacher(
                teacher.snapshot_epoch, self.recipe.distill_weight))
        if prune is not None and self.shrinks_during_training(teacher):
            history = training.fit(
                trainer, self.train, epochs=self.recipe.epochs,
                validation_data=self.val, callbacks=callbacks,
                verbose=self.recipe.verbose)
            self.trained = history.model
            return history.history
        return trainer.fit(self.train, epochs=self.recipe.epochs,
                           validation_data=self.val, callbacks=callbacks,
                           verbose=self.recipe.verbose).history

    def shrinks_during_training(self, teacher):
        """Whether `train_masked` rebuilds the network as channels settle
        (`Recipe.shrink_during_training`)."""
        return (self.recipe.shrink_during_training and self.pruning
                and teacher is None and "ratio" in self.budget
                and self.hold_epoch >= self.recipe.epochs)

    def train_hold(self, net, schedule, teacher):
        """Trains the shrunk `net` for the hold epochs. Returns `(small,
        history)`."""
        ratio = {m: 1 - measure(net)[m] / measure(self.model)[m]
                 for m in self._metrics()}
        small = shrink(net)
        history = self.compiled(
            small, schedule, teacher,
            self.hold_epoch * self.steps_per_epoch).fit(
                self.train, epochs=self.recipe.epochs,
                initial_epoch=self.hold_epoch, validation_data=self.val,
                verbose=self.recipe.verbose,
                callbacks=self._callbacks("backup_hold")).history
        for metric, value in ratio.items():
            history["pruned_" + metric] = [value] * len(history["loss"])
        return small, history

    def _metrics(self):
        ratio = self.budget.get("ratio")
        return list(ratio) if isinstance(ratio, dict) else [
            self.budget.get("metric", "params")]

    def train_all(self, net, teacher, prune):
        """Both training stages (a rerun after stage one resumes in the
        hold). Returns `(gated or plain net, small model, history)`."""
        schedule = self.learning_rate()
        stage_one = os.path.join(self.out_dir, "masked.keras")
        hold = self.hold_epoch < self.recipe.epochs
        histories = []
        if hold and os.path.exists(stage_one):
            net = keras.models.load_model(stage_one)  # resumed in the hold
        else:
            self.trained = net
            histories.append(self.train_masked(net, schedule, prune, teacher))
            net = self.trained  # narrower, if rebuilt during training
            if hold:
                if teacher is not None and teacher.snapshot_epoch is not None:
                    write_atomically(
                        os.path.join(self.out_dir, "teacher.keras"),
                        teacher.model.save)
                write_atomically(stage_one, net.save)
        if hold:
            small, history = self.train_hold(net, schedule, teacher)
            histories.append(history)
        else:
            small = shrink(net) if self.pruning else net
        merged = {k: sum((h.get(k, []) for h in histories), [])
                  for k in histories[0]} if histories else {}
        return net, small, merged

    def export(self, small):
        """Saves `small` (before the int8 steps, so that a failure there
        loses nothing), converts and scores it. Returns the export's part
        of the report."""
        r = self.recipe
        write_atomically(os.path.join(self.out_dir, "model.keras"),
                         small.save)
        float_accuracy = keras_accuracy(small, self.val)
        tflite = convert.to_tflite(small, representative=self.val,
                                   num_samples=r.calibration_samples)
        write_atomically(os.path.join(self.out_dir, "model_int8.tflite"),
                         write_bytes(tflite))
        return {
            "val_accuracy_float": float_accuracy,
            "val_accuracy_int8_litert": convert.evaluate_tflite(
                tflite, self.val, small),
            "val_accuracy_int8_tflm": convert.evaluate_tflite(
                tflite, self.val, small, runtime="tflm",
                limit=r.tflm_samples) if r.tflm_samples else None,
            "tflm_samples": r.tflm_samples,
            "tflite_bytes": len(tflite),
            "tflm_arena_bytes": convert.tflm_arena_bytes(tflite),
            "tflite_ops": convert.model_ops(tflite),
        }

    def report(self, net, small, teacher, history, exported):
        """The run's report (a dict of JSON values)."""
        r, device = self.recipe, self.device
        before, after = measure(self.model), measure(small)
        table = device and device.latency_table
        return {
            "model": self.model.name,
            "target": self.target,
            "metric": self.metric,
            "flash_bytes": device and device.flash_bytes,
            "arena_bytes": device and device.arena_bytes,
            "latency_ms": device and device.latency_ms,
            "latency_table": None if table is None else table.get_config(),
            "importance": r.importance,
            "schedule": {"warmup": r.warmup, "ramp": r.ramp,
                         "learning_rate": r.learning_rate,
                         "lr_warmup_epochs": r.lr_warmup_epochs,
                         "lr_rewind": r.lr_rewind},
            "prune_options": {k: v for k, v in (r.prune_options or {}).items()
                              if k != "calibration_data"},
            "distillation": None if teacher is None else {
                "teacher": teacher.label or teacher.model.name,
                "temperature": r.distill_temperature,
                "weight": r.distill_weight},
            "epochs": r.epochs,
            "before": before,
            "after": after,
            "removed": {m: 1 - after[m] / before[m] for m in before},
            "layer_widths": layer_widths(net) if self.pruning else {},
            **exported,
            "shrink_for_hold": self.hold_epoch < r.epochs,
            "shrink_during_training": self.shrinks_during_training(teacher),
            "history": {k: [float(v) for v in vals]
                        for k, vals in history.items()},
        }

    def run(self):
        """Every step; writes `model.keras`, `model_int8.tflite` and
        `report.json` to `out_dir` and returns the report."""
        started = time.time()
        net = gate(self.model) if self.pruning else self.model
        prune = self.pruning_callback()
        teacher = self.teacher(net)
        net, small, history = self.train_all(net, teacher, prune)
        os.makedirs(self.out_dir, exist_ok=True)
        report = self.report(net, small, teacher, history, self.export(small))
        report["seconds"] = time.time() - started
        write_atomically(
            os.path.join(self.out_dir, "report.json"),
            write_bytes(json.dumps(report, indent=2, default=_json).encode()))
        return report


def train_prune_export(model, train, val, out_dir, target=0.94,
                       metric="params", device=None, recipe=None,
                       **settings):
    """Trains `model` with pruning to a budget, then shrinks and exports it.

    Args:
        model: a Keras model with one input and logits output: unpruned,
            freshly built or already trained (then give
            `recipe=Recipe.fine_tune()`).
        train: a batched `tf.data.Dataset` of `(inputs, labels)`.
        val: a batched `tf.data.Dataset` of `(inputs, labels)`.
        out_dir: where `model.keras`, `model_int8.tflite`, `report.json`
            (and, while training, a `backup/` to resume from) are written.
        target: fraction of `metric` to remove (0: train without pruning,
            the unpruned baseline), or `{metric: fraction}` to meet several
            at once (e.g. `{"params": 0.941, "macs": 0.762}`).
        metric: `"params"`, `"macs"` or `"channels"`.
        device: a `tfprune.DeviceBudget` (flash, arena, latency limits) to
            meet instead of `target`.
        recipe: a `Recipe` (default `Recipe()`: from scratch).
        **settings: `Recipe` fields that override `recipe`'s.

    Returns:
        The report, a dict (also written to `report.json`).
    """
    old = {k: settings.pop(k) for k in ("flash_bytes", "arena_bytes",
                                        "latency_ms", "latency_table")
           if k in settings}  # tfprune 0.1's spelling of `device`
    device = from_old_keywords("train_prune_export", old,
                               {"device": device})[0]["device"]
    fields = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise TypeError(
            f"train_prune_export() got unknown settings {unknown}; the "
            f"Recipe fields are {sorted(fields)}.")
    recipe = dataclasses.replace(recipe or Recipe(), **settings)
    return PruneRun(model, train, val, out_dir, recipe, target, metric,
                    device).run()


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Not JSON serializable: {type(value).__name__}")


def print_summary(report, keys, out_dir):
    """Prints the chosen report entries and where the files went."""
    print(json.dumps({k: report[k] for k in keys}, indent=2, default=_json))
    print(f"Wrote model.keras, model_int8.tflite, report.json to {out_dir}")
