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
          exact=True):
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

    Returns:
        One boolean array per group: True for the kept channels.

    Example:

    >>> masks = solve([np.ones(8), np.ones(16)], poly, budget=0.5 * poly([8, 16]))
    """
    importance = [np.asarray(v, dtype=float).reshape(-1) for v in importance]
    sizes = np.array([v.size for v in importance], dtype=int)
    floors = np.minimum(sizes, -(-max(min_channels, round_to) // round_to)
                        * round_to)
    orders = [np.argsort(v, kind="stable") for v in importance]
    units = [_units(o, v, n, f, round_to)
             for o, v, n, f in zip(orders, importance, sizes, floors)]
    # Channels are ranked by importance per unit of their cost in the
    # unpruned model. (Ranking by the cost at the current widths feeds back
    # on itself: a layer next to a narrow one looks cheap, stays wide, and
    # makes its neighbour look expensive, which ends in 1-channel
    # bottlenecks.)
    static_cost = np.maximum(cost.decrease(sizes, np.ones(len(sizes))),
                             1e-12)

    def widths(removed_units):
        return np.array([
            n - u[0][:r].sum() for n, u, r in zip(sizes, units, removed_units)
        ])

    def remove(removed, exclude=()):
        """Removes the least valuable units until the cost fits the budget."""
        removed = removed.copy()
        current = cost(widths(removed))
        while current > budget:
            w = widths(removed)
            steps = np.array([u[0][r] if r < len(u[0]) else 0
                              for u, r in zip(units, removed)])
            per_channel = cost.decrease(w, np.minimum(steps, 1))
            candidates = []  # (key, tie-break, group, approximate saving)
            for g, (unit_sizes, unit_scores) in enumerate(units):
                if per_channel[g] <= 0 or g in exclude:
                    continue
                best = 0.0
                left = sizes[g] - unit_sizes[:removed[g]].sum()
                for r in range(removed[g], len(unit_sizes)):
                    # Diminishing returns: the narrower a layer already is,
                    # the more each of its remaining channels is worth.
                    key = (unit_scores[r] * sizes[g] / left) / (
                        static_cost[g] * unit_sizes[r])
                    left -= unit_sizes[r]
                    best = max(best, key)
                    candidates.append((best, r / len(unit_sizes), g,
                                       per_channel[g] * unit_sizes[r]))
            if not candidates:
                return None, current
            candidates.sort(key=lambda c: c[:2])
            excess, taken = current - budget, 0.0
            for _, _, g, saving in candidates:
                if taken > 0 and taken + saving > excess / 2:
                    break
                removed[g] += 1
                taken += saving
            current = cost(widths(removed))
        return fill(removed, current)

    def fill(removed, current):
        """Adds back the most valuable removed units that still fit."""
        while True:
            best = None
            for g, (unit_sizes, unit_scores) in enumerate(units):
                if removed[g] == 0:
                    continue
                trial = removed.copy()
                trial[g] -= 1
                new_cost = cost(widths(trial))
                if new_cost <= budget:
                    value = unit_scores[removed[g] - 1] / max(
                        new_cost - current, 1e-12)
                    if best is None or value > best[0]:
                        best = (value, g, new_cost)
            if best is None:
                return removed, current
            removed = removed.copy()
            removed[best[1]] -= 1
            current = best[2]

    removed, current = remove(np.zeros(len(sizes), dtype=int))
    if removed is None:
        full = cost(sizes)
        raise BudgetError(
            f"Cannot bring the cost down to {budget:.6g}: with "
            f"min_channels={min_channels} and round_to={round_to} in "
            f"every group the cost stays at {current:.6g} (of {full:.6g},"
            f" so at most {1 - current / full:.2%} can be removed)."
        )
    # Exactness: trading one unit of a group for cheaper units elsewhere
    # can bring the cost closer to the budget than one unit's granularity.
    improved = exact
    while improved:
        improved = False
        for g in range(len(sizes)):
            if removed[g] == 0:
                continue
            trial = removed.copy()
            trial[g] -= 1
            trial, trial_cost = remove(trial, exclude={g})
            if trial is not None and current < trial_cost <= budget:
                removed, current, improved = trial, trial_cost, True

    masks = []
    for order, n, w in zip(orders, sizes, widths(removed)):
        mask = np.zeros(n, dtype=bool)
        mask[order[n - w:]] = True
        masks.append(mask)
    return masks
