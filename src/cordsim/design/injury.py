"""Injury presets and species: what happens to the cord at t = 0.

Examples
--------
>>> Injury("moderate").values()["injury_severity"]
0.5
>>> Injury("moderat")
Traceback (most recent call last):
...
cordsim.errors.ScenarioError: unknown severity 'moderat'; allowed: none, mild, moderate, severe, compression (did you mean 'moderate'?)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cordsim.errors import ScenarioError, did_you_mean

PRESET_FILE = Path(__file__).resolve().parent / "parameter_sets" / "injury_presets.toml"
SPECIES = ("rat",)


@cache
def injury_presets() -> dict[str, dict[str, object]]:
    """Injury presets from ``injury_presets.toml``, keyed by severity name."""
    return tomllib.loads(PRESET_FILE.read_text())


def check_species(species: str) -> str:
    """Return ``species`` if cordsim has parameters for it, else raise a ScenarioError."""
    if species not in SPECIES:
        raise ScenarioError(f"unknown species {species!r}; allowed: {', '.join(SPECIES)}"
                            f"{did_you_mean(species, SPECIES)}")
    return species


@dataclass(frozen=True)
class Injury:
    """A spinal cord injury at t = 0, by preset severity.

    Parameters
    ----------
    severity
        One of ``none`` (sham), ``mild``, ``moderate``, ``severe`` or ``compression``.
    """

    severity: str = "moderate"

    def __post_init__(self) -> None:
        allowed = tuple(injury_presets())
        if self.severity not in allowed:
            raise ScenarioError(f"unknown severity {self.severity!r}; allowed: "
                                f"{', '.join(allowed)}{did_you_mean(self.severity, allowed)}")

    @property
    def description(self) -> str:
        """Human-readable description of the preset."""
        return str(injury_presets()[self.severity]["description"])

    def values(self) -> dict[str, float]:
        """Parameter values the preset sets."""
        preset = injury_presets()[self.severity]
        return {k: float(v) for k, v in preset.items() if k != "description"}  # type: ignore[arg-type]
