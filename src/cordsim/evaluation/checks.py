"""Checks and claims: a published behaviour, its source, and whether cordsim shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """Outcome of one claim: the simulated value as text and whether it passed."""

    simulated: str
    passed: bool
    expected: str | None = None  # overrides the claim's text when the check states it


@dataclass(frozen=True)
class Claim:
    """A published behaviour the model must reproduce."""

    id: str
    claim: str
    source: str
    expected: str
    check: Callable[[Any], Check]
