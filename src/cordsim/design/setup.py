"""Which parameter values a simulated animal gets: the one rule of precedence.

defaults (the species' parameter set) < injury preset < product < scenario ``[parameters]``
< arm ``parameters`` < perturbations < values the user set explicitly on the
:class:`~cordsim.core.ParameterSet` passed in (``ParameterSet.replace``). Only rat has a
parameter set, so the species layer is the set itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cordsim.core import ParameterSet
from cordsim.core.parameters import apply_layers
from cordsim.design.dosing import Protocol
from cordsim.design.injury import Injury
from cordsim.design.perturbations import Perturbation
from cordsim.errors import ParameterError

# Roles a scenario's or arm's ``parameters`` table may not set, and what to use instead.
_NOT_IN_PARAMETERS = {
    "dose_input": "it is set by the protocol's doses",
    "experimental": "use 'perturbations' (e.g. perturbations = {{ {name} = 0.5 }})",
}


def check_overrides(values: Mapping[str, Any], model: Any, where: str) -> None:
    """Refuse parameters a ``parameters`` table may not set (dose inputs, perturbations)."""
    for name in values:
        decl = model.params.get(name)
        if decl is not None and decl.role in _NOT_IN_PARAMETERS:
            hint = _NOT_IN_PARAMETERS[decl.role].format(name=name)
            raise ParameterError(f"{where}: {name!r} cannot be set in parameters: {hint}")


def resolve_parameters(base: ParameterSet, *, model: Any, injury: Injury,
                       protocol: Protocol | None = None,
                       scenario_parameters: Mapping[str, Any] | None = None,
                       arm_parameters: Mapping[str, Any] | None = None,
                       perturbations: Sequence[Perturbation] = ()) -> ParameterSet:
    """The parameter set of one simulated animal (see the module docstring for the order).

    Examples
    --------
    >>> import cordsim
    >>> from cordsim.biology import CordModel
    >>> base = cordsim.default_parameters().replace(injury_severity=0.55)
    >>> ps = resolve_parameters(base, model=CordModel(), injury=Injury("severe"),
    ...                         arm_parameters={"d_neutrophils": "1 1/day"})
    >>> ps["injury_severity"], ps["d_neutrophils"]
    (0.55, 1.0)
    """
    protocol = protocol or Protocol()
    scenario_parameters = dict(scenario_parameters or {})
    arm_parameters = dict(arm_parameters or {})
    check_overrides(scenario_parameters, model, "scenario [parameters]")
    check_overrides(arm_parameters, model, "arm parameters")
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (f"injury preset {injury.severity!r}", injury.values()),
        (f"product {protocol.product!r}", protocol.product_parameters()),
        ("scenario [parameters]", scenario_parameters),
        ("arm parameters", arm_parameters),
        *((f"perturbation {p.target}", p.values()) for p in perturbations),
    ]
    return apply_layers(base, layers)
