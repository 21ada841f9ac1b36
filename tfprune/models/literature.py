"""The networks of the pruning literature, for CIFAR-10: VGG-16-BN,
ResNet-20/56/..., MobileNetV2."""

import keras
from keras import layers

from tfprune.models.blocks import CIFAR10_MEAN, CIFAR10_STD
from tfprune.models.blocks import check_width, conv_bn
from tfprune.models.blocks import pixel_normalization, scaled

VGG16_PLAN = (
    (64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16_cifar(num_classes=10, width=1.0, input_shape=(32, 32, 3),
                dropout=0.0, name="vgg16_cifar"):
    """VGG-16 with BatchNormalization, as used in the pruning literature.

    13 3x3 convolutions (64-64-M-128-128-M-256x3-M-512x3-M-512x3-M), each
    followed by BatchNormalization and ReLU, then one dense classifier.
    The paper's VGG-16 on CIFAR-10 has 14.7 M parameters at `width=1`.

    Args:
        num_classes: number of output classes. Default 10.
        width: multiplies every layer's channel count (0.25 for CPU-scale
            runs). Default 1.0.
        input_shape: `(height, width, 3)`, raw pixels 0-255.
        dropout: dropout rate before the classifier. Default 0.
        name: model name.

    Examples:
        >>> model = tfprune.models.vgg16_cifar(width=0.25)
        >>> model.output_shape
        (None, 10)
    """
    check_width(width)
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    for b, block in enumerate(VGG16_PLAN, start=1):
        for i, channels in enumerate(block, start=1):
            x = layers.Conv2D(scaled(channels, width), 3, padding="same",
                              use_bias=False, name=f"block{b}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{i}")(x)
            x = layers.ReLU(name=f"block{b}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet_cifar(depth=20, num_classes=10, width=1.0,
                 input_shape=(32, 32, 3), name=None):
    """ResNet-20/32/44/56/110 for CIFAR (He et al. 2016, section 4.2).

    Three stages of `(depth - 2) / 6` basic blocks with 16, 32 and 64
    channels (times `width`), projection (1x1 conv) shortcuts where the
    shape changes, global average pooling and one dense classifier. The
    residual `Add`s couple every block's output channels in a stage, so
    `tfprune.gate` gives each stage's trunk one shared gate.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110).
        num_classes: number of output classes.
        width: channel width multiplier.
        input_shape: raw pixels 0-255.
        name: model name (default `resnet{depth}_cifar`).

    Examples:
        >>> tfprune.models.resnet_cifar(56).count_params()
        860026
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "`depth` must be 6n + 2 (20, 32, 44, 56, 110). "
            f"Received: depth={depth!r}")
    check_width(width)
    blocks = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = conv_bn(x, scaled(16, width), 3, name="stem")
    for stage, channels in enumerate((16, 32, 64), start=1):
        channels = scaled(channels, width)
        for block in range(1, blocks + 1):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            shortcut = x
            if strides != 1 or x.shape[-1] != channels:
                shortcut = conv_bn(x, channels, 1, strides,
                                   name=f"{prefix}_proj", activation=None)
            y = conv_bn(x, channels, 3, strides, name=f"{prefix}_1")
            y = conv_bn(y, channels, 3, name=f"{prefix}_2", activation=None)
            x = layers.Add(name=f"{prefix}_add")([shortcut, y])
            x = layers.ReLU(name=f"{prefix}_out")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{depth}_cifar")


def mobilenet_v2_cifar(num_classes=10, width=1.0, input_shape=(32, 32, 3),
                       name="mobilenet_v2_cifar"):
    """A MobileNetV2-style network for small images.

    Inverted residual blocks (1x1 expansion, 3x3 depthwise, 1x1 linear
    projection, residual `Add` where shapes match) with ReLU6, a
    squeeze-and-excitation `Multiply` in the last stage, and a 1x1 head.

    Args:
        num_classes: number of output classes.
        width: channel width multiplier.
        input_shape: raw pixels 0-255.
        name: model name.

    Examples:
        >>> tfprune.models.mobilenet_v2_cifar(width=0.5).output_shape
        (None, 10)
    """
    check_width(width)
    # (expansion, channels, blocks, first stride)
    plan = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2),
            (6, 96, 1, 1))
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = conv_bn(x, scaled(32, width), 3, name="stem", activation="relu6")
    for s, (expansion, channels, blocks, stride) in enumerate(plan, 1):
        channels = scaled(channels, width)
        for b in range(1, blocks + 1):
            prefix = f"s{s}b{b}"
            strides = stride if b == 1 else 1
            y = x
            if expansion != 1:
                y = conv_bn(y, x.shape[-1] * expansion, 1,
                            name=f"{prefix}_expand", activation="relu6")
            y = layers.DepthwiseConv2D(3, strides=strides, padding="same",
                                       use_bias=False,
                                       name=f"{prefix}_dw")(y)
            y = layers.BatchNormalization(name=f"{prefix}_dw_bn")(y)
            y = layers.Activation("relu6", name=f"{prefix}_dw_relu6")(y)
            if s == len(plan):  # squeeze-and-excitation
                se = layers.GlobalAveragePooling2D(name=f"{prefix}_se_pool")(y)
                se = layers.Dense(max(1, y.shape[-1] // 4), activation="relu",
                                  name=f"{prefix}_se_reduce")(se)
                se = layers.Dense(y.shape[-1], activation="sigmoid",
                                  name=f"{prefix}_se_expand")(se)
                se = layers.Reshape((1, 1, y.shape[-1]),
                                    name=f"{prefix}_se_reshape")(se)
                y = layers.Multiply(name=f"{prefix}_se_scale")([y, se])
            y = conv_bn(y, channels, 1, name=f"{prefix}_project",
                        activation=None)
            if strides == 1 and x.shape[-1] == channels:
                y = layers.Add(name=f"{prefix}_add")([x, y])
            x = y
    x = conv_bn(x, scaled(320, width), 1, name="head", activation="relu6")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)
