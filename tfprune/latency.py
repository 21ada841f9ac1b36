"""Latency budgets: a model's int8 inference time from its MACs and outputs.

`profile_latency(model)` prunes copies of the model to several MACs
ratios (random channels), converts each to int8, times it in a runtime on
this host (processor time of one thread, so that other work on the machine
does not count) and fits

    ms = ms_per_mmac * MACs / 1e6 + ms_per_kelement * outputs / 1e3
         + ms_fixed

where `outputs` counts the elements the convolution and dense layers write
(each one is requantized, which costs time of its own: thin layers over
large images are slower per MAC). Both counts are polynomials of the kept
widths, so a `latency_ms=` budget is solved like any other. A table
measured on a phone or a board is the same numbers:
`LatencyTable(ms_per_mmac=2.1, ms_fixed=0.4, runtime="my Cortex-M7")`.

>>> table = tfprune.profile_latency(model, runtime="tflm")
>>> tfprune.prune_now(gated, latency_ms=4.0, latency_table=table)
"""

import dataclasses
import statistics
import time
import warnings

import numpy as np

RUNTIMES = ("tflm", "litert")


@dataclasses.dataclass(frozen=True)
class LatencyTable:
    """One inference takes `ms_per_mmac * MACs / 1e6 + ms_per_kelement *
    outputs / 1e3 + ms_fixed` ms.

    Attributes:
        ms_per_mmac: milliseconds per million multiply-accumulates.
        ms_fixed: milliseconds that pruning channels does not remove.
        ms_per_kelement: milliseconds per thousand output elements of the
            convolution and dense layers.
        runtime: where it was measured (free text for your own tables).
        points: the `(macs, outputs, ms)` measurements it was fitted to.
    """

    ms_per_mmac: float
    ms_fixed: float = 0.0
    ms_per_kelement: float = 0.0
    runtime: str = ""
    points: tuple = ()

    def __post_init__(self):
        if isinstance(self.ms_per_mmac, bool) or not isinstance(
                self.ms_per_mmac, (int, float)) or not self.ms_per_mmac > 0:
            raise ValueError(
                "`ms_per_mmac` must be a positive number. Received: "
                f"ms_per_mmac={self.ms_per_mmac!r}")

    def predict(self, macs, outputs=0):
        """Milliseconds for a model of `macs` multiply-accumulates whose
        convolution and dense layers write `outputs` elements."""
        return self.ms_per_mmac * macs / 1e6 + \
            self.ms_per_kelement * outputs / 1e3 + self.ms_fixed

    def polynomial(self, graph):
        """The predicted milliseconds as a polynomial of `graph`'s widths."""
        from tfprune import cost, polynomial

        macs = cost.cost_polynomial(graph, "macs")
        poly = polynomial.Polynomial(macs.num_groups)
        poly.add(macs.terms, self.ms_per_mmac / 1e6)
        poly.add(output_polynomial(graph).terms, self.ms_per_kelement / 1e3)
        poly.add({(polynomial.CONSTANT, polynomial.CONSTANT): self.ms_fixed})
        return poly

    def predict_model(self, model):
        """Milliseconds predicted for `model` (gated or not)."""
        from tfprune import cost
        from tfprune.graph import ChannelGraph

        graph = ChannelGraph(model)
        return self.polynomial(graph)(cost.group_widths(graph))


def output_polynomial(graph):
    """Elements written by the convolution and dense layers (batch 1), as a
    polynomial of `graph`'s widths."""
    from tfprune import polynomial, rules

    poly = polynomial.Polynomial(len(graph.groups))
    for call in graph.calls:
        if call.kind == rules.PRODUCER or type(
                call.layer).__name__.startswith("DepthwiseConv"):
            positions = int(np.prod(call.outputs[0].shape[1:-1]))
            poly.add(polynomial.as_terms(polynomial.scale(
                polynomial.linear(graph.output_width(call)), positions)))
    return poly


def time_tflite(tflite_bytes, runtime="tflm", runs=5, repeats=5):
    """Median milliseconds of one int8 inference (batch 1, one thread), in
    processor time of this process."""
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime. Expected one of {RUNTIMES}. "
                         f"Received: runtime={runtime!r}")
    if runtime == "tflm":
        from tflite_micro.python.tflite_micro import runtime as tflm

        interpreter = tflm.Interpreter.from_bytes(
            tflite_bytes, arena_size=16 * 1024 * 1024)
        detail = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=tflite_bytes, num_threads=1)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(
            detail["shape"], detail["dtype"]))
    interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(runs):
            interpreter.invoke()
        times.append((time.process_time() - start) / runs)
    return 1000 * statistics.median(times)


def profile_latency(model, runtime="tflm", ratios=(0.0, 0.2, 0.4, 0.6, 0.8),
                    runs=None, seed=0):
    """Measures `model`'s int8 latency at several widths; fits a table.

    Args:
        model: an unpruned functional or Sequential model.
        runtime: `"tflm"` (TFLite Micro, reference kernels, as on an MCU
            without CMSIS-NN) or `"litert"` (one thread).
        ratios: fractions of the MACs removed (random channels) in the
            profiled copies; 0 is the model itself.
        runs: invocations per timing. Default: 5 for TFLM, 200 for LiteRT.
        seed: the random channel choice.

    Returns:
        A `LatencyTable`.

    Raises:
        ValueError: latency does not fall with the MACs on this runtime (a
            latency budget could not be met by pruning).
    """
    from tfprune import convert, cost, gating, pruning, surgery

    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime. Expected one of {RUNTIMES}. "
                         f"Received: runtime={runtime!r}")
    runs = runs or (5 if runtime == "tflm" else 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = gating.gate(model)
    rng = np.random.default_rng(seed)
    shape = [4] + [1 if d is None else d for d in model.inputs[0].shape[1:]]
    sample = rng.uniform(0, 1, shape).astype("float32")
    from tfprune.graph import ChannelGraph

    points = []
    for ratio in ratios:
        if ratio > 0:
            pruning.prune_now(gated, ratio, metric="macs",
                              importance="random")
        small = surgery.shrink(gated) if ratio > 0 else model
        ms = time_tflite(convert.to_tflite(small, representative=sample),
                         runtime, runs)
        graph = ChannelGraph(gated)  # all open at ratio 0
        outputs = output_polynomial(graph)(cost.group_widths(graph))
        points.append((cost.measure(small)["macs"], outputs, ms))
    macs, outputs, ms = np.array(points, dtype=float).T
    features = np.stack([macs / 1e6, outputs / 1e3, np.ones_like(ms)], 1)
    coef = np.linalg.lstsq(features, ms, rcond=None)[0]
    if coef[1] < 0:  # outputs explain nothing here: MACs alone
        coef = np.array([*np.polyfit(macs / 1e6, ms, 1)])[[0, 1]]
        coef = np.array([coef[0], 0.0, coef[1]])
    if coef[0] <= 0:
        raise ValueError(
            f"On {runtime} this model's latency does not fall with its MACs "
            f"(measured {', '.join(f'{t:.3f}' for t in ms)} ms from "
            f"{macs[0]:,.0f} to {macs[-1]:,.0f} MACs): fixed costs dominate, "
            "and pruning cannot meet a latency budget there.")
    return LatencyTable(float(coef[0]), float(coef[2]), float(coef[1]),
                        runtime, tuple((int(m), int(o), float(t))
                                       for m, o, t in points))
