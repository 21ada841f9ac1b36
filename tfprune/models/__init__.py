"""Reference architectures, with input preprocessing inside the model.

Every image model takes raw pixel values (0-255, as a camera gives them)
and scales them itself, so the exported TFLite model needs no host-side
normalization. Every builder takes a `width` multiplier (or `widths`);
the classifiers return logits, the autoencoder its reconstruction.

- `literature`: the pruning literature's CIFAR-10 networks;
- `mlperf_tiny`: the four MLPerf Tiny reference networks;
- `small`: small networks for tests, examples and sensor data;
- `blocks`: what they are built from.

Examples:
    >>> model = tfprune.models.vgg16_cifar(width=0.25)
    >>> tfprune.models.resnet8_tiny().count_params()
    78666
"""

from tfprune.models.blocks import CIFAR10_MEAN, CIFAR10_STD
from tfprune.models.blocks import pixel_normalization
from tfprune.models.literature import VGG16_PLAN
from tfprune.models.literature import mobilenet_v2_cifar
from tfprune.models.literature import resnet_cifar
from tfprune.models.literature import vgg16_cifar
from tfprune.models.mlperf_tiny import MOBILENET_V1_PLAN
from tfprune.models.mlperf_tiny import autoencoder_tiny
from tfprune.models.mlperf_tiny import ds_cnn_tiny
from tfprune.models.mlperf_tiny import mobilenet_v1_tiny
from tfprune.models.mlperf_tiny import resnet8_tiny
from tfprune.models.small import conv1d_kws
from tfprune.models.small import small_cnn

__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD", "MOBILENET_V1_PLAN", "VGG16_PLAN",
    "autoencoder_tiny", "conv1d_kws", "ds_cnn_tiny", "mobilenet_v1_tiny",
    "mobilenet_v2_cifar", "pixel_normalization", "resnet8_tiny",
    "resnet_cifar", "small_cnn", "vgg16_cifar",
]
