"""The MLPerf Tiny reference networks (issue 25): sizes, coverage, exact
shrinking, int8 files and TFLite Micro arenas within the reference files',
the whole flow (gate, fit to half the flash, shrink, export for TFLite
Micro) of each, and the anomaly-detection autoencoder through TFLite Micro
(whose arena search used to kill the process with a segmentation fault)."""

import functools

import keras
import numpy as np
import pytest

import tfprune
from conftest import randomize_bn, randomize_scores
from tfprune import convert
from tfprune.device import budgets, flash, latency
from tfprune.graph import ChannelGraph

# (builder, parameters, MACs at width 1) as the benchmark's models have them.
NETWORKS = {
    "ic": (tfprune.models.resnet8_tiny, 78_666, 12_501_632),
    "kws": (tfprune.models.ds_cnn_tiny, 24_908, 2_656_768),
    "vww": (tfprune.models.mobilenet_v1_tiny, 221_794, 7_489_664),
    "ad": (tfprune.models.autoencoder_tiny, 269_992, 264_192),
}
# The MLPerf Tiny v1.x reference int8 files: bytes and TFLite Micro arena
# (the 64-bit Python interpreter), as in benchmarks/mlperf_tiny_costs.py.
REFERENCE = {
    "ic": (98_496, 55_984),
    "kws": (53_936, 24_272),
    "vww": (333_288, 103_680),
    "ad": (276_976, 4_640),
}


def _inputs(model, n=4, seed=0):
    """Raw 0-255 pixels for image models, standard normal features else."""
    rng = np.random.default_rng(seed)
    shape = (n, *model.inputs[0].shape[1:])
    if model.inputs[0].name == "image":
        return rng.uniform(0, 255, shape).astype("float32")
    return rng.normal(size=shape).astype("float32")


@pytest.mark.parametrize("task", NETWORKS)
def test_reference_sizes(task):
    build, params, macs = NETWORKS[task]
    model = build()
    # Only the network's layers hold parameters: the Normalization
    # (ResNet-8) and Rescaling (MobileNetV1) layers that scale raw pixels
    # are given their constants and have no weights.
    assert model.count_params() == params
    assert all(layer.count_params() == 0 for layer in model.layers
               if isinstance(layer, (keras.layers.Normalization,
                                     keras.layers.Rescaling)))
    measured = tfprune.measure(model)
    assert measured["params"] == params and measured["macs"] == macs


def test_architecture_details():
    assert tfprune.models.resnet8_tiny().output_shape == (None, 10)
    assert tfprune.models.ds_cnn_tiny().output_shape == (None, 12)
    assert tfprune.models.mobilenet_v1_tiny().output_shape == (None, 2)
    assert tfprune.models.autoencoder_tiny().output_shape == (None, 640)
    assert tfprune.models.resnet8_tiny(width=0.5).get_layer(
        "stem_conv").filters == 8
    vww = tfprune.models.mobilenet_v1_tiny()
    assert vww.get_layer("stem_conv").filters == 8
    assert [vww.get_layer(f"block{b}_pw_conv").filters
            for b in range(1, 14)] == [16, 32, 32, 64, 64, 128, 128, 128,
                                       128, 128, 128, 256, 256]
    assert tfprune.models.autoencoder_tiny(width=0.5).get_layer(
        "dense5").units == 4


