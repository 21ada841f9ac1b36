"""Latency budgets: a table fitted from timed int8 models, and
`latency_ms=` in prune_now and TargetRatio."""

import keras
import numpy as np
import pytest

import tfprune
from conftest import fit_with, gated_resnet, randomize_scores
from tfprune.device import latency


def simulated_device_ms(tflite_bytes, runtime="tflm", runs=5, repeats=5):
    """A deterministic stand-in for `latency.time_tflite`: a device whose
    time is 3 ms per million MACs + 0.02 ms per thousand elements written
    by the convolution and dense layers + 0.25 ms, read from the file's
    operators. (Real timings are noisy on a shared machine; the real
    check, against timed models, is benchmarks/device_costs.py.)"""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    macs = outputs = 0
    for op in interpreter._get_ops_details():
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        written = int(np.prod(shapes[op["outputs"][0]]))
        kernel = shapes[op["inputs"][1]]
        per_output = (kernel[1] * kernel[2] if name == "DEPTHWISE_CONV_2D"
                      else int(np.prod(kernel[1:])))
        macs += written * per_output
        outputs += written
    return 3.0 * macs / 1e6 + 0.02 * outputs / 1e3 + 0.25


def test_profiled_latency_predicts_other_pruned_models(monkeypatch):
    monkeypatch.setattr(latency, "time_tflite", simulated_device_ms)
    model = tfprune.models.resnet_cifar(8, width=0.5)
    table = tfprune.profile_latency(model, runtime="tflm",
                                    ratios=(0.0, 0.3, 0.6, 0.85), mixed=3)
    assert len(table.points) == 7
    # The device's own numbers come back: the table's MACs and output
    # counts are the ones the .tflite computes.
    assert table.ms_per_mmac == pytest.approx(3.0, rel=1e-3)
    assert table.ms_per_kelement == pytest.approx(0.02, rel=1e-3)
    assert table.ms_fixed == pytest.approx(0.25, rel=1e-3)
    gated = tfprune.gate(model)
    randomize_scores(gated, seed=5)  # other channels than the profile's
    tfprune.prune_now(gated, 0.5, metric="macs")
    small = tfprune.shrink(gated)
    measured = simulated_device_ms(tfprune.to_tflite(
        small, representative=np.zeros((2, 32, 32, 3), "float32")))
    assert table.predict_model(gated) == pytest.approx(measured, rel=1e-3)


def test_copies_litert_cannot_prepare_are_left_out_of_the_fit(monkeypatch):
    timed = latency.time_tflite
    calls = []

    def refuse_the_second(tflite_bytes, runtime, runs):
        calls.append(runtime)
        if len(calls) == 2:
            raise RuntimeError(
                "failed to create XNNPACK runtimeNode number 34 "
                "(TfLiteXNNPackDelegate) failed to prepare.")
        return timed(tflite_bytes, runtime, runs)

    monkeypatch.setattr(latency, "time_tflite", refuse_the_second)
    model = tfprune.models.resnet_cifar(8, width=0.5)
    with pytest.warns(UserWarning, match="could not prepare 1 of the 5"):
        table = tfprune.profile_latency(model, runtime="litert",
                                        ratios=(0.0, 0.3, 0.6), mixed=2,
                                        runs=5)
    assert len(table.points) == 4


def test_every_term_of_the_table_is_a_polynomial_of_the_widths():
    gated = gated_resnet()
    randomize_scores(gated, seed=2)
    tfprune.prune_now(gated, 0.6)
    table = tfprune.LatencyTable(ms_per_mmac=0.5, ms_per_kelement=0.2,
                                 ms_per_mparam=3.0, ms_per_kchannel=0.7,
                                 ms_fixed=0.1)
    small = tfprune.shrink(gated)
    counts = tfprune.measure(small)
    layers = [layer for layer in small.layers
              if isinstance(layer, (keras.layers.Conv2D,
                                    keras.layers.Dense))]
    channels = sum(layer.kernel.shape[-1] for layer in layers)
    outputs = sum(int(np.prod(layer.output.shape[1:])) for layer in layers)
    assert table.predict_model(gated) == pytest.approx(table.predict(
        counts["macs"], outputs, counts["params"], channels))


