"""The global budget solver, on random cost models (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfprune import polynomial, solver


def chain_cost(sizes, kernel=9):
    """Params of a chain of convs: conv g maps group g-1 to group g."""
    poly = polynomial.Polynomial(len(sizes))
    poly.add({(0, polynomial.CONSTANT): 3.0 * kernel})
    for g in range(1, len(sizes)):
        poly.add({(g - 1, g): float(kernel)})
    for g in range(len(sizes)):
        poly.add({(g, polynomial.CONSTANT): 4.0})  # batch norm
    return poly


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    ratio=st.floats(0.05, 0.95),
    round_to=st.sampled_from([1, 2, 4, 8]),
    min_channels=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_solution_respects_budget_and_constraints(sizes, ratio, round_to,
                                                   min_channels, seed):
    rng = np.random.default_rng(seed)
    importance = [rng.uniform(0.01, 1, n) for n in sizes]
    poly = chain_cost(sizes)
    budget = (1 - ratio) * poly(sizes)
    try:
        masks = solver.solve(importance, poly, budget, round_to=round_to,
                             min_channels=min_channels)
    except solver.BudgetError:
        floors = [min(n, -(-max(min_channels, round_to) // round_to)
                      * round_to) for n in sizes]
        assert poly(floors) > budget  # truly unreachable
        return
    widths = [int(m.sum()) for m in masks]
    assert poly(widths) <= budget + 1e-9
    for n, w in zip(sizes, widths):
        assert w >= min(n, min_channels)
        assert w == n or w % round_to == 0


def test_keeps_the_most_important_channels_of_a_group():
    poly = chain_cost([6])
    importance = [np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])]
    (mask,) = solver.solve(importance, poly, budget=poly([3]))
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1, 0])


def test_exact_mode_lands_closer_to_the_budget():
    sizes = [16, 64, 64, 16]
    poly = chain_cost(sizes)
    importance = [np.full(n, 0.5) for n in sizes]
    budget = 0.3 * poly(sizes)
    fast = solver.solve(importance, poly, budget, exact=False)
    exact = solver.solve(importance, poly, budget, exact=True)
    cost_fast = poly([m.sum() for m in fast])
    cost_exact = poly([m.sum() for m in exact])
    assert cost_fast <= cost_exact <= budget


def test_unreachable_budget_is_a_clear_error():
    poly = chain_cost([4, 4])
    with pytest.raises(solver.BudgetError, match="min_channels=2"):
        solver.solve([np.ones(4), np.ones(4)], poly, budget=1.0,
                      min_channels=2)


def test_equal_scores_do_not_empty_a_layer():
    sizes = [16, 32, 64, 64, 64, 64]
    poly = chain_cost(sizes)
    masks = solver.solve([np.full(n, 0.5) for n in sizes], poly,
                         budget=0.1 * poly(sizes))
    assert min(m.sum() for m in masks) > 1


def test_a_stalled_search_names_the_widths_where_it_stopped():
    class Stuck:  # a cost no single group's channels lower
        def __call__(self, widths):
            return 10.0 if min(widths) > 1 else 0.0

        def decrease(self, widths, steps):
            return np.zeros(len(widths))

    with pytest.raises(solver.BudgetError, match=r"at widths \[4, 4\]"):
        solver.solve([np.ones(4), np.ones(4)], Stuck(), budget=1.0)