@pytest.mark.parametrize("build, kwargs, message", [
    (tfprune.models.resnet8_tiny, {"width": 0}, "Received: width=0"),
    (tfprune.models.ds_cnn_tiny, {"width": "1"}, "Received: width='1'"),
    (tfprune.models.mobilenet_v1_tiny, {"alpha": -1}, "Received: alpha=-1"),
    (tfprune.models.autoencoder_tiny, {"input_dim": 6.5},
     "Received: input_dim=6.5"),
])
def test_bad_arguments(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


@pytest.mark.parametrize("task", NETWORKS)
def test_pruning_reaches_every_layer(task):
    report = tfprune.coverage(NETWORKS[task][0]())
    assert report["params"] == 1.0 and report["macs"] == 1.0, report
    assert report["left_out"] == []


@pytest.mark.parametrize("metric", ["macs", "params"])
@pytest.mark.parametrize("task", NETWORKS)
def test_shrunk_model_computes_what_the_gated_one_does(task, metric):
    # Half the flash: test_the_flow_on_synthetic_data.
    build, params, macs = NETWORKS[task]
    model = build()
    randomize_bn(model)
    gated = tfprune.gate(model)
    randomize_scores(gated)
    removed = tfprune.prune_now(gated, 0.5, metric=metric)
    assert removed == pytest.approx(0.5, abs=0.01)
    small = tfprune.shrink(gated)
    full = {"macs": macs, "params": params}[metric]
    assert tfprune.measure(small)[metric] < 0.51 * full
    x = _inputs(model)
    expected = keras.ops.convert_to_numpy(gated(x, training=False))
    got = keras.ops.convert_to_numpy(small(x, training=False))
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


@pytest.mark.parametrize("task", ["kws", "ic"])
def test_gated_model_gives_features_as_the_original_does(task):
    # The gated model's layers are called in it alone, so get_layer(name)
    # .input/.output are its tensors (they once answered for the copy
    # `gate` replays, and the feature model failed: 'The name "mfcc" is
    # used 2 times in the model').
    model = NETWORKS[task][0]()
    randomize_bn(model)
    gated = tfprune.gate(model)
    classifier = gated.get_layer("classifier")
    assert len(classifier._inbound_nodes) == 1
    assert classifier.output is gated.outputs[0]
    features = keras.Model(gated.inputs, classifier.input)
    original = keras.Model(model.inputs,
                           model.get_layer("classifier").input)
    x = _inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(features([x], training=False)),
        keras.ops.convert_to_numpy(original([x], training=False)),
        rtol=1e-5, atol=1e-5)
    # They see the gates: pruned channels are zeros, the others are the
    # shrunk model's features.
    randomize_scores(gated)
    tfprune.prune_now(gated, 0.5, metric="macs")
    graph = ChannelGraph(gated)
    [segment] = graph.segments[id(classifier.input)]
    kept = np.arange(segment.size) % 3 > 0
    graph.groups[segment.group].gate.set_mask(kept.astype("float32"))
    small = tfprune.shrink(gated)
    pruned = keras.ops.convert_to_numpy(features([x], training=False))
    expected = keras.ops.convert_to_numpy(keras.Model(
        small.inputs, small.get_layer("classifier").input)([x]))
    assert np.all(pruned[:, ~kept] == 0)
    np.testing.assert_allclose(pruned[:, kept], expected, rtol=1e-4,
                               atol=1e-4)


@pytest.fixture(scope="module")
def autoencoder():
    keras.utils.set_random_seed(0)
    model = tfprune.models.autoencoder_tiny()
    x = _inputs(model, n=64)
    return model, x, tfprune.to_tflite(model, x)


def _runs_in_tflm(tflite, arena, x, outputs=640):
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(tflite, arena_size=arena)
    interpreter.set_input(convert.runtime._quantize(x[:1], interpreter.
                                            get_input_details(0)), 0)
    interpreter.invoke()
    return interpreter.get_output(0).shape == (1, outputs)


@functools.cache
def _unpruned_tflite(task):
    """The network's int8 file at width 1, converted as the benchmark does
    (`flash.converted`: the initial weights with a little noise)."""
    keras.utils.set_random_seed(0)
    return flash.converted(NETWORKS[task][0]())


def test_autoencoder_exports_for_mcu(autoencoder, tmp_path):
    model, x, _ = autoencoder
    report = tfprune.export(model, str(tmp_path / "ad"), target="mcu",
                            representative=x)
    tflite = (tmp_path / "ad" / "model.tflite").read_bytes()
    for arena in (report["arena_bytes_measured"], report["arena_bytes"]):
        assert _runs_in_tflm(tflite, arena, x)
    # One granule less does not run, and says so instead of crashing.
    with pytest.raises(convert.TFLMError,
                       match=f"autoencoder_tiny' does not run in TFLite "
                             f"Micro with a "
                             f"{report['arena_bytes_measured'] - 16:,}"):
        convert.run_tflite(tflite, x[:1], runtime="tflm",
                           arena_size=report["arena_bytes_measured"] - 16,
                           model_name=model.name)


@pytest.mark.parametrize("task", NETWORKS)
def test_unpruned_file_and_arena_fit_the_reference(task):
    # Dense layers quantized per tensor (the default), as in the reference
    # files (per channel, the autoencoder's arena grows from 4,640 bytes to
    # about 22 KB). The image networks' input Normalization (IC) and
    # Rescaling (VWW) keep their offset alone, their scale folded into the
    # stem (`convert.fold_input_scaling`): without it, one MUL and two
    # tensors more took IC's arena to 56,032 bytes, VWW's to 103,712.
    tflite = _unpruned_tflite(task)
    reference_bytes, reference_arena = REFERENCE[task]
    assert len(tflite) <= reference_bytes
    assert convert.tflm_arena_bytes(tflite) <= reference_arena
    assert "MUL" not in convert.model_ops(tflite)


@pytest.mark.parametrize("task", ["ic", "vww"])
def test_the_folded_input_scaling_computes_the_same(task):
    model = NETWORKS[task][0](width=0.25)
    randomize_bn(model)
    folded = convert.fold_input_scaling(model)
    assert folded is not model
    assert len(model.get_layer("stem_conv")._inbound_nodes) == 1
    x = _inputs(model)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = keras.ops.convert_to_numpy(folded(x, training=False))
    assert np.max(np.abs(got - expected)) <= 1e-5 * np.max(np.abs(expected))
    # A scaling that more than one layer reads is left as it is.
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    y = keras.layers.Conv2D(4, 3, padding="same")(x)
    two_readers = keras.Model(inputs, keras.layers.Add()(
        [y, keras.layers.Conv2D(4, 1)(x)]))
    assert convert.fold_input_scaling(two_readers) is two_readers


