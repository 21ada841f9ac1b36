"""Flash budgets: the int8 .tflite size predicted from the widths, and
`flash_bytes=` in prune_now and TargetRatio."""

import keras
import numpy as np
import pytest

import tfprune
from conftest import randomize_scores
from tfprune import flash, polynomial
from tfprune.graph import ChannelGraph


def _gated_resnet():
    return tfprune.gate(tfprune.models.resnet_cifar(8, width=0.5))


def test_predicted_bytes_match_the_converted_file():
    gated = _gated_resnet()
    poly = flash.flash_polynomial(ChannelGraph(gated))  # calibrated at full
    randomize_scores(gated)
    for ratio in (0.4, 0.8):
        tfprune.prune_now(gated, ratio)
        graph = ChannelGraph(gated)
        predicted = poly([g.gate.kept_channels() for g in graph.groups])
        measured = flash.measured_bytes(tfprune.shrink(gated))
        assert abs(predicted / measured - 1) <= 0.02


def test_prune_now_fits_a_flash_budget_tightly():
    gated = _gated_resnet()
    randomize_scores(gated)
    full = flash.measured_bytes(tfprune.shrink(gated))
    budget = int(0.4 * full)
    removed = tfprune.prune_now(gated, flash_bytes=budget)
    real = flash.measured_bytes(tfprune.shrink(gated))
    assert real <= budget
    assert real >= 0.97 * budget  # tight: the solver fills the budget
    assert 0.55 < removed < 0.65


def test_target_ratio_with_a_flash_budget():
    gated = _gated_resnet()
    gated.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    x = np.random.default_rng(0).uniform(0, 255, (64, 32, 32, 3)).astype(
        "float32")
    y = np.random.default_rng(1).integers(0, 10, 64)
    budget = 20_000
    callback = tfprune.TargetRatio(flash_bytes=budget)
    history = gated.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[callback])
    assert "pruned_flash" in history.history
    assert flash.measured_bytes(tfprune.shrink(gated)) <= budget
    assert callback.get_config()["flash_bytes"] == budget


@pytest.mark.parametrize("kwargs, message", [
    ({"ratio": 1.5, "flash_bytes": 1000}, "Received: ratio=1.5"),
    ({"flash_bytes": -5}, r"positive number. Received: flash_bytes=-5"),
    ({"flash_bytes": 10**9}, r"already fits every budget \(it uses 0% of "
                             r"the flash budget\)"),
])
def test_bad_flash_budgets(kwargs, message):
    gated = _gated_resnet()
    with pytest.raises(ValueError, match=message):
        tfprune.prune_now(gated, **kwargs)


def test_polynomial_sees_coefficients_added_after_a_call():
    poly = polynomial.Polynomial(1)
    poly.add({(0, polynomial.CONSTANT): 2.0})
    assert poly([3]) == 6.0
    poly.add({(0, polynomial.CONSTANT): 1.0})  # same key, new coefficient
    assert poly([3]) == 9.0
