"""Therapy protocols: products, doses, routes and schedules (spec Section 5).

A :class:`Protocol` is a list of :class:`Dose`. Each dose names a product (``products.toml``),
an amount with units (cells for MSCs; particles or protein mass for sEVs, converted through
the product's purity; ``/kg`` scales by body weight), a route, a schedule and a start day
after injury. The simulation turns a protocol into state jumps (boluses) and piecewise
constant input rates (infusions).

Examples
--------
>>> dose = Dose(product="sev_naive", amount="50 ug", route="iv", schedule="daily", count=3,
...             start=7)
>>> [(t, f"{n:.2g}") for t, n in dose.events("rat")]
[(7.0, '5e+11'), (8.0, '5e+11'), (9.0, '5e+11')]
>>> Dose(product="sev_naive", amount="-1 particle", route="iv")
Traceback (most recent call last):
...
cordsim.errors.ScenarioError: dose amount must be positive, got '-1 particle'
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cordsim.core.units import ureg
from cordsim.errors import ScenarioError, did_you_mean

_DIR = Path(__file__).resolve().parent / "parameter_sets"
ROUTES = ("iv", "intrathecal", "intralesional", "intranasal", "hydrogel")
SCHEDULES = ("bolus", "daily", "times", "infusion")

# Route -> (state a bolus goes into, parameter an infusion sets); one table for both products.
ENTRY = {
    ("sev", "iv"): ("sev_plasma", "input_sev_plasma"),
    ("sev", "intrathecal"): ("sev_csf", "input_sev_csf"),
    ("sev", "intralesional"): ("sev_lesion", "input_sev_lesion"),
    ("sev", "intranasal"): ("sev_nasal", "input_sev_nasal"),
    ("sev", "hydrogel"): ("sev_depot", None),
    ("cells", "iv"): ("msc_lung", "input_msc_lung"),
}
# The state that counts every vesicle given (mass balance); MSCs have none.
INPUT_TOTAL = {"sev": "sev_input_total", "cells": None}


@cache
def products() -> dict[str, dict[str, Any]]:
    """Product presets from ``products.toml``, keyed by name."""
    return tomllib.loads((_DIR / "products.toml").read_text())


@cache
def species_facts() -> dict[str, dict[str, Any]]:
    """Species-level facts (body weight) from ``species.toml``."""
    return tomllib.loads((_DIR / "species.toml").read_text())


def body_weight_kg(species: str) -> float:
    """Body weight used for per-kg doses."""
    rec = species_facts()[species]["body_weight"]
    return float(ureg.Quantity(rec["value"], rec["unit"]).to("kg").magnitude)


def product(name: str) -> dict[str, Any]:
    """One product preset, or a ScenarioError naming the allowed products."""
    table = products()
    if name not in table:
        raise ScenarioError(f"unknown product {name!r}; allowed: {', '.join(table)}"
                            f"{did_you_mean(name, list(table))}")
    return table[name]


_AMOUNT = re.compile(r"^\s*(\S+)\s*(.*?)\s*$")


def parse_amount(text: str, product_name: str, species: str) -> float:
    """Convert an amount such as ``"1e6 cell"``, ``"100 ug"`` or ``"2e10 particle/kg"``.

    Returns cells (MSC products) or particles (sEV products) per dose, per-kg amounts scaled
    by the species' body weight.
    """
    prod = product(product_name)
    if not isinstance(text, str):
        raise ScenarioError(f"dose amount must be a string with a unit, e.g. '1e9 particle', "
                            f"got {text!r}")
    match = _AMOUNT.match(text)
    if not match or not match.group(2):
        raise ScenarioError(f"dose amount {text!r} has no unit; give e.g. "
                            f"{'1e6 cell' if prod['kind'] == 'cells' else '1e9 particle or 50 ug'}")
    try:
        number = float(match.group(1))
    except ValueError:
        raise ScenarioError(f"dose amount {text!r} does not start with a number") from None
    if not math.isfinite(number) or number <= 0:
        raise ScenarioError(f"dose amount must be positive, got {text!r}")
    unit = match.group(2).replace(" ", "")
    per_kg = unit.endswith("/kg")
    if per_kg:
        unit = unit[: -len("/kg")]
    try:
        qty = ureg.Quantity(number, unit)
    except Exception:  # noqa: BLE001 - pint raises several types
        raise ScenarioError(f"dose amount {text!r}: unknown unit {unit!r}") from None
    if prod["kind"] == "cells":
        if not qty.is_compatible_with("cell"):
            raise ScenarioError(f"dose amount {text!r}: {product_name} is dosed in cells "
                                f"(e.g. '1e6 cell'), not {unit!r}")
        value = qty.to("cell").magnitude
    elif qty.is_compatible_with("particle"):
        value = qty.to("particle").magnitude
    elif qty.is_compatible_with("ug"):
        purity = ureg.Quantity(prod["purity"])
        value = (qty * purity).to("particle").magnitude
    else:
        raise ScenarioError(f"dose amount {text!r}: {product_name} is dosed in particles or "
                            f"protein mass (e.g. '1e9 particle', '50 ug'), not {unit!r}")
    return float(value * (body_weight_kg(species) if per_kg else 1.0))


@dataclass(frozen=True)
class Dose:
    """One line of a protocol.

    Parameters
    ----------
    product
        A product preset name (``cordsim products``).
    amount
        Amount per administration (``bolus``, ``daily``, ``times``) or in total
        (``infusion``), with a unit; ``/kg`` for per-body-weight doses.
    route
        ``iv``, ``intrathecal``, ``intralesional``, ``intranasal`` or ``hydrogel``.
    schedule
        ``bolus`` (once at ``start``), ``daily`` (``count`` doses a day apart), ``times``
        (at ``start`` + each of ``times``) or ``infusion`` (constant rate over ``duration``).
    start
        Day after injury of the first administration (>= 0: cordsim models treatment of an
        existing injury).
    """

    product: str
    amount: str
    route: str = "iv"
    schedule: str = "bolus"
    start: float = 0.0
    count: int = 1
    times: tuple[float, ...] = ()
    duration: float | None = None

    def __post_init__(self) -> None:
        prod = product(self.product)
        if self.route not in ROUTES:
            raise ScenarioError(f"unknown route {self.route!r}; allowed: {', '.join(ROUTES)}"
                                f"{did_you_mean(self.route, ROUTES)}")
        if self.route not in prod["routes"]:
            raise ScenarioError(f"route {self.route!r} is not modelled for product "
                                f"{self.product!r}; allowed: {', '.join(prod['routes'])}")
        if self.schedule not in SCHEDULES:
            raise ScenarioError(f"unknown schedule {self.schedule!r}; allowed: "
                                f"{', '.join(SCHEDULES)}{did_you_mean(self.schedule, SCHEDULES)}")
        if not (isinstance(self.start, int | float) and math.isfinite(self.start)):
            raise ScenarioError(f"dose start must be a number of days, got {self.start!r}")
        if self.start < 0:
            raise ScenarioError(f"dose start {self.start} is before the injury (day 0); "
                                f"cordsim models treatment after injury, start must be >= 0")
        if self.schedule == "daily" and (not isinstance(self.count, int) or self.count < 1):
            raise ScenarioError(f"daily schedule needs count >= 1, got {self.count!r}")
        if self.schedule == "times":
            if not self.times or any(not math.isfinite(t) or t < 0 for t in self.times):
                raise ScenarioError("schedule 'times' needs a non-empty list of days >= 0 "
                                    f"(offsets from start), got {self.times!r}")
        if self.schedule == "infusion":
            if self.duration is None:
                raise ScenarioError("schedule 'infusion' needs a duration in days")
            if not (math.isfinite(self.duration) and self.duration > 0):
                raise ScenarioError(f"infusion duration must be positive, got {self.duration!r}")
            if ENTRY[(prod["kind"], self.route)][1] is None:
                raise ScenarioError(f"route {self.route!r} cannot be infused (a hydrogel is "
                                    f"placed once); use schedule 'bolus'")
        parse_amount(self.amount, self.product, "rat")  # fail early on a bad amount

    @property
    def kind(self) -> str:
        """``cells`` or ``sev``."""
        return str(product(self.product)["kind"])

    @property
    def entry_state(self) -> str:
        """The state a bolus of this dose goes into."""
        return ENTRY[(self.kind, self.route)][0]

    @property
    def bolus_states(self) -> tuple[str, ...]:
        """The states a bolus adds its amount to: the entry state and the input counter."""
        total = INPUT_TOTAL[self.kind]
        return (self.entry_state, total) if total else (self.entry_state,)

    @property
    def entry_param(self) -> str | None:
        """The input-rate parameter an infusion of this dose sets."""
        return ENTRY[(self.kind, self.route)][1]

    def events(self, species: str) -> list[tuple[float, float]]:
        """Bolus administrations as (day, amount in cells or particles); none for infusions."""
        amount = parse_amount(self.amount, self.product, species)
        if self.schedule == "bolus":
            return [(float(self.start), amount)]
        if self.schedule == "daily":
            return [(float(self.start + i), amount) for i in range(self.count)]
        if self.schedule == "times":
            return [(float(self.start + t), amount) for t in self.times]
        return []

    def infusion(self, species: str) -> tuple[float, float, float] | None:
        """(start, end, rate per day) of an infusion, else None."""
        if self.schedule != "infusion":
            return None
        total = parse_amount(self.amount, self.product, species)
        assert self.duration is not None
        return float(self.start), float(self.start + self.duration), total / self.duration

    def total(self, species: str) -> float:
        """Everything this dose delivers, in cells or particles."""
        inf = self.infusion(species)
        if inf:
            return inf[2] * (inf[1] - inf[0])
        return sum(a for _, a in self.events(species))

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (recorded in results)."""
        out: dict[str, Any] = {"product": self.product, "amount": self.amount,
                               "route": self.route, "schedule": self.schedule,
                               "start": self.start}
        if self.schedule == "daily":
            out["count"] = self.count
        if self.schedule == "times":
            out["times"] = list(self.times)
        if self.schedule == "infusion":
            out["duration"] = self.duration
        return out


@dataclass(frozen=True)
class Protocol:
    """A treatment: doses of one product (the product sets the cargo of every vesicle).

    An empty protocol is the vehicle (PBS) control.
    """

    doses: tuple[Dose, ...] = ()
    name: str = "vehicle"
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {d.product for d in self.doses}
        if len(names) > 1:
            raise ScenarioError(f"a protocol gives one product (its cargo sets every vesicle's "
                                f"cargo); got {sorted(names)}")

    @property
    def product(self) -> str | None:
        """The product given, or None for the vehicle."""
        return self.doses[0].product if self.doses else None

    def product_parameters(self) -> dict[str, float]:
        """Model parameters the product sets (cargo, homing)."""
        if not self.doses:
            return {}
        return {k: float(v) for k, v in product(self.doses[0].product)["parameters"].items()}

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (recorded in results)."""
        return {"name": self.name, "doses": [d.as_dict() for d in self.doses],
                "parameters": {k: str(v) for k, v in self.parameters.items()}}
