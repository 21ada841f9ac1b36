"""One call from a model to a pruned, shrunk, int8-converted one.

`train_prune_export` is what the recipe scripts run. `Recipe` holds how it
trains (`Recipe()` from scratch, `Recipe.fine_tune()` from a trained
model); `PruneRun` carries one run through its steps, each a short method:
the learning-rate schedule, the pruning callback, the teacher, the
training (masked, then shrunk for the hold if asked), the export and the
report.

- `write_atomically` (from `tfprune.files`), no half-written file on failure;
- `epochs`: `EpochTimer`, `StopAfterEpoch`;
- `flags`: the absl flags of a training run (the recipe's and the harness');
- `recipe`: `Recipe`, its schedules and `budget_of`;
- `run`: `PruneRun`, `train_prune_export`, `print_summary`.

>>> from tfprune.pipeline import Recipe, train_prune_export
>>> trained = keras.models.load_model("trained.keras")
>>> report = train_prune_export(trained, train, val, "runs/ft",
...                             target=0.5, metric="macs",
...                             recipe=Recipe.fine_tune(epochs=5))
"""

from tfprune.pipeline.epochs import EpochTimer, StopAfterEpoch
from tfprune.files import write_atomically, write_bytes
from tfprune.pipeline.recipe import FINE_TUNE_LEARNING_RATE, RAMP, WARMUP
from tfprune.pipeline.recipe import Recipe, budget_of, first_epoch_from
from tfprune.pipeline.recipe import learning_rate_schedule, steps_per_epoch
from tfprune.pipeline.run import PruneRun, keras_accuracy, layer_widths
from tfprune.pipeline.run import print_summary, train_prune_export

__all__ = [
    "FINE_TUNE_LEARNING_RATE", "RAMP", "WARMUP", "EpochTimer", "PruneRun",
    "Recipe", "StopAfterEpoch", "budget_of", "first_epoch_from",
    "keras_accuracy", "layer_widths", "learning_rate_schedule",
    "print_summary", "steps_per_epoch", "train_prune_export",
    "write_atomically", "write_bytes",
]
