"""`fit`: prune during training and rebuild the network narrower as it goes.

A Keras model cannot change shape inside one `model.fit`, so `fit` runs
`model.fit` in segments: at the end of an epoch where enough channels are
settled (off, and not coming back: `TargetRatio.settled_channels`) it
rebuilds the gated model without them (`tfprune.surgery.narrow`), carries
the optimizer's state over (slots cut like the weights, the step count and
so the learning-rate schedule's position: `carry_optimizer`) and goes on
with the next epoch. For the caller it is one call, like `model.fit`.
"""

import json
import os
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfprune import cost as cost_lib
from tfprune import data as data_lib
from tfprune import saliency
from tfprune import surgery
from tfprune import keras_compat, progress
from tfprune.callbacks import TargetRatio
from tfprune.files import write_atomically
from tfprune.graph import GraphError

# What a rebuild must save, at least: a fraction of the MACs of the
# network as it computes now (masked channels included).
MIN_SAVING = 0.05
# A rebuild costs a new trace of the train step (the first step of a
# segment, measured): with PAYBACK > 0, before the hold it must pay that
# back this many times over the rest of training, taking a step's time to
# fall by TIME_PER_MAC of the MACs saved (VGG-16-BN x0.25 on CPU: -76%
# MACs, -42% time). Off by default: decisions from timings differ between
# runs, and a run resumed by BackupAndRestore must repeat the same ones.
PAYBACK, TIME_PER_MAC = 0.0, 0.5
# `TargetRatio.settled_channels`: how far below the cut a channel must be
# (in kept cost) to be removed before the hold.
SLACK = 0.25

_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin",
          "on_predict_end", "on_predict_batch_begin",
          "on_predict_batch_end")


class _Continued(keras.callbacks.Callback):
    """Forwards every hook to `callback`, except `on_train_begin` after the
    first segment and `on_train_end` before the last: across segments the
    callback sees one training run (and keeps its state)."""

    def __init__(self, callback, run):
        super().__init__()
        self.callback, self._run = callback, run
        for hook in _HOOKS:
            setattr(self, hook, getattr(callback, hook))

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    def on_train_begin(self, logs=None):
        if self._run.segment == 0:
            self.callback.on_train_begin(logs)
        elif hasattr(self.callback, "on_rebuild"):
            self.callback.on_rebuild()

    def on_train_end(self, logs=None):
        if self._run.next_model is None:
            self.callback.on_train_end(logs)


class _Rebuild(keras.callbacks.Callback):
    """At the end of each epoch, decides whether to rebuild, and does."""

    def __init__(self, run):
        super().__init__()
        self._run = run

    def on_train_begin(self, logs=None):
        self._times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._times.append(time.perf_counter() - self._start)

    def _pays_back(self, saving, epoch):
        """Whether the time saved over the remaining epochs outweighs the
        cost of a new trace (the segment's first step, less a step)."""
        if PAYBACK <= 0 or len(self._times) < 3:
            return True
        step = float(np.median(self._times[1:]))
        trace = max(self._times[0] - step, 0.0)
        steps = self.params.get("steps") or 1
        left = (self._run.epochs - epoch - 1) * steps
        return TIME_PER_MAC * saving * step * left > PAYBACK * trace

    def on_epoch_end(self, epoch, logs=None):
        run = self._run
        if self.model.stop_training or epoch + 1 >= run.epochs:
            return  # another callback ends training, or it is over
        prune = run.prune
        # If the next epoch is the hold's first, its final masks go at once.
        prune.begin_hold_if_due(epoch + 1)
        settled = prune.settled_channels(run.slack)
        if settled is None or not any(s.any() for s in settled):
            return
        graph = prune.channel_graph
        macs = cost_lib.cost_polynomial(graph, "macs")
        now = macs([g.size for g in graph.groups])
        keep = [~s for s in settled]
        saving = 1 - macs([int(k.sum()) for k in keep]) / now
        if not prune.holding and (saving < run.min_saving
                                   or not self._pays_back(saving, epoch)):
            return
        run.next_model = run.rebuilt(self.model, keep, epoch + 1,
                                     final=prune.masks_are_final)
        self.model.stop_training = True
        if prune.verbose:
            progress.say(f"tfprune.fit: rebuilt the network after epoch "
                         f"{epoch + 1}, {saving:.1%} fewer MACs per step",
                         below_progress_bar=True)


