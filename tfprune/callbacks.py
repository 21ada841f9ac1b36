"""`TargetRatio`: prune during `fit` to an exact compression ratio."""

import keras
from keras.src.utils import io_utils

from tfprune import pruning
from tfprune.cost import check_metric
from tfprune.importance import check_criterion
from tfprune.validation import check_positive_int


def _check_fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= 1:
        raise ValueError(
            f"`{name}` is a fraction of training and must be between 0 and "
            f"1. Received: {name}={value!r}")


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

    The masks and scores live in the model's variables and the schedule is
    a function of the epoch and batch, so `keras.callbacks.BackupAndRestore`
    resumes an interrupted run where it stopped.

    Args:
        ratio: fraction of `metric` to remove, strictly between 0 and 1
            (0.94 removes 94% of the parameters).
        metric: `"params"` (default), `"macs"` or `"channels"`.
        warmup: fraction of training with all channels open. Default 0.1.
        ramp: fraction of training over which the ratio grows. Default 0.6.
        update_every: steps between mask updates in the ramp. Default None:
            about 100 updates over the ramp.
        round_to: kept channel counts are multiples of this. Default 1.
        min_channels: the fewest channels any layer keeps. Default 1.
        importance: how channels are ranked: `"scores"` (default, the
            gates' learned scores), `"l1"` (filter L1 norm, Li et al. 2017)
            or `"bn"` (BatchNorm |gamma|, Network Slimming). With
            `warmup=2/3, ramp=0` and `"l1"` this is one-shot L1 pruning
            followed by fine-tuning, for baselines.
        verbose: 1 prints each phase change. Default 0.

    Example:

    >>> gated = tfprune.gate(model)
    >>> gated.compile("sgd", "sparse_categorical_crossentropy")
    >>> gated.fit(x, y, epochs=30, callbacks=[tfprune.TargetRatio(0.94)])
    >>> small = tfprune.shrink(gated)
    """

    def __init__(self, ratio, metric="params", warmup=0.1, ramp=0.6,
                 update_every=None, round_to=1, min_channels=1,
                 importance="scores", verbose=0):
        super().__init__()
        pruning.check_ratio(ratio)
        check_metric(metric)
        _check_fraction("warmup", warmup)
        _check_fraction("ramp", ramp)
        if warmup + ramp > 1:
            raise ValueError(
                "`warmup + ramp` must be at most 1 (the rest of training "
                f"holds the final masks). Received: warmup={warmup}, "
                f"ramp={ramp}")
        if update_every is not None:
            check_positive_int("update_every", update_every)
        check_positive_int("round_to", round_to)
        check_positive_int("min_channels", min_channels)
        check_criterion(importance)
        self.ratio = float(ratio)
        self.metric = metric
        self.warmup = float(warmup)
        self.ramp = float(ramp)
        self.update_every = update_every
        self.round_to = round_to
        self.min_channels = min_channels
        self.importance = importance
        self.verbose = verbose

    def ratio_at(self, progress):
        """The removed fraction scheduled at `progress` (0 to 1) of training."""
        if progress < self.warmup:
            return 0.0
        if self.ramp == 0 or progress >= self.warmup + self.ramp:
            return self.ratio
        t = (progress - self.warmup) / self.ramp
        return self.ratio * (1.0 - (1.0 - t) ** 3)

    def on_train_begin(self, logs=None):
        self._plan = pruning.BudgetPlan(
            self.model, self.metric, self.round_to, self.min_channels,
            self.importance)
        self._epochs = self.params.get("epochs") or 1
        self._steps = self.params.get("steps")
        self._epoch = 0
        self._batches_seen = 0
        self._holding = False
        self._last_update = None
        self._phase = None

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
        return max(1, int(self.ramp * self._epochs * self._steps) // 100)

    def _say(self, phase, message):
        if self.verbose and phase != self._phase:
            io_utils.print_msg(f"\nTargetRatio: {message}")
        self._phase = phase

    def on_train_batch_begin(self, batch, logs=None):
        progress = self._progress(batch)
        step = int(round(progress * self._epochs * (self._steps or 1)))
        if progress < self.warmup:
            if self._phase is None and self._plan.removed_ratio() > 0:
                self._plan.open_all()
            self._say("warmup", "warm-up, all channels open")
        elif progress < self.warmup + self.ramp:
            if self._last_update is None or \
                    step - self._last_update >= self._interval():
                self._plan.apply(self.ratio_at(progress), exact=False)
                self._last_update = step
            self._say("ramp", f"ramping the removed {self.metric} to "
                              f"{self.ratio:.2%}")
        elif not self._holding:
            self._hold()
            self._say("hold", f"holding the final masks "
                              f"({self._plan.removed_ratio():.2%} removed)")

    def _hold(self):
        # After a resume the restored masks may already be the final ones.
        if abs(self._plan.removed_ratio() - self.ratio) > 0.005 or \
                self._phase is not None:
            self._plan.apply(self.ratio)
        self._holding = True

    def on_train_batch_end(self, batch, logs=None):
        if not self._steps:
            self._batches_seen = max(self._batches_seen, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps and self._batches_seen:
            self._steps = self._batches_seen
        if logs is not None:
            logs["pruned_" + self.metric] = self._plan.removed_ratio()

    def on_train_end(self, logs=None):
        if not self._holding:
            # `fit` ended before the hold phase (too short, or stopped
            # early): still leave the model at the target.
            self._plan.apply(self.ratio)
            self._holding = True

    def get_config(self):
        return {
            "ratio": self.ratio, "metric": self.metric,
            "warmup": self.warmup, "ramp": self.ramp,
            "update_every": self.update_every, "round_to": self.round_to,
            "min_channels": self.min_channels,
            "importance": self.importance, "verbose": self.verbose,
        }
