"""`Recipe`: how `train_prune_export` trains (schedule, pruning phases,
distillation, shrinking), from scratch or from a trained model."""

import dataclasses
import math

import keras

from tfprune.options import RAMP, TRAINED_MODEL_RAMP, WARMUP
from tfprune.schedules import RewoundCosine
from tfprune.validation import check_fraction


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


# Chosen by the fine-tune benchmark (docs/results.md, "Pruning a trained model").
FINE_TUNE_LEARNING_RATE = 0.02


def first_epoch_from(fraction, epochs):
    """The first (0-based) epoch of a run of `epochs` that starts at or
    after `fraction` of it (at most `epochs`): an epoch a schedule's
    boundary splits belongs to the phase before it.

    Example:
        >>> first_epoch_from(0.25, 10)  # 2.5 epochs: epoch 3 starts after
        3
    """
    return min(epochs, math.ceil(round(fraction * epochs, 6)))


@dataclasses.dataclass
class Recipe:
    """How `train_prune_export` trains: schedule, pruning, distillation.

    Attributes:
        epochs: training epochs (warm-up, ramp and hold included).
        learning_rate: peak SGD (Nesterov) learning rate, reached linearly
            over `lr_warmup_epochs`, then cosine decay to 0.
        weight_decay: SGD weight decay.
        lr_warmup_epochs: epochs of linear learning-rate warm-up.
        lr_rewind: from the first epoch that starts with the final masks,
            the learning rate goes back to its value at this fraction of
            training (before `warmup + ramp`) and decays to 0 by the end
            (`RewoundCosine`). None: the schedule runs on.
        warmup, ramp, importance: passed to `tfprune.TargetRatio`
            (`WARMUP`, 0.05, and `RAMP`, 0.2, by default).
        prune_options: more settings for `tfprune.TargetRatio`, by the
            names `PruningSchedule`, `Ranking` and `TargetRatio` take them
            (`{"seed": 1, "round_to": 8}`); its BatchNormalization
            re-estimation uses `train` unless `calibration_data` is given.
        teacher: a trained Keras model with the same inputs and logits to
            distil from (loss `(1 - distill_weight) * cross-entropy +
            distill_weight * T^2 * KL` at `T = distill_temperature`), or a
            name: `"initial"`, the model as the run starts (a trained
            model's own weights, free); `"unpruned"`, a copy of the model
            with new weights trained first without pruning by the same
            recipe in `out_dir/teacher/` (reused by a rerun); `"warmup"`,
            the network's own snapshot at the end of the warm-up
            (`tfprune.SnapshotTeacher`; weak after a short warm-up, see
            docs/results.md).
        mirror_teacher: distil from the teacher's logits averaged over
            each image and its left-right mirror image
            (`tfprune.distillation.mirror_averaged`; image models only).
        shrink_for_hold: once the masks are final, train the shrunk model
            (fewer MACs) for the hold epochs instead of the masked one (the
            optimizer restarts: same schedule, new momentum). Replaces
            `shrink_during_training`.
        shrink_during_training: train through `tfprune.fit`, which rebuilds
            the network without the channels that are off for good, in the
            ramp and at the start of the hold, carrying weights, optimizer
            state, schedule and callbacks (exact: the result is what the
            masked network computes). Used with ratio budgets and no
            teacher; otherwise the masked network trains to the end.
        callbacks: more Keras callbacks for training, e.g. the
            `tfprune.EpochShuffle` that ordered `train`.
        tflm_samples: validation examples run in the TFLite Micro
            interpreter (slow reference kernels); 0 skips it.
        calibration_samples: examples for int8 calibration.
        verbose: Keras `fit` verbosity.

    Examples:
        >>> Recipe(epochs=30)                   # from scratch, the paper's way
        >>> Recipe.fine_tune(epochs=5)          # a trained model
    """

    epochs: int = 30
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    lr_warmup_epochs: float = 1
    lr_rewind: float = None
    warmup: float = WARMUP
    ramp: float = RAMP
    importance: str = "scores"
    prune_options: dict = None
    teacher: object = None
    distill_temperature: float = 4.0
    distill_weight: float = 0.5
    mirror_teacher: bool = False
    shrink_for_hold: bool = False
    shrink_during_training: bool = True
    callbacks: tuple = ()
    tflm_samples: int = 200
    calibration_samples: int = 200
    verbose: object = "auto"

    @classmethod
    def fine_tune(cls, epochs=5, **changes):
        """The settings for a model that is already trained: no warm-up of
        the masks or of the learning rate, a peak learning rate of
        `FINE_TUNE_LEARNING_RATE` decaying to 0, and the ratio ramped over
        the first `TRAINED_MODEL_RAMP` (half) of the run, then held
        (`tfprune.TargetRatio.for_trained_model`). `changes` override any
        field."""
        settings = {"epochs": epochs, "learning_rate": FINE_TUNE_LEARNING_RATE,
                    "lr_warmup_epochs": 0, "warmup": 0.0,
                    "ramp": TRAINED_MODEL_RAMP}
        settings.update(changes)
        return cls(**settings)

    def hold_start(self):
        """The first (0-based) epoch that starts with the final masks."""
        return first_epoch_from(self.warmup + self.ramp, self.epochs)

    def check_rewind(self, pruning, target):
        """Validates `lr_rewind` against the budget and the schedule."""
        rewind = self.lr_rewind
        if rewind is None:
            return
        if not pruning:
            raise ValueError(
                "`lr_rewind` rewinds the learning rate for the hold of a "
                "pruned run; without a budget there is none. Received: "
                f"target={target!r}, lr_rewind={rewind!r}")
        check_fraction("lr_rewind", rewind)
        if rewind >= self.warmup + self.ramp:
            raise ValueError(
                "`lr_rewind` must be a fraction of training before the hold "
                f"(0 <= lr_rewind < warmup + ramp = "
                f"{self.warmup + self.ramp}). Received: lr_rewind={rewind!r}")
        if self.hold_start() >= self.epochs:
            raise ValueError(
                "`lr_rewind` needs hold epochs, and warmup + ramp = "
                f"{self.warmup + self.ramp} leaves none of the {self.epochs} "
                "epochs. Lower `ramp`.")


def steps_per_epoch(train):
    """The batches of an epoch of `train`; a ValueError when unknown or 0."""
    steps = int(train.cardinality())
    if steps == 0:
        raise ValueError("`train` is empty: it has no batches.")
    if steps < 0:
        raise ValueError(
            "`train` must have a known number of batches (it sets the "
            "learning-rate and pruning schedules); apply "
            "tf.data.experimental.assert_cardinality(n) to it.")
    return steps


def budget_of(target=0.94, metric="params", device=None):
    """`TargetRatio` keyword arguments for a budget; `{}` for none.

    `target` is a fraction of `metric` to remove (0: no pruning), or a
    dict `{metric: fraction}` to meet several at once; a
    `tfprune.DeviceBudget` replaces it (`target` is then ignored).
    """
    if device is not None:
        return {"device": device}
    if isinstance(target, dict):
        return {"ratio": dict(target)}
    return {"ratio": target, "metric": metric} if target > 0 else {}
