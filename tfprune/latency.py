"""Latency budgets: a model's int8 inference time from its MACs, outputs
and weights.

`profile_latency(model)` prunes copies of the model to several MACs
ratios (random channels) and to random per-layer widths, converts each to
int8, times it in a runtime on this host (processor time of one thread, the
fastest of several timings, so that other work on the machine counts as
little as it can) and fits

    ms = ms_per_mmac * MACs / 1e6 + ms_per_kelement * outputs / 1e3
         + ms_per_mparam * params / 1e6 + ms_per_kchannel * channels / 1e3
         + ms_fixed

where `outputs` counts the elements the convolution and dense layers write
(each one is requantized, which costs time of its own: thin layers over
large images are slower per MAC), `params` the weights read once per
inference (on a fast CPU a batch-1 inference of a large model waits on
memory for them: LiteRT's time for VGG-16 follows its parameters more than
its MACs) and `channels` the output channels of those layers (work per
channel whatever the image size: the per-channel quantization, the loop
over channel tiles; it is what makes a heavily pruned model's time fall
less than its parameters). All four are polynomials of the kept widths,
so a `latency_ms=` budget is solved like any other. The fit minimizes the
relative error (a budget is a fraction of the time) and its slopes are
non-negative: where a runtime's time does not fall with the widths (fixed
costs dominate), the table says so and predicts a constant, and a budget
below it cannot be met. The copies with random per-layer widths matter:
uniform pruning alone moves the counts together, and a model pruned mostly
in its late, low-resolution layers (as learned rankings do) writes more
outputs per MAC. A table
measured on a phone or a board is the same numbers:
`LatencyTable(ms_per_mmac=2.1, ms_fixed=0.4, runtime="my Cortex-M7")`, or
`LatencyTable.from_config(json.load(f))` (the recipes' `--latency_table`).

>>> table = tfprune.profile_latency(model, runtime="tflm")
>>> tfprune.prune_now(gated, latency_ms=4.0, latency_table=table)
"""

import dataclasses
import itertools
import time
import warnings

import numpy as np

RUNTIMES = ("tflm", "litert")