class _Run:
    """The state of one `fit`: segments, the pruning callback, backups."""

    def __init__(self, epochs, prune, backup, slack, min_saving):
        self.epochs, self.prune, self.backup = epochs, prune, backup
        self.slack, self.min_saving = slack, min_saving
        self.segment = 0
        self.next_model = None
        self.state_dir = None if backup is None else os.path.join(
            backup.backup_dir, "tfprune_rebuilt")

    def rebuilt(self, model, keep, next_epoch, final=False):
        """The narrowed, compiled copy of `model` (saved for a resume).
        With `final` (the hold's masks, never updated) its gates that keep
        every channel are frozen (pass their input through), the others
        measure no saliency."""
        with model.distribute_strategy.scope():
            narrowed, transfer = surgery.narrow(model, keep)
            if final:
                for gate in saliency.gates_of(narrowed):
                    if gate.kept_channels() == gate.channels:
                        gate.frozen = True
                    else:
                        gate.measures_saliency = False
            narrowed.compile_from_config(model.get_compile_config())
            narrowed.optimizer.build(narrowed.trainable_variables)
            surgery.carry_optimizer(
                model.optimizer, narrowed.optimizer,
                {id(layer): layer for layer in model.layers}, transfer)
        surgery.mark_replaced(model)
        if self.state_dir is not None:
            os.makedirs(self.state_dir, exist_ok=True)
            path = os.path.join(self.state_dir, "model.keras")
            write_atomically(path, narrowed.save)
            write_atomically(os.path.join(self.state_dir, "state.json"),
                    lambda p: _write_json(p, {"epoch": next_epoch}))
        return narrowed

    def resumed(self, model):
        """`(model, first epoch)`: after an interruption, the latest
        rebuilt model (a backup of an older architecture is dropped)."""
        if self.state_dir is None:
            return model, None
        state = os.path.join(self.state_dir, "state.json")
        if not os.path.exists(state):
            return model, None
        with open(state) as f:
            epoch = json.load(f)["epoch"]
        with model.distribute_strategy.scope():
            loaded = keras.models.load_model(
                os.path.join(self.state_dir, "model.keras"))
        if _backed_up_epoch(self.backup.backup_dir) <= epoch:
            for name in ("latest.weights.h5", "training_metadata.json"):
                for path in (name, name + ".bkp"):
                    path = os.path.join(self.backup.backup_dir, path)
                    if os.path.exists(path):
                        os.remove(path)
        return loaded, epoch


