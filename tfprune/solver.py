"""The global budget solver: which channels to keep so that a cost fits a budget."""

import numpy as np


class BudgetError(ValueError):
    """The budget cannot be met within the constraints."""


def _allowed_below(count, round_to):
    """The next smaller allowed width: a multiple of `round_to`."""
    return (count - 1) // round_to * round_to


def _units(order, importance, size, floor, round_to):
    """Removal units of one group, least important first.

    Returns `(unit_sizes, unit_importance)`; removing the first `u` units
    leaves `size - sum(unit_sizes[:u])` channels.
    """
    sizes, scores = [], []
    count = size
    while count > floor:
        below = max(_allowed_below(count, round_to), floor)
        removed = order[size - count:size - below]
        sizes.append(count - below)
        scores.append(float(np.sum(importance[removed])))
        count = below
    return np.array(sizes, dtype=int), np.array(scores, dtype=float)


def solve(importance, cost, budget, round_to=1, min_channels=1,
          exact=True, cost_aware=True):
    """Chooses the channels to keep in every group.

    Channels are ranked globally by importance per unit of cost (a
    channel's cost in the unpruned model), with diminishing returns (a
    channel's importance is scaled by `size / kept` of its group, so no
    layer is emptied just because it is expensive): the solver removes the least
    valuable channels until `cost(widths)` is at most `budget`, measuring
    the real cost as widths change (a channel's cost depends on its
    neighbours' widths), then adds back any removed channel that still
    fits. Every group keeps at least `min_channels` channels and
    each kept count is a multiple of `round_to` (or the full group).

    Args:
        importance: one non-negative array per group, one value per channel.
        cost: a `tfprune.polynomial.Polynomial` over the group widths.
        budget: the largest allowed cost.
        round_to: kept counts are multiples of this (or the group size).
        min_channels: the fewest channels a group keeps.
        exact: also try trading one unit of a group for cheaper units of
            others to land closer to the budget (slower; used for the final
            masks).
        cost_aware: rank by importance per unit of cost with diminishing
            returns (default). False ranks by importance alone, a plain
            global top-k (as in Dynamic Channel Propagation).

    Returns:
        One boolean array per group: True for the kept channels.

    Examples:
        >>> masks = solve([np.ones(8), np.ones(16)], poly, budget=0.5 * poly([8, 16]))
    """
    search = _Search(importance, cost, budget, round_to, min_channels,
                     cost_aware)
    removed, current = search.remove(search.nothing_removed())
    if removed is None:
        full = cost(search.sizes)
        widths = search.stalled_widths
        if np.array_equal(widths, search.floors):
            raise BudgetError(
                f"Cannot bring the cost down to {budget:.6g}: with "
                f"min_channels={min_channels} and round_to={round_to} in "
                f"every group the cost stays at {current:.6g} (of "
                f"{full:.6g}, so at most {1 - current / full:.2%} can be "
                "removed).")
        raise BudgetError(
            f"Cannot bring the cost down to {budget:.6g}: at widths "
            f"{widths.tolist()} (cost {current:.6g}) removing no single "
            "group's next channels lowers the cost (a cost that is not "
            "monotone in the widths). Try another `round_to` or a slightly "
            "different budget.")
    if exact:
        removed = search.refine(removed, current)
    return search.masks(removed)


