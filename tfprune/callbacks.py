"""`TargetRatio`: prune during `fit` to an exact compression ratio."""

import warnings

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfprune import batchnorm
from tfprune import data as data_lib
from tfprune import pruning
from tfprune import saliency
from tfprune.device import budgets
from tfprune.device.budgets import check_metric
from tfprune.device.latency import LatencyTable
from tfprune.importance import check_criterion
from tfprune.validation import check_fraction, check_positive_int


def _print(message):
    """Prints like Keras' own progress output: to stdout, or to the absl
    log when `keras.config.disable_interactive_logging()` was called."""
    if keras.config.is_interactive_logging_enabled():
        print(f"\n{message}", flush=True)
    else:
        logging.info(message)


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


# The ramp of `TargetRatio.for_trained_model`, a fraction of the fine-tune.
TRAINED_MODEL_RAMP = 0.5


def _check_budget(ratio, metric, device):
    """`TargetRatio`'s budget: `metric`, and `ratio` unless a device limit
    (`device`: flash_bytes, arena_bytes, latency_ms) is the budget."""
    check_metric(metric)
    for name, value in device.items():
        if value is not None:
            budgets.check_limit(name, value)
    if ratio is not None or all(value is None for value in device.values()):
        pruning.check_ratio(ratio)


def _check_schedule(warmup, ramp, update_every):
    check_fraction("warmup", warmup)
    check_fraction("ramp", ramp)
    if warmup + ramp > 1:
        raise ValueError(
            "`warmup + ramp` must be at most 1 (the rest of training "
            f"holds the final masks). Received: warmup={warmup}, "
            f"ramp={ramp}")
    if update_every is not None:
        check_positive_int("update_every", update_every)