def _backed_up_epoch(backup_dir):
    try:
        with open(os.path.join(backup_dir, "training_metadata.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return -1


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)


def _one_of(callbacks, kind):
    found = [c for c in callbacks if isinstance(c, kind)]
    if len(found) > 1:
        raise ValueError(f"tfprune.fit takes at most one {kind.__name__} "
                         f"callback. Received {len(found)}.")
    return found[0] if found else None


def _without_end_stall(data, what):
    """`data` with tf.data autotuning off, unless the dataset chose it."""
    if not isinstance(data, tf.data.Dataset):
        return data
    enabled = data.options().autotune.enabled
    if enabled is None:
        return data_lib.without_autotuning(data)
    if enabled:
        warnings.warn(
            f"tfprune.fit: the {what} dataset sets autotune.enabled=True. "
            "Each rebuild then waits, after its last epoch, for tf.data's "
            "autotuning thread (up to a minute). Leave the option unset "
            "or False (tfprune.data.without_autotuning).", stacklevel=3)
    return data


def fit(model, x=None, y=None, epochs=1, callbacks=None, initial_epoch=0,
        slack=SLACK, min_saving=MIN_SAVING, **kwargs):
    """`model.fit`, rebuilding the network narrower as its channels settle.

    With a `tfprune.TargetRatio` among `callbacks`, at the end of any epoch
    where the channels that are off and will not come back
    (`TargetRatio.settled_channels(slack)`) would save at least
    `min_saving` of the MACs of a training step, the gated model is rebuilt
    without them (`tfprune.surgery.narrow`) and training goes on from the
    next epoch: weights, the optimizer's slots (cut like the weights), its
    step count (so the learning-rate schedule), the callbacks' state and
    the History carry on. At the start of the hold every masked channel
    goes and the gates freeze (`ChannelGate(frozen=True)`). Channels near
    the cut stay (masked) and can come back. The computed result is what
    the masked network computes; the budget stays a fraction of the
    unpruned network, met at the end as with `model.fit`.

    A `tf.data.Dataset` given as `x` or `validation_data` trains with
    tf.data's autotuning thread off (`tfprune.data.without_autotuning`),
    unless its options set `autotune.enabled`: deleting an iterator whose
    autotuning thread has run waits for the thread's next wake-up, up to a
    minute at the end of every segment.

    Callbacks see one run: `on_train_begin` once, `on_train_end` once
    (a `TargetRatio` follows each new model through `on_rebuild`). With
    `keras.callbacks.BackupAndRestore`, each rebuilt model is saved in
    its `backup_dir` and a rerun of the same script resumes from the last
    epoch that ended, rebuilt or not. Under `tf.distribute` the new model
    is built in the model's strategy scope.

    Args:
        model: a compiled gated functional model (`tfprune.gate`).
        x: as for `model.fit`; it must give the same batches each epoch
            (a `tf.data.Dataset`, or arrays).
        y: as for `model.fit`.
        epochs: as for `model.fit`.
        initial_epoch: as for `model.fit`.
        callbacks: as for `model.fit`.
        slack: how far below the budget's cut a masked channel must be,
            as a fraction of the kept cost, to be removed in the ramp.
            Default 0.25.
        min_saving: the least fraction of a step's MACs a rebuild before
            the hold must save. Default 0.05.
        **kwargs: passed on to `model.fit` (`validation_data`, `verbose`,
            ...).

    Returns:
        The `keras.callbacks.History` of the whole run. Its `model` is the
        trained model: after a rebuild, not the `model` passed in (shrink
        `history.model`).

    Example:

    >>> gated = tfprune.gate(model)
    >>> gated.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss)
    >>> history = tfprune.fit(gated, train, epochs=30, callbacks=[
    ...     tfprune.TargetRatio(0.94, calibration_data=train)])
    >>> small = tfprune.shrink(history.model)
    """
    callbacks = list(callbacks or [])
    prune = _one_of(callbacks, TargetRatio)
    backup = _one_of(callbacks, keras.callbacks.BackupAndRestore)
    _check_fractions(slack, min_saving)
    reason = _why_not_rebuilt(model, prune)
    if reason is not None:
        if prune is not None:
            warnings.warn(f"tfprune.fit trains without rebuilding: {reason}",
                          stacklevel=2)
        return model.fit(x, y, epochs=epochs, callbacks=callbacks,
                         initial_epoch=initial_epoch, **kwargs)
    x = _without_end_stall(x, "training")
    kwargs = _validation_without_end_stall(kwargs)
    run = _Run(epochs, prune, backup, slack, min_saving)
    model, resumed_at = run.resumed(model)
    if resumed_at is not None:
        initial_epoch = max(initial_epoch, resumed_at)
    wrapped = [_Continued(c, run) for c in callbacks] + [_Rebuild(run)]
    return _fit_segments(run, model, x, y, epochs, wrapped, initial_epoch,
                         kwargs)


def _validation_without_end_stall(fit_kwargs):
    """`fit_kwargs` with its `validation_data` (if any) through
    `_without_end_stall`."""
    if "validation_data" not in fit_kwargs:
        return fit_kwargs
    return dict(fit_kwargs, validation_data=_without_end_stall(
        fit_kwargs["validation_data"], "validation"))


def _check_fractions(slack, min_saving):
    """Raises ValueError on a bad `slack` or `min_saving` of `fit`."""
    if isinstance(slack, bool) or not isinstance(slack, (int, float)) \
            or slack < 0:
        raise ValueError("`slack` is a fraction of the kept cost, at least "
                         f"0. Received: slack={slack!r}")
    if isinstance(min_saving, bool) or not isinstance(
            min_saving, (int, float)) or not 0 <= min_saving < 1:
        raise ValueError("`min_saving` is a fraction of a step's MACs, in "
                         f"[0, 1). Received: min_saving={min_saving!r}")


def _why_not_rebuilt(model, prune):
    """Why `fit` cannot rebuild `model` during training, or None when it
    can: `prune` (the run's `TargetRatio`) is None, or the model is not a
    functional model `surgery.narrow` can cut."""
    if prune is None:
        return "no tfprune.TargetRatio"
    if not keras_compat.is_functional(model):
        return f"a {type(model).__name__} is not a functional model"
    try:
        surgery.narrow_check(model)
    except GraphError as e:
        return str(e)
    return None


def _fit_segments(run, model, x, y, epochs, callbacks, initial_epoch,
                  kwargs):
    """Calls `model.fit` once per segment, going on with `run.next_model`
    from the next epoch while a callback asked for a rebuild; returns one
    History of every segment, whose model is the last one."""
    history = keras.callbacks.History()
    history.history, history.epoch = {}, []
    while True:
        run.next_model = None
        segment = model.fit(x, y, epochs=epochs, callbacks=callbacks,
                            initial_epoch=initial_epoch, **kwargs)
        for key, values in segment.history.items():
            history.history.setdefault(key, []).extend(values)
        history.epoch.extend(segment.epoch)
        history.params = segment.params
        if run.next_model is None:
            break
        initial_epoch = segment.epoch[-1] + 1 if segment.epoch else \
            initial_epoch
        model = run.next_model
        run.segment += 1
    history.set_model(model)
    return history
