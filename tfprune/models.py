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

    Example:

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

    Example:

    >>> model = tfprune.models.small_cnn()
    >>> model.output_shape
    (None, 10)
    """
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