class _Search:
    """The greedy search behind `solve`, over removal units per group.

    A group's units are its channels in increasing importance, `round_to`
    at a time; `removed[g]` counts the units taken from group g.
    """

    def __init__(self, importance, cost, budget, round_to, min_channels,
                 cost_aware=True):
        importance = [np.asarray(v, dtype=float).reshape(-1)
                      for v in importance]
        self.cost, self.budget = cost, budget
        self.sizes = np.array([v.size for v in importance], dtype=int)
        self.floors = floors = np.minimum(
            self.sizes, -(-max(min_channels, round_to) // round_to) * round_to)
        self.stalled_widths = None
        self.orders = [np.argsort(v, kind="stable") for v in importance]
        self.units = [_units(o, v, n, f, round_to) for o, v, n, f in
                      zip(self.orders, importance, self.sizes, floors)]
        # Channels are ranked by importance per unit of their cost in the
        # unpruned model. (Ranking by the cost at the current widths feeds
        # back on itself: a layer next to a narrow one looks cheap, stays
        # wide, and makes its neighbour look expensive, which ends in
        # 1-channel bottlenecks.)
        self.static_cost = np.maximum(
            cost.decrease(self.sizes, np.ones(len(self.sizes))), 1e-12)
        self.cost_aware = cost_aware
        if not cost_aware:
            self.static_cost = np.ones(len(self.sizes))

    def nothing_removed(self):
        return np.zeros(len(self.sizes), dtype=int)

    def widths(self, removed):
        return np.array([n - u[0][:r].sum() for n, u, r in
                         zip(self.sizes, self.units, removed)])

    def _candidates(self, removed, exclude):
        """`(key, tie-break, group, approximate saving)` of removable units."""
        w = self.widths(removed)
        steps = np.array([u[0][r] if r < len(u[0]) else 0
                          for u, r in zip(self.units, removed)])
        per_channel = self.cost.decrease(w, np.minimum(steps, 1))
        candidates = []
        for g, (unit_sizes, unit_scores) in enumerate(self.units):
            if per_channel[g] <= 0 or g in exclude:
                continue
            best, left = 0.0, w[g]
            for r in range(removed[g], len(unit_sizes)):
                # Diminishing returns: the narrower a layer already is, the
                # more each of its remaining channels is worth.
                key = unit_scores[r] / (self.static_cost[g] * unit_sizes[r])
                if self.cost_aware:
                    key *= self.sizes[g] / left
                left -= unit_sizes[r]
                best = max(best, key)  # units leave a group in order
                candidates.append((best, r / len(unit_sizes), g,
                                   per_channel[g] * unit_sizes[r]))
        return sorted(candidates, key=lambda c: c[:2])

    def remove(self, removed, exclude=()):
        """Removes the least valuable units until the cost fits the budget.

        Returns `(removed, cost)`, or `(None, cost)` when it cannot.
        """
        removed = removed.copy()
        current = self.cost(self.widths(removed))
        while current > self.budget:
            candidates = self._candidates(removed, exclude)
            if not candidates:
                self.stalled_widths = self.widths(removed)
                return None, current
            # Take up to half the excess at once, then re-measure.
            excess, taken = current - self.budget, 0.0
            for _, _, g, saving in candidates:
                if taken > 0 and taken + saving > excess / 2:
                    break
                removed[g] += 1
                taken += saving
            current = self.cost(self.widths(removed))
        return self.fill(removed, current)

    def fill(self, removed, current):
        """Adds back the most valuable removed units that still fit."""
        while True:
            best = None
            for g, (_, unit_scores) in enumerate(self.units):
                if removed[g] == 0:
                    continue
                trial = removed.copy()
                trial[g] -= 1
                new_cost = self.cost(self.widths(trial))
                if new_cost <= self.budget:
                    value = unit_scores[removed[g] - 1] / max(
                        new_cost - current, 1e-12)
                    if best is None or value > best[0]:
                        best = (value, trial, new_cost)
            if best is None:
                return removed, current
            _, removed, current = best

    def refine(self, removed, current):
        """Trades one unit of a group for cheaper units elsewhere, while
        that brings the cost closer to the budget than one unit allows."""
        improved = True
        while improved:
            improved = False
            for g in range(len(self.sizes)):
                if removed[g] == 0:
                    continue
                trial = removed.copy()
                trial[g] -= 1
                trial, trial_cost = self.remove(trial, exclude={g})
                if trial is not None and current < trial_cost <= self.budget:
                    removed, current, improved = trial, trial_cost, True
        return removed

    def masks(self, removed):
        masks = []
        for order, n, w in zip(self.orders, self.sizes, self.widths(removed)):
            mask = np.zeros(n, dtype=bool)
            mask[order[n - w:]] = True
            masks.append(mask)
        return masks
