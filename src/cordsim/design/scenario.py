"""Scenario files: species, injury, arms (protocols and perturbations), duration, in TOML.

A scenario compares one or more arms after the same injury. Format (all keys but
``[[arms]]`` optional)::

    name = "fractionated-vs-msc"
    description = "..."
    species = "rat"
    injury = "moderate"          # none, mild, moderate, severe, compression
    days = 70
    dt = 0.5                     # output interval, days

    [parameters]                 # overrides for every arm: value or "value unit"
    d_neutrophils = "0.6 1/day"

    [[arms]]
    name = "vehicle"             # no doses: PBS control

    [[arms]]
    name = "fractionated sEV + poly-G"
    parameters = { }                          # per-arm overrides
    perturbations = { marco_activity = 0.3 }  # experimental manipulations
    doses = [ { product = "sev_naive", amount = "2.4e10 particle", route = "iv",
                schedule = "daily", count = 3, start = 7 } ]

The structure is validated by a schema (pydantic): every error names the key (e.g.
``arms[2].doses[1].count``) and the form it allows. Dose keys: product, amount, route,
schedule (bolus, daily, times, infusion), start, count, times, duration (see
:class:`cordsim.design.dosing.Dose`). Built-in scenarios live in ``cordsim/data/scenarios``;
``cordsim run NAME`` finds them by name.
"""

from __future__ import annotations

import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as _ValidationError

from cordsim.core.files import read_text_limited
from cordsim.data import builtin_scenarios, check_species
from cordsim.design.dosing import MAX_ADMINISTRATIONS, MAX_DAY, Dose, Protocol
from cordsim.design.injury import Injury
from cordsim.design.perturbations import Perturbation
from cordsim.errors import CordsimError, ScenarioError, did_you_mean

MAX_OUTPUT_POINTS = 100_000  # rows of a time course (days / dt)
MAX_ARMS = 50
MAX_NAME = 100
MAX_TEXT = 2000

