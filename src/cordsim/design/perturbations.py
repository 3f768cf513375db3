"""Experimental perturbations: blockades, depletions, knock-downs and overexpression.

A perturbation sets one parameter whose declared role is ``experimental`` (e.g.
``marco_activity``: poly-G blocks MARCO; ``macrophage_depletion``: clodronate liposomes;
``tlr4_overexpression``). Perturbations are separate from doses: a dose gives a product, a
perturbation changes the animal the experimenter works on.

Examples
--------
>>> Perturbation("macrophage_depletion", 0.9).values()
{'macrophage_depletion': 0.9}
>>> sorted(experimental_parameters())[:2]
['fibrogenic_drive', 'macrophage_depletion']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cordsim.errors import ScenarioError, did_you_mean


def experimental_parameters() -> dict[str, str]:
    """Parameters a perturbation may set, with their descriptions (role ``experimental``)."""
    from cordsim.biology import CordModel

    return {name: p.description for name, p in CordModel().params.items()
            if p.role == "experimental"}


@dataclass(frozen=True)
class Perturbation:
    """Set an experimental parameter (``cordsim.design.perturbations.experimental_parameters``)
    to ``value`` for the whole experiment."""

    target: str
    value: float

    def __post_init__(self) -> None:
        allowed = experimental_parameters()
        if self.target not in allowed:
            raise ScenarioError(f"unknown perturbation {self.target!r}; allowed: "
                                f"{', '.join(sorted(allowed))}"
                                f"{did_you_mean(str(self.target), allowed)}")
        if (isinstance(self.value, bool) or not isinstance(self.value, int | float)
                or not math.isfinite(self.value) or self.value < 0):
            raise ScenarioError(f"perturbation {self.target}: value must be a number >= 0, "
                                f"got {self.value!r}")

    def values(self) -> dict[str, float]:
        """The parameter value this perturbation sets."""
        return {self.target: float(self.value)}
