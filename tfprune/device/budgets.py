"""Device budgets: flash bytes, RAM arena bytes, latency and a ratio, met at
once.

Each budget is a cost model of the kept widths (`cost_model`: the
polynomials of `tfprune/cost.py`, `flash.py`, `arena.py`, a latency
table) and a limit. `CombinedCost` is the largest of `cost / limit` over
the budgets, so the solver that brings one cost down to a budget brings
them all under their limits, spending the tightest one as fully as the
channels allow.

>>> tfprune.prune_now(gated, flash_bytes=64_000, arena_bytes=24_000)
"""

import numpy as np

from tfprune import convert
from tfprune import cost as cost_lib
from tfprune.device import arena
from tfprune.device import flash
from tfprune.solver import BudgetError
from tfprune.surgery import shrink

METRICS = cost_lib.MEASURED + ("flash", "arena")  # what `metric=` takes
DEVICE_METRICS = {"flash_bytes": "flash", "arena_bytes": "arena"}


def check_metric(metric):
    if metric not in METRICS:
        raise ValueError(
            f"Unknown metric. Expected one of {METRICS}. "
            f"Received: metric={metric!r}"
        )


def cost_model(graph, metric, latency_table=None):
    """The cost `metric` of `graph.model` as a function of the group widths.

    Every cost model is callable on the widths and has a
    `decrease(widths, steps)` method, which is all the solver needs.

    - `"params"`, `"macs"`, `"channels"`: `cost.cost_polynomial`.
    - `"flash"`: bytes of the full-integer int8 `.tflite` (see `flash.py`;
      converts the model once to measure the width-independent part).
    - `"arena"`: bytes of the TFLite Micro tensor arena (`arena.py`; an
      `ArenaModel`, callable like a polynomial).
    - `"latency"`: `latency_table.polynomial(graph)`, milliseconds (any
      object with that method, such as a `tfprune.LatencyTable`).
    """
    if metric == "latency":
        return latency_table.polynomial(graph)
    check_metric(metric)
    if metric == "flash":
        return flash.flash_polynomial(graph)
    if metric == "arena":  # not a polynomial, but callable the same way
        return arena.ArenaModel(graph)
    return cost_lib.cost_polynomial(graph, metric)


def check_limit(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not value > 0:
        raise ValueError(
            f"`{name}` is a budget and must be a positive number. "
            f"Received: {name}={value!r}")


class CombinedCost:
    """`max(cost(w) / limit)` over several budgets; they all fit when <= 1.

    Args:
        costs: `{metric: cost}` (each callable on the widths, with a
            `decrease(widths, steps)` method).
        limits: `{metric: largest allowed cost}`.
    """

    def __init__(self, costs, limits):
        self.costs, self.limits = dict(costs), dict(limits)

    def shares(self, widths):
        """`{metric: cost / limit}` at `widths`."""
        return {m: c(widths) / self.limits[m] for m, c in self.costs.items()}

    def __call__(self, widths):
        return max(self.shares(widths).values())

    def decrease(self, widths, steps):
        """What removing channels saves on the budget that binds now."""
        shares = self.shares(widths)
        binding = max(shares, key=shares.get)
        return np.asarray(self.costs[binding].decrease(widths, steps)) / \
            self.limits[binding]


def device_sizes(gated):
    """`{"flash": bytes, "arena": bytes}` of the int8 model that `shrink`
    would build from `gated`'s current masks, converted and measured."""
    tflite = flash.converted(shrink(gated))
    return {"flash": len(tflite), "arena": convert.tflm_arena_bytes(
        tflite, model_name=gated.name)}


def fit(plan, attempts=5):
    """Sets `plan`'s masks (a plan with device limits) so that every budget
    holds in the converted model, checked by converting and running it in
    TFLite Micro; a budget the real model misses is lowered by the excess
    (twice as much at every further try) and the masks solved again.
    Returns the fraction of the combined cost removed.

    `plan` is a `tfprune.pruning.BudgetPlan`, taken by what it does (its
    `cost`, a `CombinedCost`; `graph`, `sizes`, `full_cost`, `apply`,
    `fitting_ratio` and `check_feasible`): this layer does not import the
    pruning layer above it."""
    limits = dict(plan.cost.limits)
    device = [m for m in limits if m in DEVICE_METRICS.values()]
    for attempt in range(attempts):
        try:
            removed = plan.apply(plan.fitting_ratio())
        except BudgetError:
            plan.check_feasible()  # the clearer message, if that is why
            raise
        if not device:  # e.g. a latency budget: predicted, not measured
            return removed
        real = device_sizes(plan.graph.model)
        over = {m: real[m] - limits[m] for m in device if real[m] > limits[m]}
        if not over:
            return removed
        for metric, excess in over.items():
            plan.cost.limits[metric] -= excess * 2 ** attempt
        plan.full_cost = plan.cost(plan.sizes)
    plan.cost.limits.update(limits)
    raise BudgetError(
        f"Could not fit the budgets {limits} after {attempts} tries: the "
        f"converted model measures {real}.")