def _check_options(round_to, min_channels, importance, calibration_steps,
                   saliency_decay, hold_updates, cost_aware, seed):
    check_positive_int("round_to", round_to)
    check_positive_int("min_channels", min_channels)
    check_criterion(importance)
    check_positive_int("calibration_steps", calibration_steps)
    if isinstance(saliency_decay, bool) or not isinstance(
            saliency_decay, (int, float)) or not 0 <= saliency_decay < 1:
        raise ValueError(
            "`saliency_decay` is the weight of the old score and must be "
            "at least 0 and below 1 (1 would ignore every new saliency)."
            f" Received: saliency_decay={saliency_decay!r}")
    for name, flag in (("hold_updates", hold_updates),
                       ("cost_aware", cost_aware)):
        if not isinstance(flag, bool):
            raise ValueError(f"`{name}` must be True or False. "
                             f"Received: {name}={flag!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            f"`seed` must be an integer. Received: seed={seed!r}")


class TargetRatio(keras.callbacks.Callback):
    """Prunes a gated model during `fit` until `ratio` of the cost is removed.

    Training is split into three phases, as fractions of the `fit` it is
    given (any number of epochs and steps):

    1. warm-up (`warmup`): all channels open;
    2. ramp (`ramp`): every `update_every` steps the removed fraction grows
       along a cubic curve (Zhu & Gupta, 2017) and the global budget solver
       chooses, across all layers at once, which channels to keep from the
       gates' learned scores. Channels switched off earlier come back when
       their scores rise;
    3. hold (the rest): the final masks, at exactly `ratio`, stay fixed so
       that the weights settle on the final architecture.

    Every `update_every` steps (warm-up included) the saliency the gates
    gathered is folded into their scores (see `ChannelGate`). With
    `calibration_data`, BatchNormalization statistics are re-estimated
    after the masks changed, before each validation and at the end, so the
    inference-mode network (what `validation_data` measures) is the masked
    network being trained.

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
            ramps their combined cost and every one is met).
        metric: `"params"` (default), `"macs"`, `"channels"` or `"flash"`
            (bytes of the int8 `.tflite`).
        warmup: fraction of training with all channels open. Default 0.1.
        ramp: fraction of training over which the ratio grows. Default 0.6.
        update_every: steps between mask updates in the ramp. Default None:
            about 100 updates over the ramp.
        round_to: kept channel counts are multiples of this. Default 1.
        min_channels: the fewest channels any layer keeps. Default 1.
        importance: how channels are ranked: `"scores"` (default, the
            gates' learned scores), `"l1"` (filter L1 norm, Li et al. 2017),
            `"bn"` (BatchNorm |gamma|, Network Slimming) or `"random"`
            (fixed random values, an ablation). With `warmup=2/3, ramp=0`
            and `"l1"` this is one-shot L1 pruning followed by fine-tuning,
            for baselines.
        calibration_data: optional training data to re-estimate
            BatchNormalization statistics from after the masks changed: a
            batched `tf.data.Dataset` of inputs or `(inputs, labels)`, a
            NumPy array of inputs or a tuple `(inputs, labels)` of arrays
            (cut into batches of 32). Default None.
        calibration_steps: batches averaged per re-estimation. Default 20.
        saliency_decay: weight of the old score when the new saliency is
            folded in, at every update. Default 0.9.
        hold_updates: keep re-choosing the channels at the target ratio
            every `update_every` steps during the hold, instead of fixing
            them (Dynamic Channel Propagation's behaviour). Default False.
        cost_aware: rank channels by importance per unit of cost (default);
            False ranks by importance alone (a global top-k).
        seed: fixes the values of `importance="random"`. Default 0.
        verbose: 1 prints each phase change. Default 0.
        flash_bytes: the largest allowed size of the int8 `.tflite` in
            bytes; `ratio` may then be omitted (if given, it is one more
            budget). The model is converted once when training starts.
        latency_ms: the longest allowed inference time in milliseconds, as
            `latency_table` predicts it.
        latency_table: the `tfprune.LatencyTable` that predicts the time
            (from `tfprune.profile_latency`, or a board's measurements).
        arena_bytes: the largest allowed TFLite Micro tensor arena in
            bytes. With device budgets the schedule ramps the combined cost
            (the largest of cost / budget) and the final masks are checked
            by converting the shrunk model.

    Examples:
        >>> gated = tfprune.gate(model)
        >>> gated.compile("sgd", "sparse_categorical_crossentropy")
        >>> gated.fit(train, epochs=30, validation_data=val, callbacks=[
        ...     tfprune.TargetRatio(0.94, calibration_data=train)])
        >>> small = tfprune.shrink(gated)
    """

    def __init__(self, ratio=None, metric="params", warmup=0.1, ramp=0.6,
                 update_every=None, round_to=1, min_channels=1,
                 importance="scores", calibration_data=None,
                 calibration_steps=20, saliency_decay=0.9, hold_updates=False,
                 cost_aware=True, seed=0, verbose=0, flash_bytes=None,
                 arena_bytes=None, latency_ms=None, latency_table=None):
        super().__init__()
        device = {"flash_bytes": flash_bytes, "arena_bytes": arena_bytes,
                  "latency_ms": latency_ms}
        _check_budget(ratio, metric, device)
        _check_schedule(warmup, ramp, update_every)
        _check_options(round_to, min_channels, importance, calibration_steps,
                       saliency_decay, hold_updates, cost_aware, seed)
        self.flash_bytes = flash_bytes
        self.arena_bytes = arena_bytes
        self.latency_ms = latency_ms
        if isinstance(latency_table, dict):  # from get_config
            latency_table = LatencyTable.from_config(latency_table)
        self.latency_table = latency_table
        several = isinstance(ratio, dict)
        self.target = ratio if ratio is None or several else float(ratio)
        # With device budgets or several ratios: set at train begin.
        self.ratio = None if several else self.target
        self.metric = metric
        # Several limits at once: the solver meets their combined cost.
        self._device = several or any(v is not None
                                      for v in device.values())
        # What `pruned_<name>` logs: the metric, or the combined budget.
        named = [budgets.DEVICE_METRICS.get(k, "latency")
                 for k, v in device.items() if v is not None] + (
                     list(ratio) if several else
                     [metric] if ratio is not None else [])
        self._log_name = named[0] if len(named) == 1 else "budget"
        self.warmup = float(warmup)
        self.ramp = float(ramp)
        self.update_every = update_every
        self.round_to = round_to
        self.min_channels = min_channels
        self.importance = importance
        self.calibration_data = _check_calibration_data(calibration_data)
        self.calibration_steps = calibration_steps
        self.saliency_decay = float(saliency_decay)
        self.hold_updates = hold_updates
        self.cost_aware = cost_aware
        self.seed = seed
        self.verbose = verbose

    @classmethod
    def for_trained_model(cls, ratio=None, calibration_data=None, **kwargs):
        """The schedule for a model that is already trained: no warm-up
        (the first cut ranks channels by saliency measured on
        `calibration_data`, labelled training data, before it), the ratio
        ramped over the first half of `fit`, then held. Pair it with a
        fine-tuning learning rate (the fine-tune benchmark's choice: SGD,
        peak `tfprune.pipeline.FINE_TUNE_LEARNING_RATE`, cosine to 0; see
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
        settings = {"warmup": 0.0, "ramp": TRAINED_MODEL_RAMP, **kwargs}
        return cls(ratio, calibration_data=calibration_data, **settings)

    def ratio_at(self, progress):
        """The removed fraction scheduled at `progress` (0 to 1) of training."""
        if progress < self.warmup:
            return 0.0
        if self.ramp == 0 or progress >= self.warmup + self.ramp:
            return self.ratio
        t = (progress - self.warmup) / self.ramp
        return self.ratio * (1.0 - (1.0 - t) ** 3)

    def _gated(self):
        # A `keras.distillation.Distiller` trains its `student`.
        return getattr(self.model, "student", self.model)

    def _make_plan(self):
        limits = pruning.limits_for(
            self._gated(), self.target, self.metric, self.flash_bytes,
            self.arena_bytes, self.latency_ms,
            self.latency_table) if self._device else None
        self._plan = pruning.BudgetPlan(
            self._gated(), self.metric, self.round_to, self.min_channels,
            self.importance, seed=self.seed, cost_aware=self.cost_aware,
            limits=limits, latency_table=self.latency_table)
        if self._device:  # the budgets as a fraction of the combined cost
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
        return self._holding and not self.hold_updates

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
        if self._phase not in ("ramp", "hold") or self.importance == "random":
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
        if self.update_every:
            return self.update_every
        if not self._steps:
            return 1
        span = self.ramp if self.ramp > 0 else 1.0
        return max(1, int(span * self._epochs * self._steps) // 100)

    def _say(self, phase, message):
        if self.verbose and phase != self._phase:
            _print(f"TargetRatio: {message}")
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
        if progress < self.warmup:
            if self._phase is None and self._plan.removed_ratio() > 0:
                self._plan.open_all()
                self._masks_changed = True
            if due:
                self._last_update = step
            self._say("warmup", "warm-up, all channels open")
        elif progress < self.warmup + self.ramp:
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
        elif self.hold_updates and due:
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
            self._plan.fold_saliency(step - last, self.saliency_decay)
        self._last_fold = step

    def _prime_scores(self):
        """Before a first cut with empty scores (a trained model gated just
        now, no warm-up): measures the saliency on the calibration data."""
        data = self.calibration_data
        spec = None if data is None else data.element_spec
        if isinstance(spec, tuple) and len(spec) >= 2:  # labelled
            saliency.gather_saliency(self.model, data,
                                     self.calibration_steps)
            _print(f"TargetRatio: measured the channels' saliency on "
                   f"{self.calibration_steps} batches before the first cut")
            return
        warnings.warn(
            "TargetRatio: the first cut comes before any saliency was "
            "gathered (no warm-up), so channels rank as ties. Give labelled "
            "`calibration_data` (the training set) to measure it first, a "
            "warm-up, or importance='l1'.", stacklevel=2)

    def _apply(self, ratio, exact=True):
        if self.importance == "scores" and (ratio > 0 or self._device) \
                and saliency.scores_are_empty(self._gated()):
            self._prime_scores()
        if exact and self._device:  # checked by converting the model
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
        elif self.hold_updates:
            self._apply(self.ratio)
        self._recalibrate()

    def get_config(self):
        return {
            "ratio": self.target, "flash_bytes": self.flash_bytes,
            "arena_bytes": self.arena_bytes, "latency_ms": self.latency_ms,
            "latency_table": None if self.latency_table is None else
            self.latency_table.get_config(),
            "metric": self.metric,
            "warmup": self.warmup, "ramp": self.ramp,
            "update_every": self.update_every, "round_to": self.round_to,
            "min_channels": self.min_channels,
            "importance": self.importance,
            "calibration_steps": self.calibration_steps,
            "saliency_decay": self.saliency_decay,
            "hold_updates": self.hold_updates,
            "cost_aware": self.cost_aware, "seed": self.seed,
            "verbose": self.verbose,
        }
