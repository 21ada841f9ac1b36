"""Latency budgets: a model's int8 inference time from its MACs, outputs
and weights.

A `LatencyTable` predicts

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
so a `latency_ms=` budget is solved like any other.

`tfprune.profile_latency(model)` (`tfprune/profiling.py`) fits a table to
pruned copies of the model timed on this host, with `time_tflite` and
`fit_non_negative_slopes` below. A table measured on a phone or a board is
the same numbers: `LatencyTable(ms_per_mmac=2.1, ms_fixed=0.4,
runtime="my Cortex-M7")`, or `LatencyTable.from_config(json.load(f))` (the
recipes' `--latency_table`).

>>> table = tfprune.profile_latency(model, runtime="tflm")
>>> tfprune.prune_now(gated, latency_ms=4.0, latency_table=table)
"""

import dataclasses
import itertools
import time

import numpy as np

from tfprune import convert
from tfprune import cost
from tfprune import polynomial
from tfprune import rules
from tfprune.graph import ChannelGraph

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
        graph = ChannelGraph(model)
        return self.polynomial(graph)(cost.group_widths(graph))


def output_polynomial(graph, per_position=True):
    """Elements written by the convolution and dense layers (batch 1), as a
    polynomial of `graph`'s widths; with `per_position=False`, their
    output channels."""
    poly = polynomial.Polynomial(len(graph.groups))
    for call in graph.calls:
        if call.kind == rules.PRODUCER or type(
                call.layer).__name__.startswith("DepthwiseConv"):
            positions = int(np.prod(call.outputs[0].shape[1:-1])) \
                if per_position else 1
            poly.add(polynomial.as_terms(polynomial.scale(
                polynomial.linear(graph.output_width(call)), positions)))
    return poly


TFLM_ARENA = 16 * 1024 * 1024  # the arena of the interpreters timed


def ready_invoke(tflite_bytes, runtime="tflm"):
    """An interpreter of `runtime` for `tflite_bytes` (one thread), its
    input set to zeros: returns its `invoke`, ready to time.

    Raises:
        TFLMError: `runtime="tflm"` and the model does not run in TFLite
            Micro with a `TFLM_ARENA`-byte arena (tried in a child process
            first: a failing TFLite Micro can kill the process instead of
            raising).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"Unknown runtime. Expected one of {RUNTIMES}. "
                         f"Received: runtime={runtime!r}")
    convert.check_tflite(tflite_bytes)
    if runtime == "tflm":
        from tflite_micro.python.tflite_micro import runtime as tflm

        convert.check_tflm_arena(tflite_bytes, TFLM_ARENA)
        interpreter = tflm.Interpreter.from_bytes(
            tflite_bytes, arena_size=TFLM_ARENA)
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
