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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cordsim.core.units import check_unit_text, parse_quantity, registry
from cordsim.data import products, species_facts
from cordsim.errors import ScenarioError, did_you_mean

ROUTES = ("iv", "intrathecal", "intralesional", "intranasal", "hydrogel")
SCHEDULES = ("bolus", "daily", "times", "infusion")
MAX_ADMINISTRATIONS = 1000  # per dose line: daily count or explicit times
MAX_DAY = 3650.0  # ten years: the longest simulation cordsim accepts (days)

# Route -> (state a bolus goes into, parameter an infusion sets); one table for both products.
ENTRY = {
    ("sev", "iv"): ("sev_plasma", "input_sev_plasma"),
    ("sev", "intrathecal"): ("sev_csf", "input_sev_csf"),
    ("sev", "intralesional"): ("sev_lesion", "input_sev_lesion"),
    ("sev", "intranasal"): ("sev_nasal", "input_sev_nasal"),
    ("sev", "hydrogel"): ("sev_depot", None),
    ("cells", "iv"): ("msc_lung", "input_msc_lung"),
    ("cells", "intrathecal"): ("msc_csf", "input_msc_csf"),
    ("cells", "intralesional"): ("msc_graft", "input_msc_lesion"),
}
# The state that counts everything given (mass balance).
INPUT_TOTAL = {"sev": "sev_input_total", "cells": "msc_input_total"}


def bolus_states_of(entry_state: str) -> tuple[str, ...]:
    """The states a bolus into ``entry_state`` adds to: the entry state and the input
    counter of the mass balance."""
    for (kind, _), (state, _) in ENTRY.items():
        if state == entry_state:
            total = INPUT_TOTAL[kind]
            return (state, total) if total else (state,)
    raise ScenarioError(f"{entry_state!r} is not a dose entry state; allowed: "
                        f"{sorted({s for s, _ in ENTRY.values()})}")


def entry_of(state: str) -> tuple[str, str]:
    """(product kind, route) of the doses that enter ``state``."""
    for (kind, route), (entry, _) in ENTRY.items():
        if entry == state:
            return kind, route
    raise ScenarioError(f"{state!r} is not a dose entry state")


def body_weight_kg(species: str) -> float:
    """Body weight used for per-kg doses."""
    rec = species_facts()[species]["body_weight"]
    return float(registry().Quantity(rec["value"], rec["unit"]).to("kg").magnitude)


def product(name: str) -> dict[str, Any]:
    """One product preset, or a ScenarioError naming the allowed products."""
    table = products()
    if not isinstance(name, str) or name not in table:
        raise ScenarioError(f"unknown product {name!r}; allowed: {', '.join(table)}"
                            f"{did_you_mean(str(name), list(table))}")
    return table[name]


_AMOUNT = re.compile(r"^\s*(\S+)\s*(.*?)\s*$")


def parse_amount(text: str, product_name: str, species: str) -> float:
    """Convert an amount such as ``"1e6 cell"``, ``"100 ug"`` or ``"2e10 particle/kg"``.

    Returns cells (MSC products) or particles (sEV products) per dose, per-kg amounts scaled
    by the species' body weight.
    """
    prod = product(product_name)
    if not isinstance(text, str) or len(text) > 80:
        shown = text if not isinstance(text, str) else text[:40] + "..."
        raise ScenarioError(f"dose amount must be a string with a unit, e.g. '1e9 particle', "
                            f"got {shown!r}")
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
        qty = registry().Quantity(number, check_unit_text(unit))
    except Exception:  # noqa: BLE001 - pint raises several types
        raise ScenarioError(f"dose amount {text!r}: unknown unit {unit!r}") from None
    if any(name.endswith("mole") for name, _ in qty.unit_items()):
        # pint counts a particle as 1/N_A mol, so '1e-12 mol' would be taken as ~6e11
        # vesicles: a vesicle is not a molecule and moles are no dose unit of cordsim's
        example = "'1e6 cell'" if prod["kind"] == "cells" else "'1e9 particle' or '50 ug'"
        raise ScenarioError(f"dose amount {text!r}: moles are not a dose unit (a vesicle is "
                            f"not a molecule); give e.g. {example}")
    if prod["kind"] == "cells":
        if not qty.is_compatible_with("cell"):
            raise ScenarioError(f"dose amount {text!r}: {product_name} is dosed in cells "
                                f"(e.g. '1e6 cell'), not {unit!r}")
        value = qty.to(DOSE_UNIT["cells"]).magnitude
    elif qty.is_compatible_with(DOSE_UNIT["sev"]):
        value = qty.to(DOSE_UNIT["sev"]).magnitude
    elif qty.is_compatible_with("ug"):
        purity = registry().Quantity(*parse_quantity(prod["purity"]))
        value = (qty * purity).to(DOSE_UNIT["sev"]).magnitude
    else:
        raise ScenarioError(f"dose amount {text!r}: {product_name} is dosed in particles or "
                            f"protein mass (e.g. '1e9 particle', '50 ug'), not {unit!r}")
    value = float(value * (body_weight_kg(species) if per_kg else 1.0))
    largest = MAX_DOSE[prod["kind"]]
    if value > largest:
        raise ScenarioError(f"dose amount {text!r} is {value:.3g} "
                            f"{DOSE_UNIT[prod['kind']]}s per dose, "
                            f"beyond the {largest:.0e} cordsim accepts (published rat doses "
                            f"reach ~1e7 cells or ~2e12 particles); check the unit")
    return value


