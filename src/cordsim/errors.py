"""Exceptions raised by cordsim; each message names the offending input and what is allowed."""

from __future__ import annotations

from typing import Any


class CordsimError(Exception):
    """Base class of every cordsim error."""


class ModelError(CordsimError):
    """The assembled model is inconsistent (``Model.check`` lists every problem)."""


class ParameterError(CordsimError, ValueError):
    """An unknown parameter, or a value that is negative, non-finite or malformed."""


class UnitError(ParameterError):
    """A unit that cannot be parsed or is incompatible with the declared one."""


class ScenarioError(CordsimError, ValueError):
    """An unknown severity, species or scenario field, or an unusable output folder."""


class SimulationError(CordsimError, RuntimeError):
    """The solver failed; ``partial`` holds the result computed up to the failure."""

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial
