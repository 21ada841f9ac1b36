"""Setting the masks of a gated model so that it meets a cost budget."""

import warnings

import numpy as np

from tfprune import cost as cost_lib
from tfprune import importance as importance_lib
from tfprune import saliency
from tfprune import solver
from tfprune.device import budgets
from tfprune.device.latency import LatencyTable
from tfprune.graph import ChannelGraph, GraphError
from tfprune.validation import check_positive_int


RATIO_METRICS = ("params", "macs", "channels")  # what a dict ratio takes


def check_ratio(ratio, name="ratio"):
    """Validates a fraction to remove, or a dict `{metric: fraction}` of
    several to meet at once."""
    if isinstance(ratio, dict):
        if not ratio:
            raise ValueError(f"`{name}` is an empty dict: give at least one "
                             "{metric: fraction to remove}.")
        for metric, value in ratio.items():
            if metric not in RATIO_METRICS:
                raise ValueError(
                    f"`{name}` as a dict maps metrics {RATIO_METRICS} to "
                    f"fractions; for device sizes use flash_bytes / "
                    f"arena_bytes. Received: {name}={ratio!r}")
            check_ratio(value, f"{name}[{metric!r}]")
        return
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
            or not 0 < ratio < 1:
        raise ValueError(
            f"`{name}` is the fraction of the cost to remove and must be "
            f"strictly between 0 and 1. Received: {name}={ratio!r}"
        )


def original_sizes(graph):
    """Each group's width before any channel was removed (a gate's
    `original_channels`)."""
    return [group.gate.original_channels for group in graph.groups]


def ratio_limits(gated, ratio, metric="params"):
    """`{metric: largest allowed cost}` for a ratio (or dict of ratios) of
    the gated model's full cost."""
    check_ratio(ratio)
    ratios = ratio if isinstance(ratio, dict) else {metric: ratio}
    graph = ChannelGraph(gated)
    sizes = original_sizes(graph)
    limits = {}
    for name, value in ratios.items():
        budgets.check_metric(name)
        limits[name] = (1.0 - value) * budgets.cost_model(
            graph, name)(sizes)
    return limits


class BudgetPlan:
    """The groups and cost model of a gated model, ready to set masks.

    Examples:
        >>> plan = BudgetPlan(gated, metric="macs")
        >>> plan.apply(0.5)          # masks now remove 50% of the MACs
        0.5003...
    """

    def __init__(self, gated, metric="params", round_to=1, min_channels=1,
                 importance="scores", seed=0, cost_aware=True, limits=None,
                 latency_table=None):
        budgets.check_metric(metric)
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
        self.sizes = [g.size for g in self.graph.groups]
        # The cost a ratio is a fraction of: the unpruned network's, also
        # once `tfprune.training` removed channels during training.
        self.original_sizes = original_sizes(self.graph)
        if limits:  # absolute budgets, e.g. {"flash": 64_000, "params": ..}
            self.cost = budgets.CombinedCost(
                {m: budgets.cost_model(self.graph, m, latency_table)
                 for m in limits}, limits)
        else:
            self.cost = budgets.cost_model(self.graph, metric)
        self.full_cost = self.cost(self.original_sizes)

    def fitting_ratio(self):
        """For a plan with limits: the fraction of the combined cost to
        remove so that every budget holds."""
        if self.full_cost <= 1:
            shares = self.cost.shares(self.sizes)
            raise ValueError(
                "The unpruned model already fits every budget (it uses "
                + ", ".join(f"{share:.0%} of the {metric} budget"
                            for metric, share in shares.items())
                + "): nothing to prune. Pass smaller budgets.")
        self.check_feasible()
        return 1.0 - 1.0 / self.full_cost

    def check_feasible(self):
        """Raises `BudgetError` if even the narrowest model the plan allows
        misses a limit (before any training is spent on it)."""
        floor = max(self.min_channels, self.round_to)
        narrowest = [min(size, floor) for size in self.sizes]
        if self.cost(narrowest) <= 1:
            return
        shares = self.cost.shares(narrowest)
        raise solver.BudgetError(
            "Cannot meet the budgets: even the narrowest model "
            f"(min_channels={self.min_channels}, round_to={self.round_to}) "
            "needs " + ", ".join(
                f"{share:.0%} of the {metric} budget "
                f"({self.cost.limits[metric]:,.0f})"
                for metric, share in shares.items())
            + ". Raise the budgets or start from a smaller model.")

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
        masks = self.choose((1.0 - ratio) * self.full_cost, exact)
        for group, mask in zip(self.graph.groups, masks):
            group.gate.set_mask(mask)
        return self.removed_ratio()

    def choose(self, budget, exact=True):
        """The masks (one 0/1 array per group) that the solver keeps
        within `budget` (a cost, in the units of `full_cost`), without
        setting them."""
        importance = self.importance()
        for group, values in zip(self.graph.groups, importance):
            if not np.isfinite(values).all():
                raise FloatingPointError(
                    f"The '{self.criterion}' importance of the channels of "
                    f"gate '{group.gate.name}' holds NaN or infinite values "
                    "(did training diverge?); masks left as they were.")
        # Channels removed during training (`tfprune.training`) take part
        # as the least important ones, so that the solver sees the groups'
        # unpruned sizes (its ranking depends on them) as it did before.
        padded = [np.concatenate([np.asarray(values, float).reshape(-1),
                                   np.full(full - np.size(values), -1.0)])
                  for values, full in zip(importance, self.original_sizes)]
        masks = solver.solve(padded, self.cost, budget,
                             round_to=self.round_to,
                             min_channels=self.min_channels, exact=exact,
                             cost_aware=self.cost_aware)
        return [np.asarray(mask)[:size] for mask, size in
                zip(masks, self.sizes)]

    def open_all(self):
        for group in self.graph.groups:
            group.gate.set_mask(np.ones(group.size))