# Largest amount per dose, by product kind: 100x beyond any published rat dose, so that a
# unit slip ('100 kg' for '100 ug') is refused instead of failing in the solver.
MAX_DOSE = {"cells": 1e9, "sev": 1e15}
# The unit each product kind is counted in, and the units a dose amount may be given in.
DOSE_UNIT = {"cells": "cell", "sev": "particle"}
AMOUNT_UNITS = {"cells": ("cell", "cell/kg"), "sev": ("particle", "ug", "particle/kg", "ug/kg")}


def administration_days(schedule: str, start: float, count: int = 1,
                        times: Sequence[float] = ()) -> list[float]:
    """Days of a dose line's administrations: ``count`` a day apart (``daily``), ``start`` +
    each of ``times`` (``times``), else ``start`` alone (``bolus``; an infusion's start)."""
    if schedule == "daily":
        return [float(start + i) for i in range(int(count))]
    if schedule == "times":
        return [float(start + t) for t in times]
    return [float(start)]


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
        if not _is_number(self.start) or not math.isfinite(self.start):
            raise ScenarioError(f"dose start must be a number of days, got {self.start!r}")
        if self.start < 0:
            raise ScenarioError(f"dose start {self.start} is before the injury (day 0); "
                                f"cordsim models treatment after injury, start must be >= 0")
        if self.start > MAX_DAY:
            raise ScenarioError(f"dose start {self.start} is beyond day {MAX_DAY:g}, the "
                                "longest simulation cordsim runs")
        if self.schedule == "daily" and (isinstance(self.count, bool)
                                         or not isinstance(self.count, int)
                                         or not 1 <= self.count <= MAX_ADMINISTRATIONS):
            raise ScenarioError(f"daily schedule needs an integer count between 1 and "
                                f"{MAX_ADMINISTRATIONS}, got {self.count!r}")
        if self.schedule != "daily" and self.count != 1:
            raise ScenarioError(f"count applies to the 'daily' schedule only, got count "
                                f"{self.count!r} with schedule {self.schedule!r} (which would "
                                f"ignore it); use schedule 'daily' with count, or 'times'")
        if self.schedule == "times":
            if (not isinstance(self.times, tuple) or not self.times
                    or len(self.times) > MAX_ADMINISTRATIONS
                    or any(not _is_number(t) or not math.isfinite(t) or not 0 <= t <= MAX_DAY
                           for t in self.times)):
                raise ScenarioError(f"schedule 'times' needs a list of 1-{MAX_ADMINISTRATIONS} "
                                    f"day offsets from start, each 0-{MAX_DAY:g}, got "
                                    f"{self.times!r}"[:300])

        if self.schedule == "infusion":
            if self.duration is None:
                raise ScenarioError("schedule 'infusion' needs a duration in days")
            if (not _is_number(self.duration) or not math.isfinite(self.duration)
                    or not 0 < self.duration <= MAX_DAY):
                raise ScenarioError(f"infusion duration must be a positive number of days "
                                    f"(at most {MAX_DAY:g}), got {self.duration!r}")
            if ENTRY[(prod["kind"], self.route)][1] is None:
                raise ScenarioError(f"route {self.route!r} cannot be infused (a hydrogel is "
                                    f"placed once); use schedule 'bolus'")
        parse_amount(self.amount, self.product, "rat")  # fail early on a bad amount

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dose:
        """A dose from its JSON form (as in the dataset's ``protocol`` column): lists become tuples."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

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
        return bolus_states_of(self.entry_state)

    @property
    def entry_param(self) -> str | None:
        """The input-rate parameter an infusion of this dose sets."""
        return ENTRY[(self.kind, self.route)][1]

    def events(self, species: str) -> list[tuple[float, float]]:
        """Bolus administrations as (day, amount in cells or particles); none for infusions."""
        if self.schedule == "infusion":
            return []
        amount = parse_amount(self.amount, self.product, species)
        return [(day, amount) for day in
                administration_days(self.schedule, self.start, self.count, self.times)]

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

    @property
    def last_day(self) -> float:
        """Day of the last administration (the end of an infusion)."""
        if self.schedule == "daily":
            return float(self.start + self.count - 1)
        if self.schedule == "times":
            return float(self.start + max(self.times))
        if self.schedule == "infusion":
            assert self.duration is not None
            return float(self.start + self.duration)
        return float(self.start)

    def check_within(self, days: float) -> str | None:
        """Refuse administrations after the simulated ``days``; for an infusion that runs
        past the end, return a warning with the share that is delivered."""
        if self.schedule == "infusion":
            if self.start >= days:
                raise ScenarioError(f"infusion of {self.product} starts at day {self.start:g}, "
                                    f"after the last simulated day ({days:g})")
            if self.last_day > days:
                share = (days - self.start) / (self.last_day - self.start)
                return (f"infusion of {self.product} runs to day {self.last_day:g}, past the "
                        f"last simulated day ({days:g}): {100 * share:.3g}% of its "
                        f"{self.amount} is delivered")
            return None
        if self.last_day > days:
            late = [t for t, _ in self.events("rat") if t > days]
            raise ScenarioError(f"{len(late)} administration(s) of {self.product} fall after "
                                f"the last simulated day ({days:g}), the first at day "
                                f"{late[0]:g}: lengthen 'days' or move the doses")
        return None

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

    def __post_init__(self) -> None:
        if not isinstance(self.doses, tuple) or not all(isinstance(d, Dose) for d in self.doses):
            raise ScenarioError(f"a protocol's doses must be a tuple of Dose, got "
                                f"{self.doses!r}"[:200])
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
        return {"name": self.name, "doses": [d.as_dict() for d in self.doses]}


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)
