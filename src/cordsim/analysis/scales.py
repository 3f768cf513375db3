"""Parameter scales of PEtab (``lin``, ``log``, ``log10``): to and from the scale optimizers
and priors work in."""

from __future__ import annotations

import math


def to_scale(value: float, scale: str) -> float:
    """``value`` in ``scale``."""
    if scale == "log10":
        return math.log10(value)
    if scale == "log":
        return math.log(value)
    return float(value)


def from_scale(x: float, scale: str) -> float:
    """Inverse of :func:`to_scale`."""
    if scale == "log10":
        return float(10.0**x)
    if scale == "log":
        return float(math.exp(x))
    return float(x)
