"""Protocol variants: one dose line described by settings a study designer changes.

Scans and the protocol optimiser vary the same seven settings of an arm's dose line:

``dose``      amount per administration, in the unit of the arm's own amount (e.g. particle,
              ug, cell; a number, or text with a unit)
``start``     day of the first administration
``count``     number of administrations
``interval``  days between administrations (when ``count`` > 1)
``duration``  days of a continuous infusion delivering ``dose`` x ``count`` (0: injections)
``route``     iv, intrathecal, intralesional, intranasal, hydrogel (what the product allows)
``product``   a product preset of the same kind as the arm's (cells or sEVs)

Examples
--------
>>> from cordsim.design.dosing import Dose, Protocol
>>> own = Protocol((Dose("sev_naive", "2.4e10 particle", schedule="daily", count=3,
...                      start=7),), name="fractionated")
>>> settings_of(own)
{'dose': 24000000000.0, 'unit': 'particle', 'start': 7.0, 'count': 3, 'interval': 1.0, 'duration': 0.0, 'route': 'iv', 'product': 'sev_naive'}
>>> vary(own, count=1).doses[0].schedule
'bolus'
>>> vary(own, route="nose")
Traceback (most recent call last):
...
cordsim.errors.ScenarioError: unknown route 'nose'; allowed: iv, intrathecal, intralesional, intranasal, hydrogel
"""

from __future__ import annotations

import math
from typing import Any

from cordsim.design.dosing import Dose, Protocol, product
from cordsim.errors import ScenarioError, did_you_mean

SETTINGS = ("dose", "start", "count", "interval", "duration", "route", "product")


def settings_of(protocol: Protocol) -> dict[str, Any]:
    """The settings of a protocol's single dose line (bolus, daily, times or infusion)."""
    if len(protocol.doses) != 1:
        what = "no dose (a vehicle arm)" if not protocol.doses else \
            f"{len(protocol.doses)} dose lines"
        raise ScenarioError(f"protocol {protocol.name!r} has {what}; scans and the optimiser "
                            "vary an arm with exactly one dose line")
    d = protocol.doses[0]
    number, _, unit = d.amount.strip().partition(" ")
    per = float(number)
    count, interval, duration = 1, 1.0, 0.0
    if d.schedule == "daily":
        count = d.count
    elif d.schedule == "times":
        offsets = sorted(d.times)
        count = len(offsets)
        interval = (offsets[-1] - offsets[0]) / (count - 1) if count > 1 else 1.0
    elif d.schedule == "infusion":
        duration = float(d.duration or 0.0)
    start = float(d.start) + (min(d.times) if d.schedule == "times" else 0.0)
    return {"dose": per, "unit": unit.strip(), "start": start, "count": count,
            "interval": float(interval), "duration": duration, "route": d.route,
            "product": d.product}


def vary(protocol: Protocol, **changes: Any) -> Protocol:
    """A copy of ``protocol`` (one dose line) with some settings changed (see the module
    docstring); the name records the changes."""
    unknown = [k for k in changes if k not in SETTINGS]
    if unknown:
        raise ScenarioError(f"unknown protocol setting {unknown[0]!r}; allowed: "
                            f"{', '.join(SETTINGS)}{did_you_mean(unknown[0], SETTINGS)}")
    s = {**settings_of(protocol), **changes}
    if isinstance(s["dose"], str):
        amount = s["dose"]
    else:
        amount = f"{_positive(s['dose'], 'dose'):.6g} {s['unit']}"
    count = s["count"]
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ScenarioError(f"count must be a positive integer, got {count!r}")
    duration = float(s["duration"] or 0.0)
    start = float(s["start"])
    if duration > 0:
        number, _, unit = amount.partition(" ")
        total = f"{float(number) * count:.6g} {unit}"
        dose = Dose(s["product"], total, s["route"], "infusion", start, duration=duration)
    elif count == 1:
        dose = Dose(s["product"], amount, s["route"], "bolus", start)
    else:
        interval = _positive(s["interval"], "interval")
        if interval == 1.0:
            dose = Dose(s["product"], amount, s["route"], "daily", start, count=count)
        else:
            dose = Dose(s["product"], amount, s["route"], "times", start,
                        times=tuple(i * interval for i in range(count)))
    if product(s["product"])["kind"] != product(protocol.doses[0].product)["kind"]:
        raise ScenarioError(f"product {s['product']!r} is not of the kind of "
                            f"{protocol.doses[0].product!r} (cells vs sEVs): its dose unit "
                            "differs")
    shown = ", ".join(f"{k}={v}" for k, v in changes.items())
    return Protocol((dose,), name=f"{protocol.name} ({shown})" if shown else protocol.name)


def total_dose(protocol: Protocol, species: str = "rat") -> float:
    """Everything the protocol delivers, in cells or particles."""
    return float(sum(d.total(species) for d in protocol.doses))


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise ScenarioError(f"{name} must be a positive number, got {value!r}")
    return float(value)
