"""Reference architectures, with input preprocessing inside the model.

Every model takes raw pixel values (0-255, as a camera gives them) and
scales them itself, so the exported TFLite model needs no host-side
normalization.
"""

import keras
from keras import layers

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

VGG16_PLAN = (
    (64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _check_width(width):
    if isinstance(width, bool) or not isinstance(width, (int, float)) \
            or width <= 0:
        raise ValueError(
            f"`width` must be a positive number. Received: width={width!r}")


def _check_widths(widths):
    if not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0
            for w in widths):
        raise ValueError(
            "`widths` must be a non-empty sequence of positive integers. "
            f"Received: widths={widths!r}")


def _scaled(channels, width):
    return max(1, int(round(channels * width)))


def pixel_normalization(mean, std, name="normalize"):
    """A layer mapping raw 0-255 pixels to `(x / 255 - mean) / std`."""
    return layers.Normalization(
        mean=[255.0 * m for m in mean],
        variance=[(255.0 * s) ** 2 for s in std],
        name=name,
    )


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
    _check_width(width)
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    for b, block in enumerate(VGG16_PLAN, start=1):
        for i, channels in enumerate(block, start=1):
            x = layers.Conv2D(_scaled(channels, width), 3, padding="same",
                              use_bias=False, name=f"block{b}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{i}")(x)
            x = layers.ReLU(name=f"block{b}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def small_cnn(input_shape=(8, 8, 1), num_classes=10, widths=(32, 64),
              dense_units=64, pixel_max=16.0, name="small_cnn"):
    """A small Conv-BN-ReLU network for tiny images (e.g. 8x8 digits).

    Args:
        input_shape: `(height, width, channels)` of raw pixel values.
        num_classes: number of output classes.
        widths: channels of each 3x3 convolution; a 2x2 max-pool follows
            every convolution but the first.
        dense_units: units of the hidden dense layer (0 for none).
        pixel_max: the largest raw pixel value (16 for scikit-learn digits,
            255 for 8-bit images); the model divides by it.
        name: model name.

    Examples:
        >>> model = tfprune.models.small_cnn()
        >>> model.output_shape
        (None, 10)
    """
    _check_widths(widths)
    if isinstance(pixel_max, bool) or not isinstance(pixel_max, (int, float)) \
            or pixel_max <= 0:
        raise ValueError(
            "`pixel_max` must be a positive number. "
            f"Received: pixel_max={pixel_max!r}")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / pixel_max, name="rescale")(inputs)
    for i, channels in enumerate(widths, start=1):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if i > 1:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="fc")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn(x, filters, kernel, strides=1, name=None, activation="relu",
             use_bias=False):
    """Conv2D + BatchNormalization (+ activation). MLPerf Tiny's models
    keep the convolutions' biases (`use_bias=True`)."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same",
                      use_bias=use_bias, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


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
    _check_width(width)
    blocks = (depth - 2) // 6
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = _conv_bn(x, _scaled(16, width), 3, name="stem")
    for stage, channels in enumerate((16, 32, 64), start=1):
        channels = _scaled(channels, width)
        for block in range(1, blocks + 1):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            shortcut = x
            if strides != 1 or x.shape[-1] != channels:
                shortcut = _conv_bn(x, channels, 1, strides,
                                    name=f"{prefix}_proj", activation=None)
            y = _conv_bn(x, channels, 3, strides, name=f"{prefix}_1")
            y = _conv_bn(y, channels, 3, name=f"{prefix}_2", activation=None)
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
    _check_width(width)
    # (expansion, channels, blocks, first stride)
    plan = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2),
            (6, 96, 1, 1))
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = _conv_bn(x, _scaled(32, width), 3, name="stem", activation="relu6")
    for s, (expansion, channels, blocks, stride) in enumerate(plan, 1):
        channels = _scaled(channels, width)
        for b in range(1, blocks + 1):
            prefix = f"s{s}b{b}"
            strides = stride if b == 1 else 1
            y = x
            if expansion != 1:
                y = _conv_bn(y, x.shape[-1] * expansion, 1,
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
            y = _conv_bn(y, channels, 1, name=f"{prefix}_project",
                         activation=None)
            if strides == 1 and x.shape[-1] == channels:
                y = layers.Add(name=f"{prefix}_add")([x, y])
            x = y
    x = _conv_bn(x, _scaled(320, width), 1, name="head", activation="relu6")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def conv1d_kws(input_shape=(49, 10), num_classes=12, widths=(32, 48, 64),
               name="conv1d_kws"):
    """A small 1-D conv net for sensor or keyword-spotting features.

    Input: `(time steps, features)`, e.g. 49 frames x 10 MFCCs or 128
    accelerometer samples x 3 axes. Conv1D-BN-ReLU blocks with a
    separable convolution, a concatenation of two receptive fields,
    global pooling and a dense classifier.

    Args:
        input_shape: `(time, features)`.
        num_classes: number of output classes.
        widths: channels of the three stages.
        name: model name.

    Examples:
        >>> tfprune.models.conv1d_kws().output_shape
        (None, 12)
    """
    _check_widths(widths)
    if len(widths) != 3:
        raise ValueError(
            f"`widths` holds the channels of 3 stages. Received: "
            f"widths={widths!r}")
    inputs = keras.Input(input_shape, name="features")
    x = layers.Conv1D(widths[0], 3, padding="same", use_bias=False,
                      name="conv1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu1")(x)
    short = layers.Conv1D(widths[1] // 2, 3, padding="same",
                          activation="relu", name="branch_short")(x)
    long = layers.Conv1D(widths[1] // 2, 7, padding="same",
                         activation="relu", name="branch_long")(x)
    x = layers.Concatenate(name="concat")([short, long])
    x = layers.MaxPooling1D(2, name="pool1")(x)
    x = layers.SeparableConv1D(widths[2], 3, padding="same", use_bias=False,
                               name="sep")(x)
    x = layers.BatchNormalization(name="bn_sep")(x)
    x = layers.ReLU(name="relu_sep")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    x = layers.Dropout(0.1, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


# MLPerf Tiny (v1.x) reference networks: image classification (ResNet-8),
# keyword spotting (DS-CNN), visual wake words (MobileNetV1, alpha 0.25)
# and anomaly detection (a dense autoencoder). Parameter counts are those
# of the benchmark's Keras models (convolutions keep their biases).

MOBILENET_V1_PLAN = (  # (pointwise filters at alpha 1, depthwise stride)
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _depthwise_bn_relu(x, strides=1, name=None):
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same",
                               name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    return layers.ReLU(name=f"{name}_dw_relu")(x)


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
    _check_width(width)
    inputs = keras.Input(input_shape, name="image")
    x = pixel_normalization(CIFAR10_MEAN, CIFAR10_STD)(inputs)
    x = _conv_bn(x, _scaled(16, width), 3, name="stem", use_bias=True)
    for stage, channels in enumerate((16, 32, 64), start=1):
        channels = _scaled(channels, width)
        strides = 1 if stage == 1 else 2
        prefix = f"stage{stage}"
        shortcut = x
        if strides != 1:
            shortcut = layers.Conv2D(channels, 1, strides=strides,
                                     name=f"{prefix}_proj_conv")(x)
        y = _conv_bn(x, channels, 3, strides, name=f"{prefix}_1",
                     use_bias=True)
        y = _conv_bn(y, channels, 3, name=f"{prefix}_2", activation=None,
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
    _check_width(width)
    channels = _scaled(64, width)
    inputs = keras.Input(input_shape, name="features")
    x = _conv_bn(inputs, channels, (10, 4), strides=2, name="stem",
                 use_bias=True)
    x = layers.Dropout(0.2, name="stem_dropout")(x)
    for block in range(1, 5):
        prefix = f"block{block}"
        x = _depthwise_bn_relu(x, name=prefix)
        x = _conv_bn(x, channels, 1, name=f"{prefix}_pw", use_bias=True)
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
    _check_width(width)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
            or alpha <= 0:
        raise ValueError(
            f"`alpha` must be a positive number. Received: alpha={alpha!r}")
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn(x, _scaled(int(32 * alpha), width), 3, strides=2,
                 name="stem", use_bias=True)
    for block, (filters, strides) in enumerate(MOBILENET_V1_PLAN, start=1):
        prefix = f"block{block}"
        x = _depthwise_bn_relu(x, strides, name=prefix)
        x = _conv_bn(x, _scaled(int(filters * alpha), width), 1,
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
    _check_width(width)
    if isinstance(input_dim, bool) or not isinstance(input_dim, int) \
            or input_dim <= 0:
        raise ValueError(
            "`input_dim` must be a positive integer. "
            f"Received: input_dim={input_dim!r}")
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    units = [128] * 4 + [8] + [128] * 4
    for i, n in enumerate(units, start=1):
        x = layers.Dense(_scaled(n, width), name=f"dense{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
    outputs = layers.Dense(input_dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name=name)
