"""SBML Level 3 export of the whole model, a parameter set and a protocol (doses as events).

The export is built from the same traced equations the simulator integrates
(:attr:`cordsim.core.Model.symbolic`'s submodel laws): every state is an SBML parameter with
a rate rule, every output an assignment rule, every parameter a constant with its unit and a
note carrying its description, bounds, evidence and source. Boluses are events that add to
their entry state (and to ``sev_input_total``); infusions are events that switch their input
rate on and off. Units are SBML unit definitions derived from pint; time is in days.

Requires ``python-libsbml`` (the ``sbml`` extra: ``pip install -e ".[sbml]"``).

Examples
--------
>>> import cordsim
>>> from cordsim.io.sbml import export_sbml
>>> text = export_sbml(cordsim.Simulation(injury="moderate"))
>>> text.startswith('<?xml') and 'rateRule variable="neurons_fraction"' in text
True
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy

from cordsim._optional import require
from cordsim.core.units import registry

if TYPE_CHECKING:  # pragma: no cover
    from cordsim.run.simulation import Simulation

_KINDS = {"meter": "METRE", "second": "SECOND", "kilogram": "KILOGRAM", "mole": "MOLE",
          "cell": "ITEM", "copy": "ITEM"}


def _libsbml() -> Any:
    return require("libsbml", "SBML export")


def _unit_id(unit: str) -> str:
    return "u_" + re.sub(r"\W", "_", unit.replace("^", "_pow").replace("/", "_per_"))


def _add_unit(model: Any, unit: str, cache: dict[str, str]) -> str:
    """Add a UnitDefinition for a pint unit string (once); return its id."""
    libsbml = _libsbml()
    if unit in cache:
        return cache[unit]
    base = registry().Quantity(1.0, unit).to_base_units()
    factor = float(base.magnitude)
    parts = [(str(name), float(exp)) for name, exp in base.unit_items()]
    uid = _unit_id(unit)
    ud = model.createUnitDefinition()
    ud.setId(uid)
    if not parts:
        parts = [("dimensionless", 1.0)]
    for i, (name, exp) in enumerate(parts):
        u = ud.createUnit()
        kind = "DIMENSIONLESS" if name == "dimensionless" else _KINDS[name]
        u.setKind(getattr(libsbml, f"UNIT_KIND_{kind}"))
        u.setExponent(exp)
        u.setScale(0)
        u.setMultiplier(abs(factor) ** (1.0 / exp) if i == 0 else 1.0)
    cache[unit] = uid
    return uid


def _formula(expr: Any) -> str:
    """A sympy expression as an SBML L3 infix formula."""
    text = sympy.sstr(sympy.sympify(expr), full_prec=True)
    return text.replace("**", "^")


def _math(expr: Any) -> Any:
    libsbml = _libsbml()
    ast = libsbml.parseL3Formula(_formula(expr))
    if ast is None:  # pragma: no cover - would be a bug in _formula
        raise ValueError(f"cannot parse {_formula(expr)!r}: {libsbml.getLastParseL3Error()}")
    return ast


def _notes(text: str) -> str:
    return f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{escape(text)}</p></body>'


def _sbo(name: str) -> int:
    if name.startswith(("k_", "d_", "s_")):
        return 9  # kinetic constant
    if name.startswith(("ec50_", "km_", "ki_")):
        return 193  # equilibrium or steady-state constant
    return 2  # quantitative systems description parameter


def symbolic_laws(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Outputs and rates as sympy expressions of states, parameters and ``time``, other
    outputs kept as symbols (readable assignment rules, documentation pages)."""
    ys = {n: sympy.Symbol(n) for n in model.state_names}
    ps = {n: sympy.Symbol(n) for n in model.param_names}
    os_ = {n: sympy.Symbol(n) for n in model.output_names}
    return model.evaluate(sympy.Symbol("time"), ys, ps, read_outputs=os_)


TWIN_PREFIX = "vehicle__"


def dose_slot_ids(state: str, k: int) -> tuple[str, str]:
    """Parameter ids of bolus slot ``k`` into ``state``: (time, amount)."""
    return f"dose_{state}_{k}_time", f"dose_{state}_{k}_amount"


NEVER = 1e9  # the time of an unused dose slot (days)


def export_sbml(sim: Simulation, *, dose_slots: dict[str, int] | None = None,
                twin: bool = False) -> str:
    """SBML L3V2 text for a Simulation's model, parameters, injury and protocol.

    ``dose_slots`` (state -> number of slots): instead of fixed dose events, each slot is an
    event adding ``dose_<state>_<k>_amount`` at ``dose_<state>_<k>_time`` (parameters a PEtab
    condition table sets; unused slots never fire). ``twin``: also write an untreated twin
    of the same animal (every state and output again, prefixed ``vehicle__``, with no dose
    events), so that an observable can be a treatment effect (``bbb_score -
    vehicle__bbb_score``) within one simulation.
    """
    libsbml = _libsbml()
    model = sim.model
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId(re.sub(r"\W", "_", model.name))
    m.setName(f"{model.name}: {sim.injury.description}; protocol {sim.protocol.name}")
    units: dict[str, str] = {}
    m.setTimeUnits(_add_unit(m, "day", units))
    m.setNotes(_notes(f"cordsim export; model hash {model.structure_hash}; parameter set "
                      f"{sim.parameters.name} (hash {sim.parameters.hash}); injury "
                      f"{sim.injury.severity}; protocol {sim.protocol.as_dict()}"))

    records = sim.parameters.records
    dynamic = {d.entry_param for d in sim.protocol.doses if d.entry_param}
    for name in model.param_names:
        decl = model.params[name]
        par = m.createParameter()
        par.setId(name)
        par.setValue(float(sim.parameters[name]))
        par.setUnits(_add_unit(m, decl.unit, units))
        par.setConstant(name not in dynamic)
        par.setSBOTerm(_sbo(name))
        rec = records.get(name)
        info = decl.description
        if rec is not None:
            info += (f" | bounds {rec.bounds[0]:g}-{rec.bounds[1]:g} {decl.unit} | evidence "
                     f"{rec.evidence} | source {rec.source}")
        par.setNotes(_notes(info))

    sym = model.symbolic
    outs, rates = symbolic_laws(model)
    copies = [("", {})]
    if twin:
        rename = {sympy.Symbol(n): sympy.Symbol(TWIN_PREFIX + n)
                  for n in (*model.state_names, *model.output_names)}
        copies.append((TWIN_PREFIX, rename))
    for prefix, rename in copies:
        _add_dynamics(m, model, sym, outs, rates, prefix, rename, units)

    if dose_slots:
        _add_dose_slots(m, model, dose_slots, units)
    else:
        _add_dose_events(m, sim)
    return libsbml.writeSBMLToString(doc)


