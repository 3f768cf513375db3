"""Units: one pint registry for the package; internal time is days.

Values are stored as plain floats in each quantity's declared unit. pint is used at the
edges (loading parameter files, user input) and by ``Model.check`` to verify the dimensions
of every rate law.

Examples
--------
>>> convert(1.0, "hour", "day")
0.041666666666666664
>>> parse_unit("cell/mm^3").dimensionality == ureg("cell/mm^3").dimensionality
True
"""

from __future__ import annotations

import pint

from cordsim.errors import UnitError

ureg = pint.UnitRegistry()
ureg.define("cell = [cell_count]")
# "particle" is pint's own counting unit (1/N_A mol); redefining it leaves stale
# conversion caches, so cordsim uses it as is.
ureg.define("copy = [molecule_count]")

TIME_UNIT = "day"

# Typical magnitude of a state in each unit (the order of its peak in cordsim's rat
# scenarios). The solver's absolute tolerance for a state is ``Solver.atol`` times this:
# 1e-9 of a tissue fraction and 1e-9 of a 1e9-particle dose are comparable accuracies,
# 1e-9 particle is not. A state may declare its own ``scale``.
TYPICAL_SCALE = {"1": 1.0, "cell/mm^3": 1e3, "pg/mL": 1e2, "ng/mL": 10.0, "cell": 1e6,
                 "particle": 1e9, "copy": 1e5}


def parse_unit(unit: str) -> pint.Unit:
    """Parse a unit string, raising :class:`UnitError` naming it if pint cannot."""
    try:
        return ureg.parse_units(unit)
    except (pint.errors.UndefinedUnitError, ValueError, AttributeError, TypeError) as exc:
        raise UnitError(f"cannot parse unit {unit!r}: {exc}") from None


def convert(value: float, from_unit: str, to_unit: str, *, what: str = "value") -> float:
    """Convert ``value`` from one unit to another, or raise a :class:`UnitError` naming both."""
    try:
        return float(ureg.Quantity(value, parse_unit(from_unit)).to(parse_unit(to_unit)).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"{what}: unit {from_unit!r} is not compatible with {to_unit!r} "
            f"({parse_unit(from_unit).dimensionality} vs {parse_unit(to_unit).dimensionality})"
        ) from None


def same_dimension(a: str, b: str) -> bool:
    """True if two unit strings have the same dimensionality."""
    return parse_unit(a).dimensionality == parse_unit(b).dimensionality
