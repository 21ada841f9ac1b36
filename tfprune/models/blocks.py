"""Building blocks of the reference networks: width checks and scaling,
input normalization, convolution + BatchNormalization blocks."""

from keras import layers

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def check_width(width):
    """Raises ValueError unless `width` is a positive number."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) \
            or width <= 0:
        raise ValueError(
            f"`width` must be a positive number. Received: width={width!r}")


def check_widths(widths):
    """Raises ValueError unless `widths` are positive integers."""
    if not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w > 0
            for w in widths):
        raise ValueError(
            "`widths` must be a non-empty sequence of positive integers. "
            f"Received: widths={widths!r}")


def scaled(channels, width):
    """`channels * width`, rounded, at least 1."""
    return max(1, int(round(channels * width)))


def pixel_normalization(mean, std, name="normalize"):
    """A layer mapping raw 0-255 pixels to `(x / 255 - mean) / std`."""
    return layers.Normalization(
        mean=[255.0 * m for m in mean],
        variance=[(255.0 * s) ** 2 for s in std],
        name=name,
    )


def conv_bn(x, filters, kernel, strides=1, name=None, activation="relu",
            use_bias=False):
    """Conv2D + BatchNormalization (+ activation). MLPerf Tiny's models
    keep the convolutions' biases (`use_bias=True`)."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same",
                      use_bias=use_bias, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def depthwise_bn_relu(x, strides=1, name=None):
    """DepthwiseConv2D 3x3 + BatchNormalization + ReLU."""
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same",
                               name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    return layers.ReLU(name=f"{name}_dw_relu")(x)
