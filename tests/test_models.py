"""Reference architectures: sizes and argument checks."""

import pytest

import tfprune


def test_reference_sizes():
    # ResNet-20 / 56 / 110 of He et al. have 0.27 M / 0.85 M / 1.7 M
    # parameters (these use 1x1 projection shortcuts).
    assert tfprune.models.resnet_cifar(20).count_params() == 274_042
    assert tfprune.models.resnet_cifar(56).count_params() == 860_026
    assert tfprune.models.vgg16_cifar().count_params() == 14_732_490
    assert tfprune.models.mobilenet_v2_cifar(width=0.5).output_shape == (
        None, 10)
    assert tfprune.models.conv1d_kws().output_shape == (None, 12)


def test_width_multiplier():
    small = tfprune.models.vgg16_cifar(width=0.25)
    assert small.get_layer("block5_conv3").filters == 128
    assert tfprune.models.resnet_cifar(20, width=0.5).get_layer(
        "stem_conv").filters == 8


@pytest.mark.parametrize("width", [0, -1, "1"])
def test_bad_width(width):
    with pytest.raises(ValueError, match=r"Received: width="):
        tfprune.models.vgg16_cifar(width=width)


@pytest.mark.parametrize("depth", [21, 4, "56"])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match=r"6n \+ 2.*Received: depth="):
        tfprune.models.resnet_cifar(depth)


@pytest.mark.parametrize("build, kwargs, message", [
    (tfprune.models.small_cnn, {"widths": (8, 0)}, "Received: widths="),
    (tfprune.models.small_cnn, {"widths": ()}, "Received: widths="),
    (tfprune.models.small_cnn, {"pixel_max": 0}, "Received: pixel_max=0"),
    (tfprune.models.conv1d_kws, {"widths": (8, 8)}, "3 stages"),
    (tfprune.models.mobilenet_v2_cifar, {"width": -1}, "Received: width=-1"),
])
def test_bad_model_arguments(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)