def limits_for(gated, ratio=None, metric="params", flash_bytes=None,
               arena_bytes=None, latency_ms=None, latency_table=None):
    """`{metric: limit}` for the budgets given (None when only `ratio`)."""
    limits = {}
    for name, value in (("flash_bytes", flash_bytes),
                        ("arena_bytes", arena_bytes)):
        if value is not None:
            budgets.check_limit(name, value)
            limits[budgets.DEVICE_METRICS[name]] = value
    if latency_ms is not None:
        budgets.check_limit("latency_ms", latency_ms)
        if not isinstance(latency_table, LatencyTable):
            raise ValueError(
                "`latency_ms` needs `latency_table`: a tfprune.LatencyTable "
                "from tfprune.profile_latency(model), or your device's "
                f"numbers. Received: latency_table={latency_table!r}")
        if latency_ms <= latency_table.ms_fixed:
            raise solver.BudgetError(
                f"latency_ms={latency_ms} is below the table's fixed cost "
                f"({latency_table.ms_fixed:.3g} ms), which pruning channels "
                "does not remove.")
        limits["latency"] = latency_ms
    if not limits and not isinstance(ratio, dict):
        check_ratio(ratio)
        return None
    if ratio is not None:
        limits.update(ratio_limits(gated, ratio, metric))
    return limits


def prune_now(gated, ratio=None, metric="params", round_to=1, min_channels=1,
              importance="scores", flash_bytes=None, arena_bytes=None,
              latency_ms=None, latency_table=None):
    """Sets the masks of a gated model at once to remove `ratio` of `metric`,
    or to fit device budgets.

    Channels are chosen from the gates' current scores by the global budget
    solver (one-shot pruning; useful for tests and baselines).

    Args:
        gated: a model returned by `tfprune.gate`.
        ratio: fraction of the cost to remove, strictly between 0 and 1,
            or a dict `{metric: fraction}` to meet several at once (e.g.
            `{"params": 0.941, "macs": 0.762}`, the paper's operating
            point); optional when a device budget is given (then it is one
            more budget).
        metric: `"params"`, `"macs"`, `"channels"`, `"flash"` (bytes of
            the int8 `.tflite`) or `"arena"` (TFLite Micro arena bytes).
        round_to: kept channel counts are multiples of this.
        min_channels: the fewest channels any group keeps.
        importance: how channels are ranked: `"scores"` (the gates' learned
            scores), `"l1"` (filter L1 norm) or `"bn"` (BatchNorm |gamma|).
        flash_bytes: the largest allowed size of the int8 `.tflite` in
            bytes (predicted within about 1%; see
            `tfprune/device/flash.py`).
        arena_bytes: the largest allowed TFLite Micro tensor arena in bytes
            (predicted exactly for the Python interpreter's 64-bit build;
            see `tfprune/device/arena.py`). Device budgets are checked by
            converting the shrunk model (and running it in TFLite Micro),
            and solved again with the excess removed if one is missed.
        latency_ms: the longest allowed inference time in milliseconds, as
            `latency_table` predicts it (not checked by timing).
        latency_table: the `tfprune.LatencyTable` that predicts the time
            from the widths (from `tfprune.profile_latency`).

    Returns:
        The fraction of `metric` actually removed; with device budgets or
        several ratios, of the tightest budget's cost.

    A channel ranking by `importance="scores"` needs saliency: right after
    `tfprune.gate` the scores are all zero and channels rank as ties (a
    warning says so); call `tfprune.gather_saliency(gated, data)` first.

    Examples:
        >>> gated = tfprune.gate(model)
        >>> tfprune.prune_now(gated, 0.5, metric="macs")
        0.500...
        >>> tfprune.prune_now(gated, flash_bytes=64_000, arena_bytes=24_000)
        0.93...
    """
    limits = limits_for(gated, ratio, metric, flash_bytes, arena_bytes,
                        latency_ms, latency_table)
    if importance == "scores" and saliency.scores_are_empty(gated):
        warnings.warn(
            f"tfprune.prune_now: the gates of '{gated.name}' have gathered "
            "no saliency yet (all scores are 0), so channels rank as ties. "
            "Call tfprune.gather_saliency(gated, labelled_data) first, or "
            "pass importance='l1'.", stacklevel=2)
    if limits is None:
        return BudgetPlan(gated, metric, round_to, min_channels,
                          importance).apply(ratio)
    plan = BudgetPlan(gated, metric, round_to, min_channels, importance,
                      limits=limits, latency_table=latency_table)
    return budgets.fit(plan)
