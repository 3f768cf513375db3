"""Scenario files: species, injury, arms (protocols), duration, in TOML.

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
    name = "fractionated sEV"
    parameters = { }             # per-arm overrides (e.g. marco_activity = 0)
    doses = [ { product = "sev_naive", amount = "2.4e10 particle", route = "iv",
                schedule = "daily", count = 3, start = 7 } ]

Dose keys: product, amount, route, schedule (bolus, daily, times, infusion), start, count,
times, duration (see :class:`cordsim.therapy.Dose`). Built-in scenarios live in
``cordsim/scenarios/``; ``cordsim run NAME`` finds them by name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cordsim.errors import ScenarioError, did_you_mean
from cordsim.protocols import Injury, check_species
from cordsim.therapy import Dose, Protocol

BUILTIN_DIR = Path(__file__).resolve().parent / "scenarios"
TOP_KEYS = {"name", "description", "species", "injury", "days", "dt", "parameters", "arms",
            "source"}
ARM_KEYS = {"name", "doses", "parameters", "injury"}
DOSE_KEYS = {"product", "amount", "route", "schedule", "start", "count", "times", "duration"}


@dataclass(frozen=True)
class Arm:
    """One group of animals: a protocol (with its parameter overrides) and, where an
    experiment compares injuries, its own injury."""

    name: str
    protocol: Protocol
    injury: Injury | None = None


@dataclass(frozen=True)
class Scenario:
    """Arms compared after one injury, for ``days`` days."""

    name: str
    arms: tuple[Arm, ...]
    species: str = "rat"
    injury: Injury = field(default_factory=Injury)
    days: float = 70.0
    dt: float = 0.5
    description: str = ""
    source: str = ""

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for a in self.arms:
            if a.name == name:
                return a
        names = [a.name for a in self.arms]
        raise ScenarioError(f"no arm {name!r} in scenario {self.name!r}; arms: {names}")


def builtin_scenarios() -> dict[str, Path]:
    """Built-in scenario files by name."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def _unknown(keys: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        hints = [f"{k!r}{did_you_mean(k, sorted(allowed))}" for k in extra]
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(hints)}; allowed: "
                            f"{', '.join(sorted(allowed))}")


def _dose(raw: Any, where: str) -> Dose:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a dose must be a table, got {raw!r}")
    _unknown(set(raw), DOSE_KEYS, where)
    for key in ("product", "amount"):
        if key not in raw:
            raise ScenarioError(f"{where}: missing {key!r}")
    kwargs = dict(raw)
    if "times" in kwargs:
        kwargs["times"] = tuple(float(t) for t in kwargs["times"])
    try:
        return Dose(**kwargs)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err}") from None
    except TypeError as err:
        raise ScenarioError(f"{where}: {err}") from None


def scenario_from_dict(data: dict[str, Any], *, name: str = "scenario") -> Scenario:
    """Validate and build a Scenario from parsed TOML."""
    _unknown(set(data), TOP_KEYS, name)
    species = check_species(str(data.get("species", "rat")))
    injury = Injury(str(data.get("injury", "moderate")))
    days, dt = data.get("days", 70.0), data.get("dt", 0.5)
    for key, value in (("days", days), ("dt", dt)):
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ScenarioError(f"{name}: {key} must be a positive number, got {value!r}")
    common = data.get("parameters", {})
    if not isinstance(common, dict):
        raise ScenarioError(f"{name}: [parameters] must be a table of name = value")
    raw_arms = data.get("arms")
    if not raw_arms or not isinstance(raw_arms, list):
        raise ScenarioError(f"{name}: needs at least one [[arms]] table")
    arms = []
    for i, raw in enumerate(raw_arms):
        where = f"{name}: arm {i + 1}"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: must be a table")
        _unknown(set(raw), ARM_KEYS, where)
        arm_name = str(raw.get("name", f"arm {i + 1}"))
        where = f"{name}: arm {arm_name!r}"
        doses = tuple(_dose(d, f"{where}, dose {j + 1}")
                      for j, d in enumerate(raw.get("doses", [])))
        params = {**common, **raw.get("parameters", {})}
        try:
            protocol = Protocol(doses=doses, name=arm_name, parameters=params)
        except ScenarioError as err:
            raise ScenarioError(f"{where}: {err}") from None
        arm_injury = Injury(str(raw["injury"])) if "injury" in raw else None
        arms.append(Arm(arm_name, protocol, arm_injury))
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{name}: arm names must be unique, got {names}")
    return Scenario(name=str(data.get("name", name)), arms=tuple(arms), species=species,
                    injury=injury, days=float(days), dt=float(dt),
                    description=str(data.get("description", "")),
                    source=str(data.get("source", "")))


def load_scenario(ref: str | Path) -> Scenario:
    """Load a scenario file, or a built-in scenario by name."""
    path = Path(ref)
    if not path.exists():
        builtins = builtin_scenarios()
        if str(ref) in builtins:
            path = builtins[str(ref)]
        else:
            raise ScenarioError(f"no scenario file {str(ref)!r} and no built-in scenario of that "
                                f"name; built-ins: {', '.join(builtins)}"
                                f"{did_you_mean(str(ref), builtins)}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{path}: malformed TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: cannot read: {err}") from None
    return scenario_from_dict(data, name=path.stem)


def run_scenario(scenario: Scenario, *, parameters: Any = None, solver: Any = None,
                 progress: bool = False) -> Any:
    """Simulate every arm; returns a :class:`cordsim.results.ScenarioResult`.

    A solver failure in one arm raises :class:`cordsim.errors.SimulationError` naming the
    arm; the arms already computed are kept on the error's ``partial`` attribute.
    """
    from tqdm.auto import tqdm

    from cordsim.errors import SimulationError
    from cordsim.results import ScenarioResult
    from cordsim.simulation import Simulation

    done: dict[str, Any] = {}
    for arm in tqdm(scenario.arms, desc=scenario.name, unit="arm", disable=not progress):
        sim = Simulation(parameters=parameters, injury=arm.injury or scenario.injury,
                         species=scenario.species,
                         solver=solver, protocol=arm.protocol)
        try:
            done[arm.name] = sim.run(days=scenario.days, dt=scenario.dt)
        except SimulationError as err:
            done[arm.name] = err.partial
            raise SimulationError(f"arm {arm.name!r}: {err}",
                                  partial=ScenarioResult(scenario.name, done,
                                                         scenario.description)) from None
    return ScenarioResult(scenario.name, done, scenario.description)