Number = StrictInt | StrictFloat
ParamValue = Number | Annotated[StrictStr, Field(max_length=100)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]
Text = Annotated[StrictStr, Field(max_length=MAX_TEXT)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DoseSpec(_Spec):
    """One dose line as written in a scenario file."""

    product: Annotated[StrictStr, Field(max_length=40)]
    amount: Annotated[StrictStr, Field(max_length=80)]
    route: Annotated[StrictStr, Field(max_length=40)] = "iv"
    schedule: Annotated[StrictStr, Field(max_length=40)] = "bolus"
    start: Annotated[Number, Field(ge=0, le=MAX_DAY)] = 0.0
    count: Annotated[StrictInt, Field(ge=1, le=MAX_ADMINISTRATIONS)] = 1
    times: Annotated[list[Annotated[Number, Field(ge=0, le=MAX_DAY)]],
                     Field(max_length=MAX_ADMINISTRATIONS)] = []
    duration: Annotated[Number, Field(gt=0, le=MAX_DAY)] | None = None


class ArmSpec(_Spec):
    """One arm as written in a scenario file."""

    name: Name | None = None
    doses: Annotated[list[DoseSpec], Field(max_length=50)] = []
    parameters: Annotated[dict[StrictStr, ParamValue], Field(max_length=500)] = {}
    perturbations: Annotated[dict[StrictStr, Number], Field(max_length=50)] = {}
    injury: Annotated[StrictStr, Field(max_length=40)] | None = None


class ScenarioSpec(_Spec):
    """A scenario file's structure."""

    name: Name | None = None
    description: Text = ""
    source: Text = ""
    species: Annotated[StrictStr, Field(max_length=40)] = "rat"
    injury: Annotated[StrictStr, Field(max_length=40)] = "moderate"
    days: Annotated[Number, Field(gt=0, le=MAX_DAY)] = 70.0
    dt: Annotated[Number, Field(gt=0, le=MAX_DAY)] = 0.5
    parameters: Annotated[dict[StrictStr, ParamValue], Field(max_length=500)] = {}
    arms: Annotated[list[ArmSpec], Field(min_length=1, max_length=MAX_ARMS)]


@dataclass(frozen=True)
class Arm:
    """One group of animals: a protocol, its own parameter overrides and perturbations and,
    where an experiment compares injuries, its own injury."""

    name: str
    protocol: Protocol = field(default_factory=Protocol)
    parameters: dict[str, Any] = field(default_factory=dict)
    perturbations: tuple[Perturbation, ...] = ()
    injury: Injury | None = None


@dataclass(frozen=True)
class Scenario:
    """Arms compared after one injury, for ``days`` days (output every ``dt`` days)."""

    name: str
    arms: tuple[Arm, ...]
    species: str = "rat"
    injury: Injury = field(default_factory=Injury)
    days: float = 70.0
    dt: float = 0.5
    description: str = ""
    source: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Scenario({self.name!r}, {self.species}, {self.injury.severity} injury, "
                f"{self.days:g} days, arms: {', '.join(a.name for a in self.arms)})")

    def _repr_html_(self) -> str:
        """Notebook view: one row per arm with its doses."""
        import html

        def doses(a: Arm) -> str:
            return "; ".join(str(d.as_dict()) for d in a.protocol.doses) or "vehicle"

        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(a.name)}</th>"
                       f"<td style='text-align:left'>{html.escape(doses(a))}</td></tr>"
                       for a in self.arms)
        return (f"<table><caption>Scenario {html.escape(self.name)}: {self.species}, "
                f"{html.escape(self.injury.severity)} injury, {self.days:g} days</caption>"
                f"{rows}</table>")

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for a in self.arms:
            if a.name == name:
                return a
        names = [a.name for a in self.arms]
        raise ScenarioError(f"no arm {name!r} in scenario {self.name!r}; arms: {names}"
                            f"{did_you_mean(name, names)}")


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("StrictInt", "StrictFloat", "StrictStr", "int", "float", "str",
                      "constrained-str", "function-after[...]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _schema_error(err: _ValidationError, name: str) -> ScenarioError:
    """One readable message per problem: the key, what is wrong, what is allowed."""
    seen: dict[str, str] = {}
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))
        where = _where(loc)
        if e["type"] == "extra_forbidden":
            key = str(loc[-1])
            parent = {"arms": ArmSpec, "doses": DoseSpec}.get(
                next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), ""),
                ScenarioSpec)
            allowed = list(parent.model_fields)
            msg = (f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: "
                   f"{', '.join(allowed)}")
        else:
            shown = repr(e.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            msg = f"{e['msg']} (got {shown})"
        seen.setdefault(where, msg)  # a union reports each branch: keep the first
    problems = [f"{w}: {m}" for w, m in list(seen.items())[:10]]
    more = f" (and {len(seen) - 10} more)" if len(seen) > 10 else ""
    return ScenarioError(f"scenario {name!r}: " + "; ".join(problems) + more)


def _finite(value: Any, what: str) -> float:
    """``value`` as a float, or a ScenarioError (an integer too large for a float)."""
    try:
        return float(value)
    except OverflowError:
        raise ScenarioError(f"{what}: {len(str(value))}-digit number is too large") from None


def _dose(spec: DoseSpec, where: str) -> Dose:
    if spec.schedule == "times":
        # each entry is one administration: [1, 1, 1] gave a triple dose on day 1 silently
        repeated = sorted({float(t) for t in spec.times if spec.times.count(t) > 1})
        if repeated:
            days = ", ".join(f"{t:g}" for t in repeated[:5])
            most = max(spec.times.count(t) for t in repeated)
            raise ScenarioError(f"{where}: schedule 'times' lists day(s) {days} more than "
                                f"once: {most} doses at once ({most}x the amount); list each "
                                "day once (raise the amount for a larger dose)")
    kwargs = spec.model_dump(exclude_defaults=False)
    kwargs["times"] = tuple(float(t) for t in kwargs["times"])
    kwargs["start"] = float(kwargs["start"])
    if kwargs["duration"] is not None:
        kwargs["duration"] = float(kwargs["duration"])
    try:
        return Dose(**kwargs)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}") from None


