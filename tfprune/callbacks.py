"""`TargetRatio`: prune during `fit` to an exact compression ratio."""

import warnings

import keras
import numpy as np
import tensorflow as tf

from tfprune import batchnorm
from tfprune import data as data_lib
from tfprune import progress, pruning
from tfprune import saliency
from tfprune.device import budgets
from tfprune.device.budgets import check_metric
from tfprune.options import (TRAINED_MODEL_RAMP, DeviceBudget,
                             PruningSchedule, Ranking, from_old_keywords)
from tfprune.validation import check_positive_int


def _check_calibration_data(data):
    """`data` as a batched `tf.data.Dataset` (None stays None)."""
    if data is None or isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, np.ndarray):
        return tf.data.Dataset.from_tensor_slices(data).batch(32)
    if isinstance(data, tuple) and len(data) == 2 and all(
            isinstance(a, np.ndarray) for a in data):
        data_lib.check_same_length(*data, what="calibration data")
        return tf.data.Dataset.from_tensor_slices(data).batch(32)
    raise ValueError(
        "`calibration_data` must be training inputs: a batched "
        "tf.data.Dataset, a NumPy array of inputs or a tuple (inputs, "
        f"labels) of arrays. Received: {type(data).__name__}")


def _as_option(value, cls, name, default):
    """`value` if it is a `cls` (or its config), `default` for None."""
    if value is None:
        return default
    if isinstance(value, dict):  # from get_config
        return cls.from_config(value)
    if not isinstance(value, cls):
        raise ValueError(f"`{name}` must be a tfprune.{cls.__name__}. "
                         f"Received: {name}={value!r}")
    return value


def _log_name(ratio, metric, device):
    """What `pruned_<name>` logs: the metric, or "budget" for several."""
    named = [budgets.DEVICE_METRICS.get(k, "latency")
             for k in (device.limits() if device else {})]
    named += list(ratio) if isinstance(ratio, dict) else (
        [metric] if ratio is not None else [])
    return named[0] if len(named) == 1 else "budget"


