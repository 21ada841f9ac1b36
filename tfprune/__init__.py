"""tfprune: structured pruning of Keras 3 models to an exact target ratio.

Examples:
    >>> import tfprune
    >>> model = tfprune.models.vgg16_cifar(width=0.25)
    >>> gated = tfprune.gate(model)
    >>> gated.compile("sgd", "sparse_categorical_crossentropy")
    >>> gated.fit(train, epochs=30, callbacks=[tfprune.TargetRatio(0.94)])
    >>> small = tfprune.shrink(gated)
    >>> tflite_bytes = tfprune.to_tflite(small, representative=x_val)
"""

from tfprune import firmware, models
from tfprune.callbacks import TargetRatio
from tfprune.convert import TFLMError, evaluate_tflite, to_tflite
from tfprune.cost import measure
from tfprune.coverage import coverage
from tfprune.data import EpochShuffle
from tfprune.deploy import ExportError, export
from tfprune.device.latency import LatencyTable
from tfprune.device.presets import Device, get_device, register_device
from tfprune.distillation import SnapshotTeacher, distillation_loss
from tfprune.gates import ChannelGate
from tfprune.gating import gate
from tfprune.options import DeviceBudget, PruningSchedule, Ranking
from tfprune.graph import GraphError
from tfprune.profiling import profile_latency
from tfprune.pruning import prune_now
from tfprune.rules import ChannelwiseRule, LayerRule, register_rule
from tfprune.saliency import gather_saliency
from tfprune.schedules import RewoundCosine
from tfprune.solver import BudgetError
from tfprune.surgery import shrink
from tfprune.training import fit

__version__ = "0.1.0"

__all__ = [
    "BudgetError", "ChannelGate", "ChannelwiseRule", "Device", "DeviceBudget",
    "EpochShuffle", "ExportError", "GraphError", "LatencyTable", "LayerRule",
    "PruningSchedule", "Ranking", "RewoundCosine",
    "SnapshotTeacher", "TFLMError", "TargetRatio", "coverage",
    "distillation_loss", "evaluate_tflite", "export", "firmware", "fit",
    "gate",
    "gather_saliency", "get_device", "measure", "models",
    "profile_latency", "prune_now", "register_device", "register_rule",
    "shrink", "to_tflite",
]
