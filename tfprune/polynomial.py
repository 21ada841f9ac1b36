"""Costs as polynomials of the number of channels kept in each group.

A cost such as a convolution's parameter count is `k * c_in * c_out`, where
each of `c_in` and `c_out` is either a constant or the width of a prunable
channel group. Every cost tfprune needs is therefore a sum of terms
`coef * w_i * w_j`, where `w_i` is a group's width and index `CONSTANT`
stands for the number 1.
"""

import numpy as np

CONSTANT = -1


def linear(widths):
    """A linear expression `{group_or_CONSTANT: coef}`.

    `widths` holds `(group, count, multiplier)` triples: `multiplier` times
    the width of `group`, or, when `group` is None (channels that are not
    prunable), the constant `multiplier * count`.
    """
    expr = {}
    for group, count, multiplier in widths:
        key = CONSTANT if group is None else group
        value = multiplier * (count if group is None else 1.0)
        expr[key] = expr.get(key, 0.0) + value
    return expr


def scale(expr, factor):
    return {key: coef * factor for key, coef in expr.items()}


def times(a, b):
    """Product of two linear expressions, as polynomial terms."""
    terms = {}
    for i, ca in a.items():
        for j, cb in b.items():
            key = (min(i, j), max(i, j)) if CONSTANT not in (i, j) else (
                max(i, j), CONSTANT)
            terms[key] = terms.get(key, 0.0) + ca * cb
    return terms


def as_terms(expr):
    """A linear expression as polynomial terms (each times the constant)."""
    return times(expr, {CONSTANT: 1.0})


class Polynomial:
    """`sum(coef * w[i] * w[j])` over group widths `w`, with `w[-1] == 1`.

    Examples:
        >>> p = Polynomial(num_groups=2)
        >>> p.add({(0, 1): 9.0, (1, CONSTANT): 1.0})   # 3x3 conv with bias
        >>> p([4, 8])
        296.0
    """

    def __init__(self, num_groups):
        self.num_groups = num_groups
        self.terms = {}

    def add(self, terms, factor=1.0):
        for key, coef in terms.items():
            self.terms[key] = self.terms.get(key, 0.0) + coef * factor
        self._cache = None  # coefficients changed

    def _arrays(self):
        if getattr(self, "_cache", None) is None:
            keys = list(self.terms)
            i = np.array([k[0] for k in keys], dtype=int)
            j = np.array([k[1] for k in keys], dtype=int)
            c = np.array([self.terms[k] for k in keys], dtype=float)
            self._cache = (i, j, c)
        return self._cache

    def _extended(self, widths):
        w = np.asarray(widths, dtype=float).reshape(-1)
        if w.shape != (self.num_groups,):
            raise ValueError(
                f"Expected {self.num_groups} group widths, got {w.shape}."
            )
        return np.append(w, 1.0)  # index -1 is the constant 1

    def __call__(self, widths):
        i, j, c = self._arrays()
        w = self._extended(widths)
        return float(np.sum(c * w[i] * w[j])) if c.size else 0.0

    def decrease(self, widths, steps):
        """Cost saved, per group, by removing `steps[g]` channels of group g.

        Each group is changed alone; the others keep `widths`.
        """
        i, j, c = self._arrays()
        w = self._extended(widths)
        d = np.append(np.asarray(steps, dtype=float), 0.0)
        saved = np.zeros(self.num_groups + 1)
        # term c*w_i*w_j; lowering w_i by d_i (alone) saves c*d_i*w_j, or,
        # when i == j, c*(w_i^2 - (w_i - d_i)^2).
        same = i == j
        np.add.at(saved, i[~same], c[~same] * d[i[~same]] * w[j[~same]])
        np.add.at(saved, j[~same], c[~same] * d[j[~same]] * w[i[~same]])
        np.add.at(saved, i[same],
                  c[same] * (w[i[same]] ** 2 - (w[i[same]] - d[i[same]]) ** 2))
        return saved[:-1]