class TargetRatio(keras.callbacks.Callback):
    """Prunes a gated model during `fit` until `ratio` of the cost is removed.

    Training is split into three phases by `schedule` (a
    `tfprune.PruningSchedule`, fractions of the `fit` it is given):

    1. warm-up: all channels open;
    2. ramp: every `update_every` steps the removed fraction grows along a
       cubic curve (Zhu & Gupta, 2017) and the global budget solver
       chooses, across all layers at once, which channels to keep (by
       `ranking`, a `tfprune.Ranking`: the gates' learned scores by
       default). Channels switched off earlier come back when their scores
       rise;
    3. hold (the rest): the final masks, at exactly `ratio`, stay fixed so
       that the weights settle on the final architecture.

    Every update (warm-up included) the saliency the gates gathered is
    folded into their scores (see `ChannelGate`). With `calibration_data`,
    BatchNormalization statistics are re-estimated after the masks
    changed, before each validation and at the end, so the inference-mode
    network (what `validation_data` measures) is the masked network being
    trained.

    The masks and scores live in the model's variables and the schedule is
    a function of the epoch and batch, so `keras.callbacks.BackupAndRestore`
    resumes an interrupted run where it stopped. The callback also works
    on a `keras.distillation.Distiller` whose student is a gated model
    (give it `tfprune.distillation_loss(temperature)`).

    Args:
        ratio: fraction of `metric` to remove, strictly between 0 and 1
            (0.94 removes 94% of the parameters), or a dict `{metric:
            fraction}` of several to meet at once (`{"params": 0.941,
            "macs": 0.762}`, the paper's operating point: the schedule
            ramps their combined cost and every one is met). May be
            omitted when `device` is the budget.
        metric: `"params"` (default), `"macs"`, `"channels"` or `"flash"`
            (bytes of the int8 `.tflite`).
        device: a `tfprune.DeviceBudget` (flash, arena, latency limits) to
            meet, with `ratio` or instead of it. The schedule then ramps
            the combined cost (the largest of cost / limit), and the final
            masks are checked by converting the shrunk model.
        schedule: a `tfprune.PruningSchedule`. Default: warm-up 0.05,
            ramp 0.2, then hold.
        ranking: a `tfprune.Ranking`. Default: the gates' scores, cost
            aware, any width.
        calibration_data: optional training data to re-estimate
            BatchNormalization statistics from after the masks changed: a
            batched `tf.data.Dataset` of inputs or `(inputs, labels)`, a
            NumPy array of inputs or a tuple `(inputs, labels)` of arrays
            (cut into batches of 32). Default None.
        calibration_steps: batches averaged per re-estimation. Default 20.
        verbose: 1 prints each phase change. Default 0.

    The flat keywords of tfprune 0.1 (`warmup=`, `importance=`,
    `flash_bytes=`, ...) still work with a `DeprecationWarning` that
    names the new spelling.

    Examples:
        >>> gated = tfprune.gate(model)
        >>> gated.compile("sgd", "sparse_categorical_crossentropy")
        >>> gated.fit(train, epochs=30, validation_data=val, callbacks=[
        ...     tfprune.TargetRatio(0.94, calibration_data=train)])
        >>> small = tfprune.shrink(gated)
    """

    def __init__(self, ratio=None, metric="params", *, device=None,
                 schedule=None, ranking=None, calibration_data=None,
                 calibration_steps=20, verbose=0, **old_keywords):
        super().__init__()
        options, unknown = from_old_keywords("TargetRatio", old_keywords, {
            "schedule": schedule, "ranking": ranking, "device": device})
        if unknown:
            raise TypeError(
                f"TargetRatio got unexpected keyword arguments "
                f"{sorted(unknown)}. It takes ratio, metric, device, "
                "schedule, ranking, calibration_data, calibration_steps and "
                "verbose.")
        schedule, ranking, device = (options["schedule"], options["ranking"],
                                     options["device"])
        self.device = _as_option(device, DeviceBudget, "device", None)
        self.schedule = _as_option(schedule, PruningSchedule, "schedule",
                                   PruningSchedule())
        self.ranking = _as_option(ranking, Ranking, "ranking", Ranking())
        check_metric(metric)
        several = isinstance(ratio, dict)
        if ratio is not None or self.device is None:
            pruning.check_ratio(ratio)
        check_positive_int("calibration_steps", calibration_steps)
        self.target = ratio if ratio is None or several else float(ratio)
        # With device budgets or several ratios: set at train begin.
        self.ratio = None if several else self.target
        self.metric = metric
        # Several limits at once: the solver meets their combined cost.
        self._combined = several or self.device is not None
        self._log_name = _log_name(ratio, metric, self.device)
        self.calibration_data = _check_calibration_data(calibration_data)
        self.calibration_steps = calibration_steps
        self.verbose = verbose

    @classmethod
    def for_trained_model(cls, ratio=None, calibration_data=None, **kwargs):
        """The schedule for a model that is already trained: no warm-up
        (the first cut ranks channels by saliency measured on
        `calibration_data`, labelled training data, before it), the ratio
        ramped over the first half of `fit`, then held
        (`PruningSchedule.for_trained_model()`). Pair it with a fine-tuning
        learning rate (the fine-tune benchmark's choice: SGD, peak
        `tfprune.pipeline.FINE_TUNE_LEARNING_RATE`, cosine to 0; see
        docs/results.md). `kwargs` are any other `TargetRatio` arguments.

        >>> gated = tfprune.gate(keras.models.load_model("trained.keras"))
        >>> gated.compile(keras.optimizers.SGD(keras.optimizers.schedules
        ...     .CosineDecay(0.02, 5 * steps_per_epoch), momentum=0.9),
        ...     loss, metrics=["accuracy"])
        >>> gated.fit(train, epochs=5, callbacks=[
        ...     tfprune.TargetRatio.for_trained_model(0.5, train,
        ...                                           metric="macs")])
        """
        if calibration_data is None:
            raise ValueError(
                "TargetRatio.for_trained_model needs `calibration_data`: "
                "labelled training data, to measure the channels' saliency "
                "before the first cut and re-estimate BatchNormalization "
                "statistics after each.")
        if kwargs.get("schedule") is None:
            if set(kwargs) & set(PruningSchedule().get_config()):
                # Old flat keywords: the same defaults for those not given.
                kwargs = {"warmup": 0.0, "ramp": TRAINED_MODEL_RAMP, **kwargs}
            else:
                kwargs["schedule"] = PruningSchedule.for_trained_model()
        return cls(ratio, calibration_data=calibration_data, **kwargs)

    def ratio_at(self, progress):
        """The removed fraction scheduled at `progress` (0 to 1) of
        training."""
        return self.ratio * self.schedule(progress)

    def _gated(self):
        # A `keras.distillation.Distiller` trains its `student`.
        return getattr(self.model, "student", self.model)

    def _make_plan(self):
        device = self.device.limits() if self.device else {}
        table = self.device.latency_table if self.device else None
        limits = pruning.limits_for(
            self._gated(), self.target, self.metric, **device,
            latency_table=table) if self._combined else None
        r = self.ranking
        self._plan = pruning.BudgetPlan(
            self._gated(), self.metric, r.round_to, r.min_channels,
            r.importance, seed=r.seed, cost_aware=r.cost_aware,
            limits=limits, latency_table=table)
        if self._combined:  # the budgets as a fraction of the combined cost
            self.ratio = self._plan.fitting_ratio()

    def on_rebuild(self):
        """Follows the narrower copy of the model that `tfprune.fit` put in
        place of the old one between two epochs (`self.model` is already
        the new one). The schedule's state carries on; budgets stay
        fractions of the unpruned network."""
        self._make_plan()
        saliency.follow_loss_scale(self.model)

    @property
    def masks_are_final(self):
        """True in the hold without `hold_updates`: no mask changes again."""
        return self._holding and not self.schedule.hold_updates

    @property
    def holding(self):
        """True once the hold has begun (the masks are at the target)."""
        return self._holding

    @property
    def channel_graph(self):
        """The `ChannelGraph` of the model being pruned (after
        `on_train_begin`)."""
        return self._plan.graph

    def begin_hold_if_due(self, epoch):
        """Between epochs: if the hold starts with `epoch` (0-based), sets
        the final masks now, as the epoch's first step would, so a caller
        (`tfprune.fit`) sees the masks the epoch will train with."""
        if not self._holding and epoch / self._epochs >= \
                self.schedule.hold_start:
            self.on_epoch_begin(epoch)
            self.on_train_batch_begin(0)

    def settled_channels(self, slack=0.25):
        """The channels that are off and will not come back: one boolean
        array per group of the model's `ChannelGraph`.

        In the hold (without `hold_updates`) the masks are final: every
        masked channel. In the ramp, a masked channel that the budget solver
        would still leave out if the kept cost were `1 + slack` times what
        it is now: to return it would have to overtake kept channels worth
        `slack` of the network, while the schedule only ever lowers the
        budget. Channels near the cut stay (masked), so they can come back.
        None in the warm-up, or with `importance="random"` before the hold
        (its values are drawn per group width).
        """
        if isinstance(slack, bool) or not isinstance(
                slack, (int, float)) or slack < 0:
            raise ValueError("`slack` is a fraction of the kept cost, at "
                             f"least 0. Received: slack={slack!r}")
        plan = self._plan
        masks = [g.gate.mask.numpy().astype(bool) for g in plan.graph.groups]
        if self.masks_are_final:
            return [~m for m in masks]
        if self._phase not in ("ramp", "hold") or \
                self.ranking.importance == "random":
            return None
        kept_cost = plan.cost([int(m.sum()) for m in masks])
        near = plan.choose(min(kept_cost * (1 + slack), plan.full_cost),
                           exact=False)
        return [~m & ~np.asarray(n, bool) for m, n in zip(masks, near)]

    def on_train_begin(self, logs=None):
        self._make_plan()
        # Saliency in units of the loss under a loss-scaling optimizer
        # (mixed_float16); a train function traced before has the old scale.
        if saliency.follow_loss_scale(self.model) and getattr(
                self.model, "train_function", None) is not None:
            self.model.make_train_function(force=True)
        if self.calibration_data is not None:
            data_lib.check_data(self.calibration_data, self._gated(),
                                what="calibration data")
        self._epochs = self.params.get("epochs") or 1
        self._steps = self.params.get("steps")
        self._epoch = 0
        self._batches_seen = 0
        self._holding = False
        self._last_update = None
        self._last_fold = None
        self._phase = None
        self._batches = None
        self._masks_changed = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _progress(self, batch):
        if not self._steps:
            return self._epoch / self._epochs  # steps not known yet
        return (self._epoch * self._steps + batch) / (
            self._epochs * self._steps)

    def _interval(self):
        if self.schedule.update_every:
            return self.schedule.update_every
        if not self._steps:
            return 1
        span = self.schedule.ramp if self.schedule.ramp > 0 else 1.0
        return max(1, int(span * self._epochs * self._steps) // 100)

    def _say(self, phase, message):
        if self.verbose and phase != self._phase:
            progress.say(f"TargetRatio: {message}", below_progress_bar=True)
        self._phase = phase

    def on_train_batch_begin(self, batch, logs=None):
        progress = self._progress(batch)
        step = int(round(progress * self._epochs * (self._steps or 1)))
        # Updates fall on multiples of the interval, counted from the first
        # step of training, so a run resumed by BackupAndRestore updates at
        # the same steps as an uninterrupted one.
        due = step != self._last_update and step % self._interval() == 0
        if due:
            self._fold(step)
        hold_start = self.schedule.hold_start
        if progress < self.schedule.warmup:
            if self._phase is None and self._plan.removed_ratio() > 0:
                self._plan.open_all()
                self._masks_changed = True
            if due:
                self._last_update = step
            self._say("warmup", "warm-up, all channels open")
        elif progress < hold_start:
            if due:
                self._apply(self.ratio_at(progress), exact=False)
                self._last_update = step
            self._say("ramp", f"ramping the removed {self._log_name} to "
                              f"{self.ratio:.2%}")
        elif not self._holding:
            self._hold()
            self._last_update = step
            self._say("hold", f"holding the final masks "
                              f"({self._plan.removed_ratio():.2%} removed)")
        elif self.schedule.hold_updates and due:
            self._apply(self.ratio, exact=False)
            self._last_update = step

    def _fold(self, step):
        """Folds the gates' saliency since the last fold into their scores.

        After a resume the last fold is the previous multiple of the
        interval (the saliency gathered since then was restored with the
        model's variables).
        """
        last = self._last_fold
        if last is None:
            last = max(step - self._interval(), 0)
        if step > last:
            self._plan.fold_saliency(step - last,
                                     self.ranking.saliency_decay)
        self._last_fold = step

    def _prime_scores(self):
        """Before a first cut with empty scores (a trained model gated just
        now, no warm-up): measures the saliency on the calibration data."""
        data = self.calibration_data
        spec = None if data is None else data.element_spec
        if isinstance(spec, tuple) and len(spec) >= 2:  # labelled
            saliency.gather_saliency(self.model, data,
                                     self.calibration_steps)
            progress.say(f"TargetRatio: measured the channels' saliency on "
                         f"{self.calibration_steps} batches before the first "
                         "cut", below_progress_bar=True)
            return
        warnings.warn(
            "TargetRatio: the first cut comes before any saliency was "
            "gathered (no warm-up), so channels rank as ties. Give labelled "
            "`calibration_data` (the training set) to measure it first, a "
            "warm-up, or importance='l1'.", stacklevel=2)

    def _apply(self, ratio, exact=True):
        if self.ranking.importance == "scores" and (
                ratio > 0 or self._combined) \
                and saliency.scores_are_empty(self._gated()):
            self._prime_scores()
        if exact and self._combined:  # checked by converting the model
            budgets.fit(self._plan)
            self.ratio = self._plan.fitting_ratio()
        else:
            self._plan.apply(ratio, exact=exact)
        self._masks_changed = True

    def _hold(self):
        # After a resume the restored masks may already be the final ones.
        if abs(self._plan.removed_ratio() - self.ratio) > 0.005 or \
                self._phase is not None:
            self._apply(self.ratio)
        self._holding = True

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(np.asarray(loss)).all():
            raise FloatingPointError(
                f"TargetRatio: the loss became {float(np.asarray(loss))} at "
                f"epoch {self._epoch + 1}, step {batch + 1}; masks left as "
                f"they were ({self._plan.removed_ratio():.2%} of "
                f"{self._log_name} removed). Lower the learning rate; with "
                "keras.callbacks.BackupAndRestore the next fit resumes from "
                "the last epoch that ended.")
        if not self._steps:
            self._batches_seen = max(self._batches_seen, batch + 1)

    def on_test_begin(self, logs=None):
        self._recalibrate()

    def _recalibrate(self):
        """Re-estimates BatchNormalization statistics if the masks changed."""
        if self.calibration_data is None or not self._masks_changed:
            return
        if self._batches is None:
            self._batches = iter(self.calibration_data.repeat())
        batchnorm.recalibrate(self._gated(), self._batches,
                              self.calibration_steps)
        self._masks_changed = False

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps and self._batches_seen:
            self._steps = self._batches_seen
        if logs is not None:
            logs["pruned_" + self._log_name] = self._plan.removed_ratio()

    def on_train_end(self, logs=None):
        if not self._holding:
            # `fit` ended before the hold phase (too short, or stopped
            # early): still leave the model at the target.
            self._apply(self.ratio)
            self._holding = True
        elif self.schedule.hold_updates:
            self._apply(self.ratio)
        self._recalibrate()

    def get_config(self):
        return {
            "ratio": self.target, "metric": self.metric,
            "device": None if self.device is None else
            self.device.get_config(),
            "schedule": self.schedule.get_config(),
            "ranking": self.ranking.get_config(),
            "calibration_steps": self.calibration_steps,
            "verbose": self.verbose,
        }
