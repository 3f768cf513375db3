"""Exceptions raised by cordsim; each message names the offending input and what is allowed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def did_you_mean(name: str, allowed: Iterable[str], cutoff: float = 0.5) -> str:
    """`` (did you mean 'x'?)`` for the closest allowed name, or an empty string.

    >>> did_you_mean("moderat", ["mild", "moderate"])
    " (did you mean 'moderate'?)"
    """
    close = difflib.get_close_matches(str(name), list(allowed), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
