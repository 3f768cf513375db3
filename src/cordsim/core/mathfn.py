"""Rate-law helpers that work on floats, NumPy arrays, pint quantities and sympy symbols.

Rate laws are written once with these helpers and no ``if`` on a state, so the same code
is traced to sympy (code generation, Jacobian, SBML) and evaluated with pint (unit checks).

Examples
--------
>>> hill(2.0, 2.0, 1)
0.5
>>> round(inhibit(3.0, 1.0, 1), 3)
0.25
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy


def _is_symbolic(*xs: Any) -> bool:
    return any(isinstance(x, sympy.Basic) for x in xs)


def hill(x: Any, k: Any, n: int = 1) -> Any:
    """Activating Hill function ``x^n / (x^n + k^n)``; 0 at x = 0, 1/2 at x = k.

    ``n`` must be an integer literal so that a slightly negative state (solver noise) never
    gives NaN. ``x`` and ``k`` must have the same unit.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Hill exponent must be a positive integer literal, got {n!r}")
    return x**n / (x**n + k**n)


def inhibit(x: Any, k: Any, n: int = 1) -> Any:
    """Inhibiting Hill function ``k^n / (x^n + k^n)``; 1 at x = 0, 1/2 at x = k."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"Hill exponent must be a positive integer literal, got {n!r}")
    return k**n / (x**n + k**n)


def exp(x: Any) -> Any:
    """Exponential of a dimensionless quantity."""
    if _is_symbolic(x):
        return sympy.exp(x)
    return np.exp(x)


def ratio(a: Any, b: Any, eps: Any) -> Any:
    """``a / (b + eps)``: a fraction that stays finite when ``b`` is zero."""
    return a / (b + eps)


def positive(x: Any, eps: Any) -> Any:
    """Smooth positive part ``(x + sqrt(x^2 + eps^2)) / 2``: ``x`` when ``x >> eps``, ~0 when
    ``x << -eps`` (a rate law's stand-in for ``max(x, 0)``, which has no derivative at 0).

    >>> round(positive(1.0, 1e-3), 6), round(positive(-1.0, 1e-3), 6)
    (1.0, 0.0)
    """
    return (x + (x**2 + eps**2) ** 0.5) / 2


def scale_odds(x: Any, factor: Any) -> Any:
    """Scale the odds of a 0-1 activation ``x`` by ``factor``: ``f x / (f x + 1 - x)``.

    ``factor = 1`` leaves ``x`` unchanged, ``0`` silences it, ``> 1`` (overexpression) raises
    it toward 1 without passing it.

    >>> scale_odds(0.5, 1.0), scale_odds(0.5, 3.0), scale_odds(0.5, 0.0)
    (0.5, 0.75, 0.0)
    """
    return factor * x / (factor * x + 1 - x)