@pytest.mark.parametrize("task", NETWORKS)
def test_the_flow_on_synthetic_data(task, tmp_path):
    # gate, a few steps of `fit` pruning to half the flash, shrink, export
    # for TFLite Micro: 8 steps, 2 of warm-up, 4 of ramp, 2 of hold.
    keras.utils.set_random_seed(0)
    model = NETWORKS[task][0]()
    x = _inputs(model, n=32)
    if task == "ad":  # an autoencoder: the reconstruction error
        y, loss = x, "mse"
    else:
        y = np.random.default_rng(1).integers(0, model.output_shape[-1],
                                              len(x))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    gated = tfprune.gate(model)
    gated.compile(keras.optimizers.SGD(1e-3), loss)
    history = gated.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        tfprune.TargetRatio(
            0.5, metric="flash", calibration_data=x, calibration_steps=2,
            schedule=tfprune.PruningSchedule(warmup=0.25, ramp=0.5,
                                             update_every=1))])
    # Half the bytes the flash model predicts (tfprune/device/flash.py).
    assert history.history["pruned_flash"][-1] == pytest.approx(0.5,
                                                                abs=0.005)
    small = tfprune.shrink(gated)
    expected = keras.ops.convert_to_numpy(gated(x[:4], training=False))
    got = keras.ops.convert_to_numpy(small(x[:4], training=False))
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))
    report = tfprune.export(small, str(tmp_path / task), target="mcu",
                            representative=x)
    tflite = (tmp_path / task / "model.tflite").read_bytes()
    # The file: within a few bytes of the prediction.
    assert len(tflite) <= 0.505 * len(_unpruned_tflite(task))
    assert report["tflite_bytes"] == len(tflite)
    assert _runs_in_tflm(tflite, report["arena_bytes_measured"], x,
                         outputs=model.output_shape[-1])


def test_pruned_autoencoder_exports_for_mcu(autoencoder, tmp_path):
    model, x, _ = autoencoder
    gated = tfprune.gate(model)
    tfprune.prune_now(gated, 0.5, importance="l1")
    small = tfprune.shrink(gated)
    report = tfprune.export(small, str(tmp_path / "ad"), target="mcu",
                            representative=x,
                            evaluation=(x[:8], np.zeros(8, "int32")))
    assert 0 <= report["accuracy_int8_tflm"] <= 1
    tflite = (tmp_path / "ad" / "model.tflite").read_bytes()
    assert _runs_in_tflm(tflite, report["arena_bytes_measured"], x)


def test_flash_budget_on_the_autoencoder(autoencoder):
    model, x, full = autoencoder
    gated = tfprune.gate(model)
    tfprune.prune_now(gated, flash_bytes=len(full) // 2, importance="l1")
    sizes = budgets.device_sizes(gated)
    assert sizes["flash"] <= len(full) // 2
    tflite = tfprune.to_tflite(tfprune.shrink(gated), x)
    assert _runs_in_tflm(tflite, convert.tflm_arena_bytes(tflite), x)


def test_a_crashing_arena_is_an_error_not_a_dead_process(autoencoder):
    # TFLite Micro segfaults on this model when the tail allocation fails:
    # up to 448 bytes, and with Dense layers quantized per channel again
    # around 15-16 KB (their per-unit multipliers live in the tail).
    model, x, tflite = autoencoder
    per_channel = tfprune.to_tflite(model, x,
                                    dense_quantization="per_channel")
    for arena, file in ((256, tflite), (448, tflite), (256, per_channel),
                        (15_504, per_channel)):
        with pytest.raises(convert.TFLMError,
                           match=f"Model 'ad' does not run in TFLite Micro "
                                 f"with a {arena:,}-byte tensor arena"):
            convert.check_tflm_arena(file, arena, model_name="ad")
    with pytest.raises(convert.TFLMError, match=r"even with a 2,048-byte.*"
                                                r"larger `upper`"):
        convert.tflm_arena_bytes(tflite, upper=2048, model_name="ad")
    with pytest.raises(ValueError, match="Received: arena_size=0"):
        convert.check_tflm_arena(tflite, 0)


def test_timing_a_model_tflm_cannot_run_is_an_error(autoencoder,
                                                    monkeypatch):
    # TFLite Micro timing (profile_latency, the benchmarks) builds its
    # interpreter in this process: a model that does not run in its arena
    # is a TFLMError, not a dead process (448 bytes crash TFLite Micro).
    _, _, tflite = autoencoder
    monkeypatch.setattr(latency, "TFLM_ARENA", 448)
    with pytest.raises(tfprune.TFLMError,
                       match="does not run in TFLite Micro with a 448-byte"):
        latency.ready_invoke(tflite, "tflm")
    assert tfprune.TFLMError is convert.TFLMError
