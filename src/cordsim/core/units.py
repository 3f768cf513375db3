"""Units: one pint registry for the package; internal time is days.

Values are stored as plain floats in each quantity's declared unit. pint is used at the
edges (loading parameter files, user input) and by ``Model.check`` to verify the dimensions
of every rate law. User text is parsed by :func:`parse_quantity`, never by pint's expression
evaluator (which would run ``9**9**9`` for hours).

Examples
--------
>>> convert(1.0, "hour", "day")
0.041666666666666664
>>> parse_unit("cell/mm^3").dimensionality == registry()("cell/mm^3").dimensionality
True
>>> parse_quantity("0.6 1/day")
(0.6, '1/day')
>>> parse_quantity("9**9**9 1/day")
Traceback (most recent call last):
...
cordsim.errors.UnitError: cannot parse unit '**9**9 1/day': use names, '/', '*' and small integer powers such as 'cell/mm^3'
"""

from __future__ import annotations

import re
import tokenize
from functools import cache

import pint

from cordsim.errors import UnitError


@cache
def registry() -> pint.UnitRegistry:
    """cordsim's pint registry (built on first use: pint reads its definitions file)."""
    ureg = pint.UnitRegistry()
    ureg.define("cell = [cell_count]")
    # "particle" is pint's own counting unit (1/N_A mol); redefining it leaves stale
    # conversion caches, so cordsim uses it as is.
    ureg.define("copy = [molecule_count]")
    return ureg


TIME_UNIT = "day"

# Typical magnitude of a state in each unit (the order of its peak in cordsim's rat
# scenarios). The solver's absolute tolerance for a state is ``Solver.atol`` times this:
# 1e-9 of a tissue fraction and 1e-9 of a 1e9-particle dose are comparable accuracies,
# 1e-9 particle is not. A state may declare its own ``scale``.
TYPICAL_SCALE = {"1": 1.0, "cell/mm^3": 1e3, "pg/mL": 1e2, "ng/mL": 10.0, "cell": 1e6,
                 "particle": 1e9, "copy": 1e5}

MAX_UNIT_LENGTH = 60
MAX_EXPONENT = 12
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})\s*(.*?)\s*$")
_UNIT_CHARS = re.compile(r"^[A-Za-z_µμ°0-9/*^(). -]*$")
_EXPONENT = re.compile(r"(\*\*|\^)\s*\(?\s*([+-]?[\d.]+)\s*\)?")
_CHAINED = re.compile(r"(\*\*|\^)\s*\(?\s*[+-]?[\d.]+\s*\)?\s*(\*\*|\^)")


def check_unit_text(unit: str) -> str:
    """Reject unit text pint could choke on: too long, odd characters, huge or chained
    exponents. Returns the text unchanged."""
    if not isinstance(unit, str):
        raise UnitError(f"a unit must be text, got {unit!r}")
    if len(unit) > MAX_UNIT_LENGTH:
        raise UnitError(f"unit {unit[:30]!r}... is longer than {MAX_UNIT_LENGTH} characters")
    if not _UNIT_CHARS.match(unit) or _CHAINED.search(unit):
        raise UnitError(f"cannot parse unit {unit!r}: use names, '/', '*' and small integer "
                        "powers such as 'cell/mm^3'")
    for match in _EXPONENT.finditer(unit):
        try:
            power = float(match.group(2))
        except ValueError:
            power = float("inf")
        if abs(power) > MAX_EXPONENT:
            raise UnitError(f"unit {unit!r}: power {match.group(2)} is out of range "
                            f"(at most {MAX_EXPONENT})")
    return unit


def parse_unit(unit: str) -> pint.Unit:
    """Parse a unit string, raising :class:`UnitError` naming it if pint cannot."""
    check_unit_text(unit)
    try:
        return registry().parse_units(unit)
    except (AssertionError, tokenize.TokenError):  # pint's parser, on such text
        raise UnitError(f"cannot parse unit {unit!r}: a dangling operator or an unclosed "
                        f"bracket") from None
    except (pint.errors.PintError, ValueError, AttributeError, TypeError, KeyError,
            SyntaxError, ZeroDivisionError) as exc:
        raise UnitError(f"cannot parse unit {unit!r}: {exc}") from None


def parse_quantity(text: str) -> tuple[float, str]:
    """Split ``'number unit'`` text into a float and a checked unit string (``'1'`` when
    no unit is given)."""
    match = _QUANTITY.match(text) if isinstance(text, str) and len(text) <= 100 else None
    if not match:
        shown = text if not isinstance(text, str) or len(text) <= 40 else text[:40] + "..."
        raise UnitError(f"cannot read {shown!r} as 'number unit' (e.g. '0.5 1/day')")
    unit = match.group(2) or "1"
    parse_unit(unit)
    return float(match.group(1)), unit


def convert(value: float, from_unit: str, to_unit: str, *, what: str = "value") -> float:
    """Convert ``value`` from one unit to another, or raise a :class:`UnitError` naming both."""
    try:
        quantity = registry().Quantity(value, parse_unit(from_unit))
        return float(quantity.to(parse_unit(to_unit)).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"{what}: unit {from_unit!r} is not compatible with {to_unit!r} "
            f"({parse_unit(from_unit).dimensionality} vs {parse_unit(to_unit).dimensionality})"
        ) from None


def same_dimension(a: str, b: str) -> bool:
    """True if two unit strings have the same dimensionality."""
    return parse_unit(a).dimensionality == parse_unit(b).dimensionality