def _check_text(text: str, where: str, *, lines: bool = False) -> None:
    """Refuse control characters (a NUL broke the NetCDF writer; a newline in a name breaks
    tables and file headers); ``lines``: a description may hold newlines and tabs."""
    allowed = "\n\t\r" if lines else ""
    bad = next((c for c in text if (ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed),
               None)
    if bad is not None:
        raise ScenarioError(f"{where}: control character U+{ord(bad):04X} is not allowed "
                            f"(got {text[:60]!r})")


def scenario_from_dict(data: Any, *, name: str = "scenario") -> Scenario:
    """Validate parsed TOML (a dict) against the schema and build a :class:`Scenario`.

    Examples
    --------
    >>> scenario_from_dict({"arms": [{"name": "x", "doses": [{"product": "msc",
    ...                     "amount": "1e6 cell", "count": "3"}]}]})
    Traceback (most recent call last):
    ...
    cordsim.errors.ScenarioError: scenario 'scenario': arms[0].doses[0].count: Input should be a valid integer (got '3')
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {name!r}: must be a table of keys, got "
                            f"{type(data).__name__}")
    try:
        spec = ScenarioSpec.model_validate(data)
    except _ValidationError as err:
        raise _schema_error(err, name) from None
    name = spec.name or name
    _check_text(name, f"scenario {name!r}: name")
    _check_text(spec.description, f"scenario {name!r}: description", lines=True)
    _check_text(spec.source, f"scenario {name!r}: source", lines=True)
    for i, raw in enumerate(spec.arms):
        if raw.name is not None:
            _check_text(raw.name, f"scenario {name!r}: arms[{i}].name")
    species = check_species(spec.species)
    injury = Injury(spec.injury)
    days, dt = float(spec.days), float(spec.dt)
    if days / dt > MAX_OUTPUT_POINTS:
        raise ScenarioError(f"scenario {name!r}: {days:g} days every dt = {dt:g} day would "
                            f"be {days / dt:.3g} output times; at most {MAX_OUTPUT_POINTS:,} "
                            "(raise dt)")
    arms = []
    for i, raw in enumerate(spec.arms):
        arm_name = raw.name or f"arm {i + 1}"
        where = f"scenario {name!r}: arm {arm_name!r}"
        doses = tuple(_dose(d, f"{where}, dose {j + 1}") for j, d in enumerate(raw.doses))
        try:
            protocol = Protocol(doses=doses, name=arm_name)
            perturbations = tuple(Perturbation(k, _finite(v, f"perturbation {k!r}"))
                                  for k, v in raw.perturbations.items())
            arm_injury = Injury(raw.injury) if raw.injury is not None else None
            for dose in doses:
                note = dose.check_within(days)
                if note:
                    warnings.warn(f"{where}: {note}", UserWarning, stacklevel=2)
        except CordsimError as err:
            raise ScenarioError(f"{where}: {err}") from None
        arms.append(Arm(arm_name, protocol, dict(raw.parameters), perturbations, arm_injury))
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ScenarioError(f"scenario {name!r}: arm names must be unique, got {names}")
    return Scenario(name=name, arms=tuple(arms), species=species, injury=injury, days=days,
                    dt=dt, description=spec.description, source=spec.source,
                    parameters=dict(spec.parameters))


def resolve_scenario_path(ref: str | Path) -> Path:
    """A scenario reference as a file: a built-in name (``default``) or a path. A bare name
    means the built-in scenario even if a folder of that name exists here (e.g. an output
    folder); ``./default.toml`` or any path with a suffix or folder means a file."""
    text = str(ref)
    builtins = builtin_scenarios()
    if text in builtins:
        return builtins[text]
    path = Path(text)
    if path.is_file():
        return path
    hint = did_you_mean(text, builtins)
    if path.exists():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise ScenarioError(f"{text!r} is not a scenario file ({kind}); built-ins: "
                            f"{', '.join(builtins)}")
    raise ScenarioError(f"no scenario file {text!r} and no built-in scenario of that name; "
                        f"built-ins: {', '.join(builtins)}{hint}")


def load_scenario(ref: str | Path) -> Scenario:
    """Load a scenario file, or a built-in scenario by name."""
    path = resolve_scenario_path(ref)
    text = read_text_limited(path, ScenarioError, what="scenario file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: malformed TOML: {err}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: malformed TOML: tables or arrays nested too "
                            "deeply") from None
    return scenario_from_dict(data, name=path.stem)
