"""The MLPerf Tiny (v1.x) reference networks: image classification
(ResNet-8), keyword spotting (DS-CNN), visual wake words (MobileNetV1,
alpha 0.25) and anomaly detection (a dense autoencoder). Parameter counts
are those of the benchmark's Keras models (convolutions keep their
biases)."""

import keras
from keras import layers

from tfprune.models.blocks import CIFAR10_MEAN, CIFAR10_STD
from tfprune.models.blocks import check_width, conv_bn, depthwise_bn_relu
from tfprune.models.blocks import pixel_normalization, scaled

MOBILENET_V1_PLAN = (  # (pointwise filters at alpha 1, depthwise stride)
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def resnet8_tiny(width=1.0, num_classes=10, input_shape=(32, 32, 3),
                 name="resnet8_tiny"):
    """ResNet-8 of the MLPerf Tiny image-classification benchmark (CIFAR-10).

    A 3x3 stem of 16 channels, then three stages of one residual block
    each (16, 32, 64 channels; stages 2 and 3 stride 2 with a strided 1x1
    convolution on the shortcut), each block conv3x3-BN-ReLU-conv3x3-BN,
    add, ReLU; global average pooling and one dense layer (logits). At
    `width=1` it has 78,666 parameters (the `Normalization` layer that
    scales the raw pixels holds none) and 12.5 M MACs.

    Args:
        width: channel width multiplier. Default 1.0.
        num_classes: number of output classes. Default 10.
        input_shape: `(height, width, 3)`, raw pixels 0-255.
        name: model name.

    Examples:
        >>> tfprune.models.resnet8_tiny().count_params()
        78666
    """
    check_width(width)
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = conv_bn(x, scaled(16, width), 3, name="stem", use_bias=True)
    for stage, channels in enumerate((16, 32, 64), start=1):
        channels = scaled(channels, width)
        strides = 1 if stage == 1 else 2
        prefix = f"stage{stage}"
        shortcut = x
        if strides != 1:
            shortcut = layers.Conv2D(channels, 1, strides=strides,
                                     name=f"{prefix}_proj_conv")(x)
        y = conv_bn(x, channels, 3, strides, name=f"{prefix}_1",
                    use_bias=True)
        y = conv_bn(y, channels, 3, name=f"{prefix}_2", activation=None,
                    use_bias=True)
        x = layers.Add(name=f"{prefix}_add")([shortcut, y])
        x = layers.ReLU(name=f"{prefix}_out")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def ds_cnn_tiny(width=1.0, num_classes=12, input_shape=(49, 10, 1),
                name="ds_cnn_tiny"):
    """DS-CNN of the MLPerf Tiny keyword-spotting benchmark.

    Input: 49 frames x 10 MFCC features (float, used as they are). A
    (10, 4) convolution of 64 channels with stride 2, BN, ReLU and
    dropout 0.2; four depthwise-separable blocks (3x3 depthwise, BN, ReLU,
    1x1 convolution of 64 channels, BN, ReLU); dropout 0.4, global average
    pooling and one dense layer (logits). At `width=1`: 24,908 parameters,
    2.66 M MACs.

    Args:
        width: channel width multiplier. Default 1.0.
        num_classes: number of output classes. Default 12.
        input_shape: `(frames, features, 1)`.
        name: model name.

    Examples:
        >>> tfprune.models.ds_cnn_tiny().count_params()
        24908
    """
    check_width(width)
    channels = scaled(64, width)
    inputs = keras.Input(input_shape, name="features")
    x = conv_bn(inputs, channels, (10, 4), strides=2, name="stem",
                use_bias=True)
    x = layers.Dropout(0.2, name="stem_dropout")(x)
    for block in range(1, 5):
        prefix = f"block{block}"
        x = depthwise_bn_relu(x, name=prefix)
        x = conv_bn(x, channels, 1, name=f"{prefix}_pw", use_bias=True)
    x = layers.Dropout(0.4, name="dropout")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def mobilenet_v1_tiny(width=1.0, alpha=0.25, num_classes=2,
                      input_shape=(96, 96, 3), name="mobilenet_v1_tiny"):
    """MobileNetV1 of the MLPerf Tiny visual-wake-words benchmark.

    A 3x3 stride-2 stem of `32 * alpha` channels, then 13 depthwise-
    separable blocks (3x3 depthwise, BN, ReLU, 1x1 convolution, BN, ReLU)
    of 64 to 1024 channels times `alpha`, global average pooling and one
    dense layer (logits). At `alpha=0.25`, `width=1`: 221,794 parameters
    and 7.49 M MACs on 96x96 images.

    Args:
        width: channel width multiplier, on top of `alpha`. Default 1.0.
        alpha: MobileNet's width multiplier. Default 0.25 (the benchmark).
        num_classes: number of output classes. Default 2 (person or not).
        input_shape: `(height, width, 3)`, raw pixels 0-255 (scaled to
            [-1, 1] inside the model).
        name: model name.

    Examples:
        >>> tfprune.models.mobilenet_v1_tiny().count_params()
        221794
    """
    check_width(width)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
            or alpha <= 0:
        raise ValueError(
            f"`alpha` must be a positive number. Received: alpha={alpha!r}")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = conv_bn(x, scaled(int(32 * alpha), width), 3, strides=2,
                name="stem", use_bias=True)
    for block, (filters, strides) in enumerate(MOBILENET_V1_PLAN, start=1):
        prefix = f"block{block}"
        x = depthwise_bn_relu(x, strides, name=prefix)
        x = conv_bn(x, scaled(int(filters * alpha), width), 1,
                    name=f"{prefix}_pw", use_bias=True)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def autoencoder_tiny(width=1.0, input_dim=640, name="autoencoder_tiny"):
    """The dense autoencoder of the MLPerf Tiny anomaly-detection benchmark.

    Input: `input_dim` log-mel features (5 frames x 128 bins, float).
    Four Dense(128)-BN-ReLU layers, a Dense(8)-BN-ReLU bottleneck, four
    Dense(128)-BN-ReLU layers and a linear Dense(`input_dim`) output (the
    reconstruction; the anomaly score is its error). At `width=1`:
    269,992 parameters, 264 k MACs.

    Args:
        width: multiplies the hidden and bottleneck units. Default 1.0.
        input_dim: features per example. Default 640.
        name: model name.

    Examples:
        >>> tfprune.models.autoencoder_tiny().count_params()
        269992
    """
    check_width(width)
    if isinstance(input_dim, bool) or not isinstance(input_dim, int) \
            or input_dim <= 0:
        raise ValueError(
            "`input_dim` must be a positive integer. "
            f"Received: input_dim={input_dim!r}")
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    units = [128] * 4 + [8] + [128] * 4
    for i, n in enumerate(units, start=1):
        x = layers.Dense(scaled(n, width), name=f"dense{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    outputs = layers.Dense(input_dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name=name)
