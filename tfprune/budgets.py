"""Device budgets: flash bytes, RAM arena bytes, latency and a ratio, met at
once.

Each budget is a cost model of the kept widths (`flash.py`, `arena.py`,
the polynomials of `cost.py`) and a limit. `CombinedCost` is the largest
of `cost / limit` over the budgets, so the solver that brings one cost
down to a budget brings them all under their limits, spending the
tightest one as fully as the channels allow.

>>> tfprune.prune_now(gated, flash_bytes=64_000, arena_bytes=24_000)
"""

import numpy as np

DEVICE_METRICS = {"flash_bytes": "flash", "arena_bytes": "arena"}


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
    from tfprune import convert, flash
    from tfprune.surgery import shrink

    tflite = flash.converted(shrink(gated))
    return {"flash": len(tflite), "arena": convert.tflm_arena_bytes(
        tflite, model_name=gated.name)}


def fit(plan, attempts=5):
    """Sets `plan`'s masks (a plan with device limits) so that every budget
    holds in the converted model, checked by converting and running it in
    TFLite Micro; a budget the real model misses is lowered by the excess
    (twice as much at every further try) and the masks solved again.
    Returns the fraction of the combined cost removed."""
    from tfprune.solver import BudgetError

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
