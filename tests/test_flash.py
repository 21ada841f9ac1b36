"""Flash budgets: the int8 .tflite size predicted from the widths, and
`flash_bytes=` in prune_now and TargetRatio."""

import pytest

import tfprune
from conftest import fit_with, gated_resnet, randomize_scores
from tfprune import polynomial
from tfprune.device import flash
from tfprune.graph import ChannelGraph


def test_predicted_bytes_match_the_converted_file():
    gated = gated_resnet()
    poly = flash.flash_polynomial(ChannelGraph(gated))  # calibrated at full
    randomize_scores(gated)
    for ratio in (0.4, 0.8):
        tfprune.prune_now(gated, ratio)
        graph = ChannelGraph(gated)
        predicted = poly([g.gate.kept_channels() for g in graph.groups])
        measured = flash.measured_bytes(tfprune.shrink(gated))
        assert abs(predicted / measured - 1) <= 0.02


def test_prediction_counts_dense_quantization_per_tensor():
    # The autoencoder is Dense layers alone: counted with per-channel
    # scales (24 bytes per unit), the prediction at 40% would be ~6% off.
    gated = tfprune.gate(tfprune.models.autoencoder_tiny(width=0.5))
    graph = ChannelGraph(gated)
    poly = flash.flash_polynomial(graph)
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.4)
    widths = [g.gate.kept_channels() for g in graph.groups]
    measured = flash.measured_bytes(tfprune.shrink(gated))
    assert abs(poly(widths) / measured - 1) <= 0.005
    per_channel = flash.width_polynomial(graph, "per_channel")
    per_tensor = flash.width_polynomial(graph, "per_tensor")
    # 24 bytes per unit of every Dense layer, the 640-unit output too.
    assert per_channel(widths) - per_tensor(widths) == 24 * (sum(widths)
                                                            + 640)


def test_prune_now_fits_a_flash_budget_tightly():
    gated = gated_resnet()
    randomize_scores(gated)
    full = flash.measured_bytes(tfprune.shrink(gated))
    budget = int(0.4 * full)
    removed = tfprune.prune_now(gated, flash_bytes=budget)
    real = flash.measured_bytes(tfprune.shrink(gated))
    assert real <= budget
    assert real >= 0.97 * budget  # tight: the solver fills the budget
    assert 0.55 < removed < 0.65


def test_target_ratio_with_a_flash_budget():
    gated = gated_resnet()
    budget = 20_000
    callback = tfprune.TargetRatio(
        device=tfprune.DeviceBudget(flash_bytes=budget))
    history = fit_with(gated, callback)
    assert "pruned_flash" in history
    assert flash.measured_bytes(tfprune.shrink(gated)) <= budget
    assert callback.get_config()["device"]["flash_bytes"] == budget


@pytest.mark.parametrize("kwargs, message", [
    ({"ratio": 1.5, "flash_bytes": 1000}, "Received: ratio=1.5"),
    ({"flash_bytes": -5}, r"positive number. Received: flash_bytes=-5"),
    ({"flash_bytes": 10**9}, r"already fits every budget \(it uses 0% of "
                             r"the flash budget\)"),
])
def test_bad_flash_budgets(kwargs, message):
    gated = gated_resnet()
    with pytest.raises(ValueError, match=message):
        tfprune.prune_now(gated, **kwargs)


def test_polynomial_sees_coefficients_added_after_a_call():
    poly = polynomial.Polynomial(1)
    poly.add({(0, polynomial.CONSTANT): 2.0})
    assert poly([3]) == 6.0
    poly.add({(0, polynomial.CONSTANT): 1.0})  # same key, new coefficient
    assert poly([3]) == 9.0


def test_flash_and_arena_models_share_one_conversion(monkeypatch):
    calls = []
    real = flash.converted
    monkeypatch.setattr(flash, "converted",
                        lambda model, seed=0: calls.append(1) or real(model))
    gated = gated_resnet()
    plan = tfprune.pruning.BudgetPlan(
        gated, limits={"flash": 10_000, "arena": 10_000})
    # The full model (arena) and one pruned copy (both calibrate on it).
    assert len(calls) == 2
    probe = flash.distinct_widths(plan.sizes)
    assert plan.cost.costs["flash"](probe) == len(
        flash.converted_at_widths(plan.graph, probe))
    assert len(calls) == 2  # cached
    masks = [g.gate.mask.numpy() for g in plan.graph.groups]
    assert all(m.all() for m in masks)  # the user's masks are untouched
