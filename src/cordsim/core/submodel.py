"""Submodel, State, Param and Output: how a biological process declares itself.

A submodel declares its states (with units and initial values), its parameters (name,
meaning and unit; values, bounds and sources live in the parameter files), its algebraic
outputs, and the names it reads from other submodels (``inputs``). Its ``outputs`` and
``rates`` methods are pure arithmetic built from :mod:`cordsim.core.mathfn`, so they run
on floats, pint quantities and sympy symbols alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

Initial = float | Callable[["Values"], Any]


@dataclass(frozen=True)
class State:
    """A state variable: meaning, unit and initial value (a number or a function of params).

    ``scale``: its typical magnitude, which sets its absolute solver tolerance
    (``Solver.atol * scale``); by default :data:`cordsim.core.units.TYPICAL_SCALE` of its unit.
    """

    description: str
    unit: str
    initial: Initial = 0.0
    name: str = field(default="", compare=False)
    scale: float | None = None


# What a parameter is for; it decides who may set it and whether animals differ in it.
ROLES = {
    "physiological": "animal biology; varies between animals in cohorts",
    "structural": "a normalization or numerical floor of the model; fixed",
    "injury": "set by the injury (preset or user); severity varies as a covariate",
    "dose_input": "an input rate set by the protocol (infusions)",
    "product": "a property of the product given (cargo, homing); set by the product",
    "experimental": "an experimental manipulation (blockade, depletion, overexpression); "
                    "set by perturbations",
}


@dataclass(frozen=True)
class Param:
    """A parameter declaration: meaning, the unit the rate laws expect, and its role
    (one of :data:`ROLES`)."""

    description: str
    unit: str
    name: str = field(default="", compare=False)
    role: str = "physiological"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"parameter role {self.role!r} is not one of {sorted(ROLES)}")


@dataclass(frozen=True)
class Output:
    """An algebraic quantity computed from states and parameters (readable by other submodels)."""

    description: str
    unit: str
    name: str = field(default="", compare=False)


class Values(Mapping[str, Any]):
    """Read-only attribute access to a fixed set of named values.

    Reading a name outside the set raises ``AttributeError`` naming the owner, which is how
    ``Model.check`` finds undeclared inputs.
    """

    __slots__ = ("_data", "_owner")

    def __init__(self, data: Mapping[str, Any], owner: str = "") -> None:
        object.__setattr__(self, "_data", dict(data))
        object.__setattr__(self, "_owner", owner)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{self._owner or 'values'}: {name!r} is not available here "
                "(declare it as a state, parameter, output or input)"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Values are read-only")

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class Submodel:
    """Base class of every biological process.

    Subclasses declare ``State``, ``Param`` and ``Output`` class attributes, an ``inputs``
    tuple, and implement ``rates`` (and ``outputs`` when they declare any).
    """

    inputs: ClassVar[tuple[str, ...]] = ()
    states: ClassVar[dict[str, State]]
    params: ClassVar[dict[str, Param]]
    output_decls: ClassVar[dict[str, Output]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        states: dict[str, State] = {}
        params: dict[str, Param] = {}
        outputs: dict[str, Output] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, State | Param | Output):
                    named = replace(value, name=key)
                    {State: states, Param: params, Output: outputs}[type(value)][key] = named
        cls.states, cls.params, cls.output_decls = states, params, outputs

    @property
    def name(self) -> str:
        """Snake-case name of the submodel (its section in parameter files).

        Acronyms stay whole: ``SEVUptake`` -> ``sev_uptake``, ``MiRNACargo`` ->
        ``mirna_cargo`` (an acronym ends where a capital starts a lower-case word).
        """
        cls = type(self).__name__.replace("MiRNA", "Mirna")
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls).lower()

    def outputs(self, t: Any, v: Values, p: Values) -> dict[str, Any]:
        """Algebraic outputs as a dict keyed by the declared ``Output`` names."""
        return {}

    def rates(self, t: Any, v: Values, p: Values) -> dict[str, Any]:
        """Time derivative (per day) of each state this submodel owns."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
