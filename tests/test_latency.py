"""Latency budgets: a table fitted from timed int8 models, and
`latency_ms=` in prune_now and TargetRatio."""

import numpy as np
import pytest

import tfprune
from conftest import fit_with, gated_resnet, randomize_scores
from tfprune import latency


def test_profiled_tflm_latency_predicts_other_pruned_models():
    model = tfprune.models.resnet_cifar(8, width=0.5)
    table = tfprune.profile_latency(model, runtime="tflm",
                                    ratios=(0.0, 0.3, 0.6, 0.85))
    assert table.ms_per_mmac > 0 and table.ms_per_kelement >= 0
    assert len(table.points) == 4
    gated = tfprune.gate(model)
    randomize_scores(gated, seed=5)  # other channels than the profile's
    tfprune.prune_now(gated, 0.5, metric="macs")
    small = tfprune.shrink(gated)
    measured = latency.time_tflite(tfprune.to_tflite(
        small, representative=np.zeros((2, 32, 32, 3), "float32")))
    assert abs(table.predict_model(gated) / measured - 1) <= 0.2


def test_prune_now_meets_a_latency_budget_by_the_table():
    gated = gated_resnet()
    randomize_scores(gated)
    table = tfprune.LatencyTable(ms_per_mmac=1.0, ms_fixed=0.5)
    full = table.predict(tfprune.measure(gated)["macs"])
    tfprune.prune_now(gated, latency_ms=0.5 * full, latency_table=table)
    predicted = table.predict(tfprune.measure(gated)["macs"])
    assert 0.47 * full <= predicted <= 0.5 * full


def test_target_ratio_with_a_latency_budget():
    gated = gated_resnet()
    table = tfprune.LatencyTable(ms_per_mmac=2.0, ms_fixed=0.1)
    full = table.predict(tfprune.measure(gated)["macs"])
    history = fit_with(gated, tfprune.TargetRatio(
        latency_ms=0.4 * full, latency_table=table), examples=32)
    assert "pruned_latency" in history
    assert table.predict(tfprune.measure(gated)["macs"]) <= 0.4 * full


@pytest.mark.parametrize("kwargs, error, message", [
    ({"latency_ms": 1.0}, ValueError, "`latency_ms` needs `latency_table`"),
    ({"latency_ms": 0.05, "latency_table": tfprune.LatencyTable(1.0, 0.1)},
     tfprune.BudgetError, "below the table's fixed cost"),
    ({"latency_ms": -1.0}, ValueError, "Received: latency_ms=-1.0"),
])
def test_bad_latency_budgets(kwargs, error, message):
    gated = gated_resnet()
    with pytest.raises(error, match=message):
        tfprune.prune_now(gated, **kwargs)


def test_a_table_needs_a_positive_slope():
    with pytest.raises(ValueError, match="Received: ms_per_mmac=0"):
        tfprune.LatencyTable(ms_per_mmac=0)
