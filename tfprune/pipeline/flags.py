"""The absl flags of a training run, shared by `recipes/cifar10.py` and
the accuracy harness (`benchmarks/accuracy.py`), defined once here.

>>> from tfprune.pipeline import flags as run_flags
>>> run_flags.define_training_flags(width=0.25, epochs=30)
"""

from absl import flags

MODELS = ("mobilenet_v2", "resnet20", "resnet56", "resnet8", "vgg16")


def define_training_flags(width=1.0, epochs=None, data_dir=None):
    """Defines the flags every training run takes: the model, the budget's
    metric and device limits, the schedule, distillation, the data. The
    arguments are the defaults that differ between the scripts."""
    _model_flags(width)
    _budget_flags()
    _schedule_flags(epochs)
    _data_flags(data_dir)


def _model_flags(width):
    flags.DEFINE_enum("model", "vgg16", MODELS, "Architecture (resnet8: "
                      "MLPerf Tiny's image classifier).")
    flags.DEFINE_float("width", width, "Channel width multiplier.")
    flags.DEFINE_string(
        "init_from", None, "Start from this trained .keras model with the "
        "fine-tune recipe (tfprune.pipeline.Recipe.fine_tune: no warm-ups, "
        "peak learning rate 0.02, ramp 0.5) instead of training from "
        "scratch.")
    flags.DEFINE_enum("precision", "float32",
                      ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Keras dtype policy for training (mixed_float16 on "
                      "GPUs); the int8 export converts a float32 copy. CPUs "
                      "without AVX-512 emulate 16-bit math: much slower.")


def _budget_flags():
    flags.DEFINE_enum("metric", "params", ["params", "macs", "channels"],
                      "What the target counts.")
    flags.DEFINE_integer("flash_bytes", 0, "Instead of the target: the "
                         "largest int8 .tflite in bytes (0: no limit).")
    flags.DEFINE_integer("arena_bytes", 0, "Instead of the target: the "
                         "largest TFLite Micro tensor arena in bytes (0: no "
                         "limit).")


def _schedule_flags(epochs):
    flags.DEFINE_integer("epochs", epochs, "Training epochs (default 30; "
                         "with --init_from 5).")
    flags.DEFINE_float("warmup", None, "Fraction of training before pruning "
                       "(default 0.05; with --init_from 0).")
    flags.DEFINE_float("ramp", None, "Fraction of training ramping the ratio "
                       "(0: one-shot pruning, then fine-tuning; default 0.2, "
                       "with --init_from 0.5).")
    flags.DEFINE_float("learning_rate", None, "Peak SGD learning rate "
                       "(default 0.1 after a linear warm-up over the first "
                       "epoch; with --init_from 0.02 at once), then cosine "
                       "decay to 0.")
    flags.DEFINE_float("lr_rewind", None,
                       "Learning-rate rewinding: when the masks become "
                       "final, the learning rate goes back to its value at "
                       "this fraction of training and decays to 0 again.")
    flags.DEFINE_bool("shrink_for_hold", False,
                      "Train the shrunk model (not the masked one) once the "
                      "masks are final.")
    flags.DEFINE_bool("shrink_during_training", True,
                      "Rebuild the network without its settled channels "
                      "during training (tfprune.fit); "
                      "--noshrink_during_training trains the masked network "
                      "to the end.")
    flags.DEFINE_string(
        "teacher", None, "Distil while pruning: a trained .keras model (same "
        "input, logits; its own training is not counted in --epochs), "
        "'initial' for the --init_from model itself (free), 'warmup' for "
        "the network's own snapshot at the end of the warm-up (weak after a "
        "short warm-up), or (recipe only) 'unpruned' to train the unpruned "
        "model first by the same recipe.")


def _data_flags(data_dir):
    flags.DEFINE_string("data_dir", data_dir,
                        "TFRecord folder, or tensorflow_datasets data_dir.")
    flags.DEFINE_integer("val_size", 5000, "Training examples held out.")
    flags.DEFINE_integer("batch_size", 128, "Batch size.")
    flags.DEFINE_integer("train_limit", 0, "Use only this many training "
                         "examples (0: all; for smoke tests).")
    flags.DEFINE_integer("tflm_samples", 200, "Validation examples run in "
                         "the TFLite Micro interpreter (0: skip).")
    flags.DEFINE_integer("seed", 0, "Random seed.")
