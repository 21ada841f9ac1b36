"""`profile_latency(model)`: a `LatencyTable` fitted to timed int8 copies.

It prunes copies of the model to several MACs ratios (random channels)
and to random per-layer widths, converts each to int8, times it in a
runtime on this host (processor time of one thread, the fastest of several
timings, so that other work on the machine counts as little as it can) and
fits the table's slopes (see `tfprune/device/latency.py`). The fit
minimizes the relative error (a budget is a fraction of the time) and its
slopes are non-negative: where a runtime's time does not fall with the
widths (fixed costs dominate), the table says so and predicts a constant,
and a budget below it cannot be met. The copies with random per-layer
widths matter: uniform pruning alone moves the counts together, and a
model pruned mostly in its late, low-resolution layers (as learned
rankings do) writes more outputs per MAC.

It sits in the pruning layer, above `tfprune.device`: it gates, prunes,
shrinks and converts the model it profiles.

>>> table = tfprune.profile_latency(model, runtime="tflm")
>>> tfprune.prune_now(gated, latency_ms=4.0, latency_table=table)
"""

import warnings

import numpy as np

from tfprune import convert
from tfprune import cost
from tfprune import gating
from tfprune import pruning
from tfprune import surgery
from tfprune.device import latency
from tfprune.graph import ChannelGraph


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
    _check_arguments(runtime, ratios, mixed)
    runs = runs or (5 if runtime == "tflm" else 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gated = gating.gate(model)
    graph = ChannelGraph(gated)
    per_channel = (latency.output_polynomial(graph),
                   latency.output_polynomial(graph, per_position=False))
    rng = np.random.default_rng(seed)
    shape = [4] + [1 if d is None else d for d in model.inputs[0].shape[1:]]
    sample = rng.uniform(0, 1, shape).astype("float32")
    points, skipped = [], 0
    for ratio in list(ratios) + [None] * mixed:
        _set_widths(gated, graph, ratio, rng)
        point = _timed_point(gated, graph, per_channel, sample, runtime,
                             runs)
        if point is None:
            skipped += 1
        else:
            points.append(point)
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
    table = _fitted_table(points, runtime)
    if table.flat:
        ms = [point[-1] for point in points]
        warnings.warn(
            f"On {runtime} this model's latency does not fall with its "
            f"widths (measured {', '.join(f'{t:.3f}' for t in ms)} ms from "
            f"{max(p[0] for p in points):,.0f} to "
            f"{min(p[0] for p in points):,.0f} MACs): fixed costs "
            f"dominate, and the table predicts {table.ms_fixed:.3f} ms for "
            "any width; pruning cannot meet a smaller latency budget there.",
            stacklevel=2)
    return table


def _check_arguments(runtime, ratios, mixed):
    if runtime not in latency.RUNTIMES:
        raise ValueError(
            f"Unknown runtime. Expected one of {latency.RUNTIMES}. "
            f"Received: runtime={runtime!r}")
    if isinstance(mixed, bool) or not isinstance(mixed, int) or mixed < 0:
        raise ValueError("`mixed` must be a whole number >= 0. Received: "
                         f"mixed={mixed!r}")
    if len(ratios) + mixed < 3:
        raise ValueError(
            "Fitting a table needs at least 3 profiled copies. Received: "
            f"ratios={ratios!r}, mixed={mixed!r}")


def _set_widths(gated, graph, ratio, rng):
    """Masks `gated`: every channel for ratio 0, random channels removing
    `ratio` of the MACs, or (ratio None) a random 10-100% of each layer."""
    if ratio is None:
        for group in graph.groups:
            size = group.gate.channels
            kept = max(1, round(size * rng.uniform(0.1, 1.0)))
            mask = np.zeros(size, "float32")
            mask[rng.choice(size, kept, replace=False)] = 1
            group.gate.set_mask(mask)
    elif ratio > 0:
        pruning.prune_now(gated, ratio, metric="macs", importance="random")
    else:
        for group in graph.groups:
            group.gate.set_mask(np.ones(group.gate.channels, "float32"))


def _timed_point(gated, graph, per_channel, sample, runtime, runs):
    """`(macs, outputs, params, channels, ms)` of `gated` shrunk and
    converted to int8, or None when XNNPACK refuses the copy (a thin
    random copy can have a layer whose int8 range collapsed).
    `per_channel`: the output and channel polynomials of `graph`."""
    small = surgery.shrink(gated)
    try:
        ms = latency.time_tflite(convert.to_tflite(
            small, representative=sample), runtime, runs)
    except RuntimeError as error:
        if not convert.is_xnnpack_refusal(error):
            raise
        return None
    widths = cost.group_widths(graph)
    counts = cost.measure(small)
    outputs, channels = (polynomial(widths) for polynomial in per_channel)
    return counts["macs"], outputs, counts["params"], channels, ms


def _fitted_table(points, runtime):
    """The table whose relative error over `points` is least (each row
    divided by its time), slopes non-negative."""
    macs, outputs, params, channels, ms = np.array(points, dtype=float).T
    features = np.stack([macs / 1e6, outputs / 1e3, params / 1e6,
                         channels / 1e3, np.ones_like(ms)], 1)
    coef = latency.fit_non_negative_slopes(features / ms[:, None],
                                           np.ones_like(ms))
    return latency.LatencyTable(
        ms_per_mmac=float(coef[0]), ms_per_kelement=float(coef[1]),
        ms_per_mparam=float(coef[2]), ms_per_kchannel=float(coef[3]),
        ms_fixed=float(coef[4]), runtime=runtime, points=tuple(
            (int(m), int(o), int(p), int(c), float(t))
            for m, o, p, c, t in points))