def _add_dynamics(m: Any, model: Any, sym: Any, outs: dict, rates: dict, prefix: str,
                  rename: dict, units: dict[str, str]) -> None:
    """States (rate rules) and outputs (assignment rules), with ids prefixed by ``prefix``."""
    def variable(name: str, decl: Any) -> Any:
        """A state or output: a non-constant parameter with its unit and description."""
        par = m.createParameter()
        par.setId(prefix + name)
        par.setConstant(False)
        par.setUnits(_add_unit(m, decl.unit, units))
        par.setNotes(_notes(decl.description + (" (untreated twin)" if prefix else "")))
        return par

    def law(expr: Any) -> Any:
        return _math(sympy.sympify(expr).xreplace(rename) if rename else expr)

    for name, init in zip(model.state_names, sym.initial, strict=True):
        par = variable(name, model.states[name])
        init = sympy.sympify(init)
        if init.free_symbols:
            ia = m.createInitialAssignment()
            ia.setSymbol(prefix + name)
            ia.setMath(law(init))
        else:
            par.setValue(float(init))
    for name in model.output_names:
        variable(name, model.outputs[name])
        rule = m.createAssignmentRule()
        rule.setVariable(prefix + name)
        rule.setMath(law(outs[name]))
    for name in model.state_names:
        rule = m.createRateRule()
        rule.setVariable(prefix + name)
        rule.setMath(law(rates[name]))


def _event(m: Any, eid: str, trigger: str, changes: list[tuple[str, str]]) -> None:
    ev = m.createEvent()
    ev.setId(eid)
    # assignments read the values when the event runs, not when it triggered: two doses at
    # the same moment then add up (with trigger-time values the second overwrote the first)
    ev.setUseValuesFromTriggerTime(False)
    trig = ev.createTrigger()
    trig.setInitialValue(False)
    trig.setPersistent(True)
    trig.setMath(_libsbml().parseL3Formula(trigger))
    for var, formula in changes:
        ea = ev.createEventAssignment()
        ea.setVariable(var)
        ea.setMath(_libsbml().parseL3Formula(formula))


def _add_dose_slots(m: Any, model: Any, dose_slots: dict[str, int],
                    units: dict[str, str]) -> None:
    from cordsim.design.dosing import bolus_states_of

    for state, count in dose_slots.items():
        if state not in model.states:
            raise ValueError(f"dose slots for unknown state {state!r}")
        for k in range(1, count + 1):
            t_id, a_id = dose_slot_ids(state, k)
            for pid, value, unit, text in ((t_id, NEVER, "day", "time of the dose"),
                                           (a_id, 0.0, model.states[state].unit,
                                            "amount of the dose")):
                par = m.createParameter()
                par.setId(pid)
                par.setValue(value)
                par.setUnits(_add_unit(m, unit, units))
                par.setConstant(True)
                par.setNotes(_notes(f"dose slot {k} into {state}: {text} (set by the PEtab "
                                    "condition table; unused slots never fire)"))
            _event(m, f"slot_{state}_{k}", f"time >= {t_id}",
                   [(s, f"{s} + {a_id}") for s in bolus_states_of(state)])


def _add_dose_events(m: Any, sim: Simulation) -> None:
    def event(eid: str, day: float, changes: list[tuple[str, str]]) -> None:
        _event(m, eid, f"time >= {day!r}", changes)

    n = 0
    for dose in sim.protocol.doses:
        for day, amount in dose.events(sim.species):
            event(f"dose_{n}", day, [(s, f"{s} + {amount!r}") for s in dose.bolus_states])
            n += 1
        inf = dose.infusion(sim.species)
        if inf:
            start, end, rate = inf
            param = dose.entry_param
            assert param is not None
            event(f"dose_{n}_on", start, [(param, f"{param} + {rate!r}")])
            event(f"dose_{n}_off", end, [(param, f"{param} - {rate!r}")])
            n += 1


def absolute_tolerances(sim: Simulation) -> dict[str, float]:
    """Each state's absolute tolerance as cordsim integrates it (``Simulation.state_atol``),
    for a simulator of the exported file, e.g. libRoadRunner's
    ``integrator.setIndividualTolerance(state, value)``."""
    return dict(zip(sim.model.state_names, sim.state_atol.tolist(), strict=True))


def check_sbml(text: str) -> list[str]:
    """libsbml consistency errors (not warnings) of an SBML document."""
    libsbml = _libsbml()
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    return [doc.getError(i).getMessage().strip() for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]


def write_sbml(sim: Simulation, path: str | Path) -> Path:
    """Export and write an SBML file."""
    path = Path(path)
    path.write_text(export_sbml(sim))
    return path
