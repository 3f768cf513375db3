"""The injury: what happens to the cord at t = 0, by preset severity.

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

from dataclasses import dataclass

from cordsim.data import injury_presets
from cordsim.errors import ScenarioError, did_you_mean


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
        if not isinstance(self.severity, str) or self.severity not in allowed:
            raise ScenarioError(f"unknown severity {self.severity!r}; allowed: "
                                f"{', '.join(allowed)}"
                                f"{did_you_mean(str(self.severity), allowed)}")

    @property
    def description(self) -> str:
        """Human-readable description of the preset."""
        return str(injury_presets()[self.severity]["description"])

    def values(self) -> dict[str, float]:
        """Parameter values the preset sets."""
        preset = injury_presets()[self.severity]
        return {k: float(v) for k, v in preset.items() if k != "description"}