def test_a_weights_term_makes_params_count():
    gated = gated_resnet()
    counts = tfprune.measure(gated)
    table = tfprune.LatencyTable(ms_per_mmac=0.5, ms_per_mparam=3.0,
                                 ms_fixed=0.1)
    assert table.predict_model(gated) == pytest.approx(table.predict(
        counts["macs"], params=counts["params"]))
    tfprune.prune_now(gated, latency_ms=0.5 * table.predict_model(gated),
                      latency_table=table)
    assert table.predict_model(gated) <= 0.5 * table.predict(
        counts["macs"], params=counts["params"])


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
        device=tfprune.DeviceBudget(latency_ms=0.4 * full,
                                    latency_table=table)), examples=32)
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


@pytest.mark.parametrize("kwargs, message", [
    ({"ms_per_mmac": -1.0}, "Received: ms_per_mmac=-1.0"),
    ({"ms_per_mmac": 1.0, "ms_per_kelement": -0.1},
     "Received: ms_per_kelement=-0.1"),
    ({"ms_per_mmac": 1.0, "ms_per_mparam": float("nan")},
     "Received: ms_per_mparam=nan"),
    ({"ms_per_mmac": 1.0, "ms_per_kchannel": -2.0},
     "Received: ms_per_kchannel=-2.0"),
    ({"ms_per_mmac": 1.0, "ms_fixed": "0.1"}, "Received: ms_fixed='0.1'"),
])
def test_a_table_needs_non_negative_slopes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tfprune.LatencyTable(**kwargs)


def test_slopes_are_fitted_non_negative():
    # Time that does not fall with the MACs gets a zero slope, not a
    # negative one that would reward keeping channels.
    macs = np.array([4.0, 3.0, 2.0, 1.0])
    features = np.stack([macs, np.ones(4)], 1)
    coef = latency.fit_non_negative_slopes(
        features, np.array([0.13, 0.14, 0.135, 0.145]))
    assert coef[0] == 0 and coef[1] == pytest.approx(0.1375)
    coef = latency.fit_non_negative_slopes(features, 2 * macs + 1)
    np.testing.assert_allclose(coef, [2, 1], atol=1e-9)


def test_a_flat_table_says_pruning_cannot_help():
    gated = gated_resnet()
    flat = tfprune.LatencyTable(ms_per_mmac=0.0, ms_fixed=0.2)
    assert flat.flat and flat.predict_model(gated) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="already fits every budget"):
        tfprune.prune_now(gated, latency_ms=0.3, latency_table=flat)
    with pytest.raises(tfprune.BudgetError, match="below the table's fixed"):
        tfprune.prune_now(gated, latency_ms=0.1, latency_table=flat)


@pytest.mark.parametrize("config, message", [
    ([1.0, 0.2], r"must be a dict. Received: config=\[1.0, 0.2\]"),
    ({"ms_per_mmac": 1.0, "ms_per_gop": 2.0},
     r"Unknown latency table fields \['ms_per_gop'\]"),
])
def test_bad_latency_table_configs(config, message):
    with pytest.raises(ValueError, match=message):
        tfprune.LatencyTable.from_config(config)


@pytest.mark.parametrize("kwargs, message", [
    ({"mixed": -1}, "Received: mixed=-1"),
    ({"mixed": 2.5}, "Received: mixed=2.5"),
    ({"ratios": (0.0,), "mixed": 1}, "needs at least 3 profiled copies"),
    ({"runtime": "gpu"}, "Received: runtime='gpu'"),
])
def test_bad_profile_arguments(kwargs, message):
    model = tfprune.models.resnet_cifar(8, width=0.5)
    with pytest.raises(ValueError, match=message):
        tfprune.profile_latency(model, **kwargs)
