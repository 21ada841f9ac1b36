"""Small networks for tests, examples and sensor data: a 2-D CNN and a
1-D conv net."""

import keras
from keras import layers

from tfprune.models.blocks import check_widths


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
    check_widths(widths)
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
    check_widths(widths)
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
