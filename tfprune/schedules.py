"""Learning-rate schedules for pruning runs."""

import math

import keras


@keras.saving.register_keras_serializable(package="tfprune")
class RewoundCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Learning-rate rewinding for the hold (Renda et al., 2020).

    Follows `schedule` until `at_step` (where the pruning masks become
    final); there the learning rate goes back to `schedule(to_step)`, the
    rate it had earlier in training, and decays from it to 0 at `end_step`
    along a cosine. The pruned network then trains at the rates that
    trained the unpruned one, instead of fine-tuning at the low end of the
    schedule.

    >>> base = keras.optimizers.schedules.CosineDecay(0.1, 3000)
    >>> schedule = RewoundCosine(base, at_step=2100, to_step=1500,
    ...                          end_step=3000)
    """

    def __init__(self, schedule, at_step, to_step, end_step):
        if not 0 <= to_step < at_step < end_step:
            raise ValueError(
                "RewoundCosine needs 0 <= to_step < at_step < end_step. "
                f"Received: to_step={to_step}, at_step={at_step}, "
                f"end_step={end_step}")
        self.schedule = schedule
        self.at_step = int(at_step)
        self.to_step = int(to_step)
        self.end_step = int(end_step)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        start = keras.ops.cast(self.schedule(self.to_step), "float32")
        done = keras.ops.clip((step - self.at_step) / (
            self.end_step - self.at_step), 0.0, 1.0)
        rewound = start * 0.5 * (1.0 + keras.ops.cos(math.pi * done))
        return keras.ops.where(step < self.at_step,
                               keras.ops.cast(self.schedule(step), "float32"),
                               rewound)

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(
                    self.schedule),
                "at_step": self.at_step, "to_step": self.to_step,
                "end_step": self.end_step}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(
            config["schedule"])
        return cls(**config)
