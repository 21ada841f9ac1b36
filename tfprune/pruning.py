"""Setting the masks of a gated model so that it meets a cost budget."""

import numpy as np

from tfprune import cost as cost_lib
from tfprune import importance as importance_lib
from tfprune import solver
from tfprune.graph import ChannelGraph, GraphError
from tfprune.validation import check_positive_int


def check_ratio(ratio):
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
            or not 0 < ratio < 1:
        raise ValueError(
            "`ratio` is the fraction of the cost to remove and must be "
            f"strictly between 0 and 1. Received: ratio={ratio!r}"
        )


def check_budget_bytes(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not value > 0:
        raise ValueError(
            f"`{name}` is a budget in bytes and must be a positive number. "
            f"Received: {name}={value!r}")


def ratio_for_flash(plan, flash_bytes):
    """The fraction of `plan`'s flash cost to remove to fit `flash_bytes`."""
    full = plan.full_cost
    if flash_bytes >= full:
        raise ValueError(
            f"The int8 .tflite of this model already fits "
            f"flash_bytes={flash_bytes:,} ({full:,.0f} bytes unpruned): "
            "nothing to prune. Pass a smaller budget, or `ratio`.")
    return 1.0 - flash_bytes / full


def fit_flash(plan, flash_bytes, attempts=3):
    """Sets `plan`'s masks so that the int8 `.tflite` fits `flash_bytes`.

    The prediction is checked by converting the shrunk model; if the real
    file is larger (the prediction is within about 1%), the budget is
    lowered by the excess and the masks solved again. Returns the fraction
    of the flash bytes removed.
    """
    from tfprune import flash
    from tfprune.surgery import shrink

    budget = flash_bytes
    for _ in range(attempts):
        removed = plan.apply(ratio_for_flash(plan, budget))
        real = flash.measured_bytes(shrink(plan.graph.model))
        if real <= flash_bytes:
            return removed
        budget -= real - flash_bytes
    raise solver.BudgetError(
        f"Could not fit flash_bytes={flash_bytes:,}: after {attempts} tries "
        f"the int8 .tflite still takes {real:,} bytes.")


class BudgetPlan:
    """The groups and cost model of a gated model, ready to set masks.

    Example:

    >>> plan = BudgetPlan(gated, metric="macs")
    >>> plan.apply(0.5)          # masks now remove 50% of the MACs
    0.5003...
    """

    def __init__(self, gated, metric="params", round_to=1, min_channels=1,
                 importance="scores", seed=0, cost_aware=True):
        cost_lib.check_metric(metric)
        importance_lib.check_criterion(importance)
        check_positive_int("round_to", round_to)
        check_positive_int("min_channels", min_channels)
        self.graph = ChannelGraph(gated)
        if not self.graph.groups:
            raise GraphError(
                f"Model '{self.graph.model.name}' has no ChannelGate layers: "
                "call tfprune.gate(model) first and prune the gated model.")
        self.graph.check()
        self.metric = metric
        self.round_to = round_to
        self.min_channels = min_channels
        self.criterion = importance
        self.seed = seed
        self.cost_aware = cost_aware
        self.cost = cost_lib.cost_polynomial(self.graph, metric)
        self.sizes = [g.size for g in self.graph.groups]
        self.full_cost = self.cost(self.sizes)

    def importance(self):
        """Per-channel importance by the plan's criterion (see importance.py)."""
        return importance_lib.channel_importance(self.graph, self.criterion,
                                                 self.seed)

    def fold_saliency(self, steps, decay):
        """Folds the saliency of the last `steps` steps into every score."""
        for group in self.graph.groups:
            group.gate.fold_saliency(steps, decay)

    def removed_ratio(self):
        """Fraction of the cost that the current masks remove."""
        widths = cost_lib.group_widths(self.graph)
        return 1.0 - self.cost(widths) / self.full_cost

    def apply(self, ratio, exact=True):
        """Sets masks that remove (at least, and as close as allowed) `ratio`.

        `exact=False` skips the solver's final search for the closest fit
        (for the frequent updates of a schedule). Returns the ratio actually
        removed.
        """
        importance = self.importance()
        for group, values in zip(self.graph.groups, importance):
            if not np.isfinite(values).all():
                raise FloatingPointError(
                    f"The '{self.criterion}' importance of the channels of "
                    f"gate '{group.gate.name}' holds NaN or infinite values "
                    "(did training diverge?); masks left as they were.")
        budget = (1.0 - ratio) * self.full_cost
        masks = solver.solve(importance, self.cost, budget,
                             round_to=self.round_to,
                             min_channels=self.min_channels, exact=exact,
                             cost_aware=self.cost_aware)
        for group, mask in zip(self.graph.groups, masks):
            group.gate.set_mask(mask)
        return self.removed_ratio()

    def open_all(self):
        for group in self.graph.groups:
            group.gate.set_mask(np.ones(group.size))


def prune_now(gated, ratio=None, metric="params", round_to=1, min_channels=1,
              importance="scores", flash_bytes=None):
    """Sets the masks of a gated model at once to remove `ratio` of `metric`,
    or to fit a device budget.

    Channels are chosen from the gates' current scores by the global budget
    solver (one-shot pruning; useful for tests and baselines).

    Args:
        gated: a model returned by `tfprune.gate`.
        ratio: fraction of the cost to remove, strictly between 0 and 1.
        metric: `"params"`, `"macs"`, `"channels"` or `"flash"` (bytes of
            the int8 `.tflite`).
        round_to: kept channel counts are multiples of this.
        min_channels: the fewest channels any group keeps.
        importance: how channels are ranked: `"scores"` (the gates' learned
            scores), `"l1"` (filter L1 norm) or `"bn"` (BatchNorm |gamma|).
        flash_bytes: instead of `ratio`, the largest allowed size of the
            int8 `.tflite` in bytes (predicted within about 1%; see
            `tfprune/flash.py`). The model is converted once to measure
            the part of the file that does not depend on the widths.

    Returns:
        The fraction of `metric` (with `flash_bytes`: of the flash bytes)
        actually removed.

    Example:

    >>> gated = tfprune.gate(model)
    >>> tfprune.prune_now(gated, 0.5, metric="macs")
    0.500...
    >>> tfprune.prune_now(gated, flash_bytes=64_000)  # a 64 kB .tflite
    0.93...
    """
    if flash_bytes is None:
        check_ratio(ratio)
        return BudgetPlan(gated, metric, round_to, min_channels,
                          importance).apply(ratio)
    check_budget_bytes("flash_bytes", flash_bytes)
    if ratio is not None:
        raise ValueError(
            "Pass either `ratio` or `flash_bytes`, not both (combined "
            f"budgets are not supported yet). Received: ratio={ratio!r}, "
            f"flash_bytes={flash_bytes!r}")
    plan = BudgetPlan(gated, "flash", round_to, min_channels, importance)
    return fit_flash(plan, flash_bytes)