@dataclasses.dataclass(frozen=True)
class LatencyTable:
    """One inference takes `ms_per_mmac * MACs / 1e6 + ms_per_kelement *
    outputs / 1e3 + ms_per_mparam * params / 1e6 + ms_fixed` ms.

    Attributes:
        ms_per_mmac: milliseconds per million multiply-accumulates.
        ms_fixed: milliseconds that pruning channels does not remove.
        ms_per_kelement: milliseconds per thousand output elements of the
            convolution and dense layers.
        runtime: where it was measured (free text for your own tables).
        ms_per_mparam: milliseconds per million parameters (weights read).
        ms_per_kchannel: milliseconds per thousand output channels of the
            convolution and dense layers.
        points: the `(macs, outputs, params, channels, ms)` measurements
            it was fitted to.
    """

    ms_per_mmac: float
    ms_fixed: float = 0.0
    ms_per_kelement: float = 0.0
    ms_per_mparam: float = 0.0
    runtime: str = ""
    ms_per_kchannel: float = 0.0
    points: tuple = ()

    def __post_init__(self):
        for name in ("ms_per_mmac", "ms_per_kelement", "ms_per_mparam",
                     "ms_per_kchannel"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not value >= 0:
                raise ValueError(
                    f"`{name}` must be a number >= 0 (time that pruning "
                    f"removes). Received: {name}={value!r}")
        if isinstance(self.ms_fixed, bool) or not isinstance(
                self.ms_fixed, (int, float)):
            raise ValueError("`ms_fixed` must be a number. Received: "
                             f"ms_fixed={self.ms_fixed!r}")

    def get_config(self):
        """The table as plain JSON-able data (`from_config` reads it)."""
        config = dataclasses.asdict(self)
        config["points"] = [list(point) for point in self.points]
        return config

    @classmethod
    def from_config(cls, config):
        """A table from `get_config()`'s dict (e.g. a JSON file measured
        on a device)."""
        if not isinstance(config, dict):
            raise ValueError("A latency table's config must be a dict. "
                             f"Received: config={config!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ValueError(
                f"Unknown latency table fields {unknown}; expected some of "
                f"{sorted(fields)}. Received: config={config!r}")
        config = dict(config)
        config["points"] = tuple(tuple(p) for p in config.get("points", ()))
        return cls(**config)

    @property
    def flat(self):
        """True when nothing in the table falls with the widths."""
        return self.ms_per_mmac == 0 and self.ms_per_kelement == 0 and \
            self.ms_per_mparam == 0 and self.ms_per_kchannel == 0

    def predict(self, macs, outputs=0, params=0, channels=0):
        """Milliseconds for a model of `macs` multiply-accumulates whose
        convolution and dense layers write `outputs` elements in `channels`
        channels and which has `params` parameters."""
        return self.ms_per_mmac * macs / 1e6 + \
            self.ms_per_kelement * outputs / 1e3 + \
            self.ms_per_mparam * params / 1e6 + \
            self.ms_per_kchannel * channels / 1e3 + self.ms_fixed

    def polynomial(self, graph):
        """The predicted milliseconds as a polynomial of `graph`'s widths."""
        from tfprune import cost, polynomial

        macs = cost.cost_polynomial(graph, "macs")
        poly = polynomial.Polynomial(macs.num_groups)
        poly.add(macs.terms, self.ms_per_mmac / 1e6)
        poly.add(output_polynomial(graph).terms, self.ms_per_kelement / 1e3)
        poly.add(cost.cost_polynomial(graph, "params").terms,
                 self.ms_per_mparam / 1e6)
        poly.add(output_polynomial(graph, per_position=False).terms,
                 self.ms_per_kchannel / 1e3)
        poly.add({(polynomial.CONSTANT, polynomial.CONSTANT): self.ms_fixed})
        return poly

    def predict_model(self, model):
        """Milliseconds predicted for `model` (gated or not)."""
        from tfprune import cost
        from tfprune.graph import ChannelGraph

        graph = ChannelGraph(model)
        return self.polynomial(graph)(cost.group_widths(graph))


def output_polynomial(graph, per_position=True):
    """Elements written by the convolution and dense layers (batch 1), as a
    polynomial of `graph`'s widths; with `per_position=False`, their
    output channels."""
    from tfprune import polynomial, rules

    poly = polynomial.Polynomial(len(graph.groups))
    for call in graph.calls:
        if call.kind == rules.PRODUCER or type(
                call.layer).__name__.startswith("DepthwiseConv"):
            positions = int(np.prod(call.outputs[0].shape[1:-1])) \
                if per_position else 1
            poly.add(polynomial.as_terms(polynomial.scale(
                polynomial.linear(graph.output_width(call)), positions)))
    return poly


def ready_invoke(tflite_bytes, runtime="tflm"):
    """An interpreter of `runtime` for `tflite_bytes` (one thread), its
    input set to zeros: returns its `invoke`, ready to time."""
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
    return interpreter.invoke


def time_tflite(tflite_bytes, runtime="tflm", runs=5, repeats=5):
    """Milliseconds of one int8 inference (batch 1, one thread), in
    processor time of this process: the fastest of `repeats` timings of
    `runs` invocations each (other work on the machine only adds time,
    through shared caches, so the fastest is the least disturbed)."""
    invoke = ready_invoke(tflite_bytes, runtime)
    invoke()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(runs):
            invoke()
        times.append((time.process_time() - start) / runs)
    return 1000 * min(times)


def profile_latency(model, runtime="tflm",
                    ratios=(0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95), mixed=5,
                    runs=None, seed=0):
    """Measures `model`'s int8 latency at several widths; fits a table.

    Args:
        model: an unpruned functional or Sequential model.
        runtime: `"tflm"` (TFLite Micro, reference kernels, as on an MCU
            without CMSIS-NN) or `"litert"` (one thread).
        ratios: fractions of the MACs removed (random channels) in the
            profiled copies; 0 is the model itself.
        mixed: further copies where each layer keeps a random 10-100% of
            its channels.
        runs: invocations per timing. Default: 5 for TFLM, 200 for LiteRT.
        seed: the random channel choice.

    Returns:
        A `LatencyTable`; it warns when the latency does not fall with the
        widths on this runtime (the table then predicts a constant).
    """
    from tfprune import convert, cost, gating, pruning, surgery
    from tfprune.graph import ChannelGraph

    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime. Expected one of {RUNTIMES}. "
                         f"Received: runtime={runtime!r}")
    if isinstance(mixed, bool) or not isinstance(mixed, int) or mixed < 0:
        raise ValueError("`mixed` must be a whole number >= 0. Received: "
                         f"mixed={mixed!r}")
    if len(ratios) + mixed < 3:
        raise ValueError(
            "Fitting a table needs at least 3 profiled copies. Received: "
            f"ratios={ratios!r}, mixed={mixed!r}")
    runs = runs or (5 if runtime == "tflm" else 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = gating.gate(model)
    graph = ChannelGraph(gated)
    rng = np.random.default_rng(seed)
    shape = [4] + [1 if d is None else d for d in model.inputs[0].shape[1:]]
    sample = rng.uniform(0, 1, shape).astype("float32")

    def random_widths():
        for group in graph.groups:
            size = group.gate.channels
            kept = max(1, round(size * rng.uniform(0.1, 1.0)))
            mask = np.zeros(size, "float32")
            mask[rng.choice(size, kept, replace=False)] = 1
            group.gate.set_mask(mask)

    output_poly = output_polynomial(graph)
    channel_poly = output_polynomial(graph, per_position=False)
    points, skipped = [], 0
    for step in [("ratio", r) for r in ratios] + [("mixed", None)] * mixed:
        kind, ratio = step
        if kind == "mixed":
            random_widths()
        elif ratio > 0:
            pruning.prune_now(gated, ratio, metric="macs",
                              importance="random")
        else:
            for group in graph.groups:
                group.gate.set_mask(np.ones(group.gate.channels, "float32"))
        small = surgery.shrink(gated)
        try:
            ms = time_tflite(convert.to_tflite(
                small, representative=sample), runtime, runs)
        except RuntimeError as error:
            # XNNPACK refuses a layer whose int8 range collapsed on the
            # random sample (a thin random copy can have one): not timed.
            if not convert.is_xnnpack_refusal(error):
                raise
            skipped += 1
            continue
        widths = cost.group_widths(graph)
        outputs, channels = output_poly(widths), channel_poly(widths)
        counts = cost.measure(small)
        points.append((counts["macs"], outputs, counts["params"], channels,
                       ms))
    if skipped:
        warnings.warn(
            f"LiteRT's XNNPACK delegate could not prepare {skipped} of the "
            f"{skipped + len(points)} profiled copies (a layer whose int8 "
            "range collapsed on the random calibration sample); the table "
            f"is fitted on the other {len(points)}.", stacklevel=2)
    if len(points) < 3:
        raise RuntimeError(
            f"Only {len(points)} profiled copies could be timed on "
            f"{runtime}; a table needs 3. Profile with more `mixed` copies "
            "or ratios closer to 0.")
    macs, outputs, params, channels, ms = np.array(points, dtype=float).T
    features = np.stack([macs / 1e6, outputs / 1e3, params / 1e6,
                         channels / 1e3, np.ones_like(ms)], 1)
    # Relative error: each row divided by its time.
    coef = fit_non_negative_slopes(features / ms[:, None], np.ones_like(ms))
    table = LatencyTable(
        ms_per_mmac=float(coef[0]), ms_per_kelement=float(coef[1]),
        ms_per_mparam=float(coef[2]), ms_per_kchannel=float(coef[3]),
        ms_fixed=float(coef[4]), runtime=runtime, points=tuple(
            (int(m), int(o), int(p), int(c), float(t))
            for m, o, p, c, t in points))
    if table.flat:
        warnings.warn(
            f"On {runtime} this model's latency does not fall with its "
            f"widths (measured {', '.join(f'{t:.3f}' for t in ms)} ms from "
            f"{macs.max():,.0f} to {macs.min():,.0f} MACs): fixed costs "
            f"dominate, and the table predicts {table.ms_fixed:.3f} ms for "
            "any width; pruning cannot meet a smaller latency budget there.",
            stacklevel=2)
    return table


def fit_non_negative_slopes(features, target):
    """Least squares `features @ coef ~ target` where every coefficient but
    the last (the intercept) is >= 0: the best fit over the subsets of
    slopes left free (few features: every subset is tried)."""
    slopes = features.shape[1] - 1
    best = None
    for count in range(slopes + 1):
        for free in itertools.combinations(range(slopes), count):
            columns = [*free, slopes]
            solution = np.linalg.lstsq(features[:, columns], target,
                                       rcond=None)[0]
            if np.any(solution[:-1] < 0):
                continue
            residual = float(np.sum(
                (features[:, columns] @ solution - target) ** 2))
            if best is None or residual < best[0]:
                coef = np.zeros(slopes + 1)
                coef[columns] = solution
                best = (residual, coef)
    return best[1]
