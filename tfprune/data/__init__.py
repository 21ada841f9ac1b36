"""Input data: what users give tfprune, and the pipelines the recipes train on.

- `examples`: arrays, `tf.data` datasets and generator functions checked
  against a model and iterated one example at a time (calibration and
  evaluation data);
- `shuffle`: `EpochShuffle`, an order that a resumed run sees again;
- `pipelines`: batched float32 training and evaluation datasets;
- `cifar`: CIFAR-10 from tfds or a folder of TFRecord shards, and its
  augmentation.

Examples:
    >>> train, val = tfprune.data.cifar10_pipelines("cifar10_records/")
    >>> for x, y in tfprune.data.iterate_examples((x_val, y_val), model):
    ...     pass
"""

from tfprune.data.cifar import augment_cifar
from tfprune.data.cifar import augment_cifar_batch
from tfprune.data.cifar import cifar10_pipelines
from tfprune.data.cifar import cifar10_splits
from tfprune.data.cifar import image_folder_splits
from tfprune.data.examples import check_data
from tfprune.data.examples import check_same_length
from tfprune.data.examples import iterate_examples
from tfprune.data.examples import representative_dataset
from tfprune.data.pipelines import eval_pipeline
from tfprune.data.pipelines import training_pipeline
from tfprune.data.pipelines import without_autotuning
from tfprune.data.shuffle import EpochShuffle

__all__ = [
    "EpochShuffle", "augment_cifar", "augment_cifar_batch", "check_data",
    "check_same_length", "cifar10_pipelines", "cifar10_splits",
    "eval_pipeline", "image_folder_splits", "iterate_examples",
    "representative_dataset", "training_pipeline", "without_autotuning",
]
