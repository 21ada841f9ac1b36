"""What `TargetRatio` is configured with: a schedule, a ranking, a device
budget. Each is a small object that checks its values at once and
round-trips through `get_config`, like Keras' own learning-rate schedules.

>>> tfprune.TargetRatio(
...     0.5, metric="macs",
...     schedule=tfprune.PruningSchedule(warmup=0.1, ramp=0.4),
...     ranking=tfprune.Ranking(importance="l1", round_to=8))
"""

import inspect
import warnings

from tfprune.device import budgets
from tfprune.device.latency import LatencyTable
from tfprune.importance import check_criterion
from tfprune.validation import check_fraction, check_positive_int

# The default schedule, fractions of training: a short warm-up and ramp
# leave most epochs to the final network (which `tfprune.fit` trains
# rebuilt, narrower: see docs/results.md, "Training cost").
WARMUP = 0.05
RAMP = 0.2
# The ramp of a model that is already trained (no warm-up).
TRAINED_MODEL_RAMP = 0.5


def _check_flag(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. "
                         f"Received: {name}={value!r}")


class _Option:
    """What the option classes share: `from_config` and a `repr` of their
    config."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({_arguments(self.get_config())})"


class PruningSchedule(_Option):
    """When channels are cut: a warm-up with all channels open, a cubic
    ramp of the removed fraction (Zhu & Gupta, 2017), then a hold at the
    target. Fractions are of the `fit` the callback is given.

    Args:
        warmup: fraction of training with all channels open. Default 0.05.
        ramp: fraction of training over which the removed fraction grows
            to the target. Default 0.2.
        update_every: steps between mask updates. Default None: about 100
            updates over the ramp.
        hold_updates: keep re-choosing the channels at the target every
            `update_every` steps during the hold instead of fixing them
            (Dynamic Channel Propagation's behaviour). Default False.

    Examples:
        >>> schedule = tfprune.PruningSchedule(warmup=0.1, ramp=0.5)
        >>> schedule(0.35)       # half-way through the ramp
        0.875
        >>> tfprune.PruningSchedule.for_trained_model().warmup
        0.0
    """

    def __init__(self, warmup=WARMUP, ramp=RAMP, update_every=None,
                 hold_updates=False):
        check_fraction("warmup", warmup)
        check_fraction("ramp", ramp)
        if warmup + ramp > 1:
            raise ValueError(
                "`warmup + ramp` must be at most 1 (the rest of training "
                f"holds the final masks). Received: warmup={warmup}, "
                f"ramp={ramp}")
        if update_every is not None:
            check_positive_int("update_every", update_every)
        _check_flag("hold_updates", hold_updates)
        self.warmup = float(warmup)
        self.ramp = float(ramp)
        self.update_every = update_every
        self.hold_updates = hold_updates

    @classmethod
    def for_trained_model(cls, **changes):
        """No warm-up and a ramp over the first half: the schedule of
        `TargetRatio.for_trained_model`. `changes` override either."""
        return cls(**{"warmup": 0.0, "ramp": TRAINED_MODEL_RAMP, **changes})

    @property
    def hold_start(self):
        """The fraction of training at which the hold begins."""
        return self.warmup + self.ramp

    def __call__(self, progress):
        """The fraction of the target removed at `progress` (0 to 1)."""
        if progress < self.warmup:
            return 0.0
        if self.ramp == 0 or progress >= self.hold_start:
            return 1.0
        t = (progress - self.warmup) / self.ramp
        return 1.0 - (1.0 - t) ** 3

    def get_config(self):
        return {"warmup": self.warmup, "ramp": self.ramp,
                "update_every": self.update_every,
                "hold_updates": self.hold_updates}


class Ranking(_Option):
    """How channels are chosen: the importance that ranks them and what
    the chosen widths must be.

    Args:
        importance: `"scores"` (default, the gates' learned Taylor
            scores), `"l1"` (filter L1 norm, Li et al. 2017), `"bn"`
            (BatchNorm |gamma|, Network Slimming) or `"random"` (fixed
            random values, an ablation).
        saliency_decay: weight of the old score when new saliency is folded
            in at each update, at least 0 and below 1. Default 0.9.
        cost_aware: rank by importance per unit of cost (default); False
            ranks by importance alone (a global top-k).
        round_to: kept channel counts are multiples of this. Default 1.
        min_channels: the fewest channels any layer keeps. Default 1.
        seed: fixes the values of `importance="random"`. Default 0.

    Examples:
        >>> tfprune.Ranking(importance="l1", round_to=8).round_to
        8
    """

    def __init__(self, importance="scores", saliency_decay=0.9,
                 cost_aware=True, round_to=1, min_channels=1, seed=0):
        check_criterion(importance)
        if isinstance(saliency_decay, bool) or not isinstance(
                saliency_decay, (int, float)) or not 0 <= saliency_decay < 1:
            raise ValueError(
                "`saliency_decay` is the weight of the old score and must be"
                " at least 0 and below 1 (1 would ignore every new "
                f"saliency). Received: saliency_decay={saliency_decay!r}")
        _check_flag("cost_aware", cost_aware)
        check_positive_int("round_to", round_to)
        check_positive_int("min_channels", min_channels)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(
                f"`seed` must be an integer. Received: seed={seed!r}")
        self.importance = importance
        self.saliency_decay = float(saliency_decay)
        self.cost_aware = cost_aware
        self.round_to = round_to
        self.min_channels = min_channels
        self.seed = seed

    def get_config(self):
        return {"importance": self.importance,
                "saliency_decay": self.saliency_decay,
                "cost_aware": self.cost_aware, "round_to": self.round_to,
                "min_channels": self.min_channels, "seed": self.seed}


class DeviceBudget(_Option):
    """Limits of the device the pruned int8 model must fit; any that are
    given are met at once.

    Args:
        flash_bytes: the largest allowed size of the int8 `.tflite`.
        arena_bytes: the largest allowed TFLite Micro tensor arena.
        latency_ms: the longest allowed inference time in milliseconds, as
            `latency_table` predicts it.
        latency_table: the `tfprune.LatencyTable` that predicts the time
            (from `tfprune.profile_latency`, or a board's measurements);
            needed with `latency_ms`.

    Examples:
        >>> tfprune.TargetRatio(device=tfprune.DeviceBudget(
        ...     flash_bytes=64_000, arena_bytes=24_000))
    """

    def __init__(self, flash_bytes=None, arena_bytes=None, latency_ms=None,
                 latency_table=None):
        limits = {"flash_bytes": flash_bytes, "arena_bytes": arena_bytes,
                  "latency_ms": latency_ms}
        if all(value is None for value in limits.values()):
            raise ValueError(
                "A DeviceBudget needs at least one limit: flash_bytes, "
                "arena_bytes or latency_ms. Received none.")
        for name, value in limits.items():
            if value is not None:
                budgets.check_limit(name, value)
        if isinstance(latency_table, dict):  # from get_config
            latency_table = LatencyTable.from_config(latency_table)
        if latency_ms is not None and not isinstance(latency_table,
                                                     LatencyTable):
            raise ValueError(
                "`latency_ms` needs `latency_table`: a tfprune.LatencyTable "
                "from tfprune.profile_latency(model), or your device's "
                f"numbers. Received: latency_table={latency_table!r}")
        self.flash_bytes = flash_bytes
        self.arena_bytes = arena_bytes
        self.latency_ms = latency_ms
        self.latency_table = latency_table

    def limits(self):
        """`{"flash_bytes": ..., ...}`: the limits that were given."""
        return {name: value for name, value in (
            ("flash_bytes", self.flash_bytes),
            ("arena_bytes", self.arena_bytes),
            ("latency_ms", self.latency_ms)) if value is not None}

    def get_config(self):
        table = self.latency_table
        return {"flash_bytes": self.flash_bytes,
                "arena_bytes": self.arena_bytes,
                "latency_ms": self.latency_ms,
                "latency_table": None if table is None else
                table.get_config()}

    def __repr__(self):
        return f"DeviceBudget({_arguments(self.limits())})"


def _arguments(config):
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


# `TargetRatio`'s argument for each class of option.
OPTION_CLASSES = {"schedule": PruningSchedule, "ranking": Ranking,
                  "device": DeviceBudget}


def group_keywords(keywords):
    """Sorts flat keyword arguments into option objects.

    Returns `(options, rest)`: `options` maps `"schedule"`, `"ranking"`
    and `"device"` to the object built from the keywords its class takes
    (only those some keyword was given for); `rest` holds the keywords no
    option class takes.

    >>> options, rest = group_keywords(
    ...     {"warmup": 0.1, "round_to": 8, "verbose": 1})
    >>> sorted(options), rest
    (['ranking', 'schedule'], {'verbose': 1})
    """
    options, rest = {}, dict(keywords)
    for argument, cls in OPTION_CLASSES.items():
        fields = inspect.signature(cls).parameters
        taken = {k: rest.pop(k) for k in fields if k in rest}
        if taken:
            options[argument] = cls(**taken)
    return options, rest


# The flat keywords of tfprune 0.1 whose default was None: None there still
# means "not given".
_NONE_WAS_DEFAULT = ("update_every", "flash_bytes", "arena_bytes",
                     "latency_ms", "latency_table")


def from_old_keywords(caller, old, given):
    """The option objects of a call, with the flat keywords of tfprune 0.1.

    Args:
        caller: the function's name, for the messages.
        old: the flat keywords the call got (`{"warmup": 0.1, ...}`).
        given: `{argument: object or None}`: the option objects it got.

    Returns:
        `(options, rest)`: `given` with an object built for each argument
        some old keyword belongs to (each warned of with a
        DeprecationWarning that spells the new call), and the keywords no
        option takes.

    Raises:
        ValueError: an old keyword came with the object it belongs in.
    """
    old = {k: v for k, v in old.items()
           if not (v is None and k in _NONE_WAS_DEFAULT)}
    moved, rest = group_keywords(old)
    options = dict(given)
    for argument, option in moved.items():
        names = [k for k in old if k in option.get_config()]
        spelled = ", ".join(f"{k}={old[k]!r}" for k in names)
        new = f"{argument}=tfprune.{type(option).__name__}({spelled})"
        if given.get(argument) is not None:
            raise ValueError(
                f"{caller} got `{argument}` and the old keywords {names} "
                f"that belong in it: pass {new} alone.")
        warnings.warn(f"{caller}({spelled}) is deprecated: pass {new}.",
                      DeprecationWarning, stacklevel=3)
        options[argument] = option
    return options, rest
