"""Model: composes submodels, checks itself, and traces its equations to sympy.

The symbolic form (:class:`SymbolicModel`) is the single source from which the numerical
right-hand side, the Jacobian and (later) SBML are generated.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pint
import sympy

from cordsim.core.submodel import Output, Param, State, Submodel, Values
from cordsim.core.units import TIME_UNIT, TYPICAL_SCALE, parse_unit, registry
from cordsim.errors import ModelError, did_you_mean


@dataclass(frozen=True)
class SymbolicModel:
    """The model's equations as sympy expressions in state, parameter and time symbols."""

    t: sympy.Symbol
    state_names: tuple[str, ...]
    param_names: tuple[str, ...]
    output_names: tuple[str, ...]
    state_symbols: tuple[sympy.Symbol, ...]
    param_symbols: tuple[sympy.Symbol, ...]
    rhs: tuple[sympy.Expr, ...]
    outputs: tuple[sympy.Expr, ...]
    initial: tuple[sympy.Expr, ...]


class Model:
    """A model composed of submodels.

    Parameters
    ----------
    submodels
        The processes; each state must be owned by exactly one of them.
    name
        Name recorded in results.
    """

    def __init__(self, submodels: Sequence[Submodel], *, name: str = "cordsim") -> None:
        self.name = name
        self.submodels: tuple[Submodel, ...] = tuple(submodels)
        self._problems: list[str] = []
        self.states: dict[str, State] = {}
        self.params: dict[str, Param] = {}
        self.outputs: dict[str, Output] = {}
        self.owner: dict[str, Submodel] = {}
        for sm in self.submodels:
            for kind, decls in (("state", sm.states), ("parameter", sm.params),
                                ("output", sm.output_decls)):
                for key, decl in decls.items():
                    if key in self.owner and self.owner[key] is not sm:
                        self._problems.append(
                            f"{kind} {key!r} is declared by both {self.owner[key].name} "
                            f"and {sm.name}"
                        )
                        continue
                    self.owner[key] = sm
                    {"state": self.states, "parameter": self.params,
                     "output": self.outputs}[kind][key] = decl  # type: ignore[index]
        self.state_names = tuple(self.states)
        self.param_names = tuple(self.params)
        self.output_names = tuple(self.outputs)
        self._order = self._output_order()

    # ------------------------------------------------------------------ structure
    def _output_order(self) -> tuple[Submodel, ...]:
        """Submodels ordered so that each one's outputs are computed after its inputs."""
        # Trace each submodel's outputs with symbols to learn which outputs it really reads.
        syms = {n: sympy.Symbol(n) for n in [*self.states, *self.params, *self.outputs]}
        needs: dict[int, set[str]] = {}
        for sm in self.submodels:
            try:
                res = sm.outputs(sympy.Symbol("t"),
                                 self._view(sm, syms, syms, syms), self._params_view(sm, syms))
            except (AttributeError, TypeError, ValueError):
                res = {}  # reported by check_structure
            used = {str(s) for e in res.values() for s in sympy.sympify(e).free_symbols}
            needs[id(sm)] = {u for u in used if u in self.outputs and self.owner[u] is not sm}
        pending = list(self.submodels)
        done: list[Submodel] = []
        provided: set[str] = set()
        while pending:
            progress = False
            for sm in list(pending):
                needed = needs[id(sm)]
                if all(i in provided for i in needed):
                    done.append(sm)
                    provided |= set(sm.output_decls)
                    pending.remove(sm)
                    progress = True
            if not progress:
                names = ", ".join(sm.name for sm in pending)
                self._problems.append(f"circular dependency between outputs of: {names}")
                done.extend(pending)
                break
        return tuple(done)

    def nearest(self, name: str, candidates: Iterable[str] | None = None) -> str:
        """A 'did you mean' hint for an unknown name."""
        pool = list(candidates) if candidates is not None else [
            *self.states, *self.params, *self.outputs]
        return did_you_mean(name, pool)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, t: Any, y: dict[str, Any], p: dict[str, Any], *,
                 read_outputs: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Evaluate outputs and rates for any arithmetic type (float, pint, sympy).

        Returns ``(outputs, rates)``, both dicts keyed by name. With ``read_outputs``
        (e.g. one sympy symbol per output), every submodel reads those values for the
        outputs of others instead of the computed ones: each law then refers to outputs by
        name (how the SBML export writes assignment rules).
        """
        outs: dict[str, Any] = {}
        for sm in self._order:
            seen = outs if read_outputs is None else read_outputs
            outs.update(sm.outputs(t, self._view(sm, y, p, seen), self._params_view(sm, p)))
        seen = outs if read_outputs is None else read_outputs
        rates: dict[str, Any] = {}
        for sm in self.submodels:
            rates.update(sm.rates(t, self._view(sm, y, p, seen), self._params_view(sm, p)))
        return outs, rates

    def initial_values(self, p: dict[str, Any]) -> dict[str, Any]:
        """Initial value of every state, given parameter values (any arithmetic type)."""
        out = {}
        for name, st in self.states.items():
            sm = self.owner[name]
            init = st.initial
            out[name] = init(self._params_view(sm, p)) if callable(init) else init
        return out

    def _view(self, sm: Submodel, y: dict, p: dict, outs: dict) -> Values:
        data = {k: y[k] for k in sm.states}
        data.update({k: outs[k] for k in sm.output_decls if k in outs})
        for i in sm.inputs:
            if i in y:
                data[i] = y[i]
            elif i in outs:
                data[i] = outs[i]
        return Values(data, owner=sm.name)

    def _params_view(self, sm: Submodel, p: dict) -> Values:
        names = [*sm.params, *(i for i in sm.inputs if i in self.params)]
        return Values({k: p[k] for k in names if k in p}, owner=sm.name)

    # ------------------------------------------------------------------ symbolic
    @cached_property
    def state_scales(self) -> np.ndarray:
        """Typical magnitude of each state (its own ``scale`` or its unit's), in order."""
        return np.array([st.scale if st.scale is not None else TYPICAL_SCALE.get(st.unit, 1.0)
                         for st in self.states.values()])

    @cached_property
    def symbolic(self) -> SymbolicModel:
        """Trace the model to sympy (raises :class:`ModelError` if it does not check)."""
        self.check_structure()
        t = sympy.Symbol("t")
        ys = {n: sympy.Symbol(n) for n in self.state_names}
        ps = {n: sympy.Symbol(n) for n in self.param_names}
        outs, rates = self.evaluate(t, ys, ps)
        init = self.initial_values(ps)
        return SymbolicModel(
            t=t,
            state_names=self.state_names,
            param_names=self.param_names,
            output_names=self.output_names,
            state_symbols=tuple(ys.values()),
            param_symbols=tuple(ps.values()),
            rhs=tuple(sympy.sympify(rates[n]) for n in self.state_names),
            outputs=tuple(sympy.sympify(outs[n]) for n in self.output_names),
            initial=tuple(sympy.sympify(init[n]) for n in self.state_names),
        )

    @cached_property
    def structure_hash(self) -> str:
        """Hash of the equations, used to cache generated code."""
        sym = self.symbolic
        text = repr((sym.state_names, sym.param_names, sym.output_names,
                     [sympy.srepr(e) for e in (*sym.rhs, *sym.outputs, *sym.initial)]))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ checks
    def check_structure(self) -> None:
        """Raise :class:`ModelError` listing every structural problem found."""
        problems = list(self._problems)
        for name, decl in [*self.states.items(), *self.params.items(), *self.outputs.items()]:
            if not name.isidentifier() or name.startswith("_"):
                problems.append(f"{name!r} is not a valid identifier (SBML SId)")
            try:
                parse_unit(decl.unit)
            except Exception as exc:  # noqa: BLE001 - reported below
                problems.append(f"{name}: {exc}")
        for name, st in self.states.items():
            if st.scale is None and st.unit not in TYPICAL_SCALE:
                problems.append(f"state {name}: no typical scale for unit {st.unit!r}; declare "
                                f"State(..., scale=...) or add the unit to TYPICAL_SCALE")
            elif st.scale is not None and not (math.isfinite(st.scale) and st.scale > 0):
                problems.append(f"state {name}: scale must be positive, got {st.scale!r}")
        known = set(self.states) | set(self.outputs) | set(self.params)
        for sm in self.submodels:
            for i in sm.inputs:
                if i not in known:
                    problems.append(
                        f"{sm.name} reads input {i!r} that no submodel provides"
                        f"{self.nearest(i, known)}"
                    )
        if problems:
            raise ModelError("model check failed:\n  - " + "\n  - ".join(problems))
        # Trace with sympy to find undeclared reads, missing rates and unused parameters.
        t = sympy.Symbol("t")
        ys = {n: sympy.Symbol(n) for n in self.state_names}
        ps = {n: sympy.Symbol(n) for n in self.param_names}
        try:
            outs, rates = self.evaluate(t, ys, ps)
            init = self.initial_values(ps)
        except AttributeError as exc:
            raise ModelError(f"model check failed: {exc}") from None
        for sm in self.submodels:
            missing = set(sm.states) - set(rates)
            if missing:
                problems.append(f"{sm.name} gives no rate for state(s) {sorted(missing)}")
            missing_out = set(sm.output_decls) - set(outs)
            if missing_out:
                problems.append(f"{sm.name} computes no value for output(s) {sorted(missing_out)}")
        extra = set(rates) - set(self.states)
        if extra:
            problems.append(f"rates given for undeclared state(s) {sorted(extra)}")
        used: set[sympy.Symbol] = set()
        for expr in [*rates.values(), *outs.values(), *init.values()]:
            used |= sympy.sympify(expr).free_symbols
        unused = [n for n, s in ps.items() if s not in used]
        if unused:
            problems.append(f"unused parameter(s): {unused}")
        if problems:
            raise ModelError("model check failed:\n  - " + "\n  - ".join(problems))

    def check_units(self, values: dict[str, float] | None = None) -> None:
        """Evaluate every rate law with pint quantities and check its dimensions.

        Each rate must have the unit of its state per day, each output its declared unit
        and each initial value its state's unit. ``values`` (in declared units) may be
        given so that magnitudes are realistic; otherwise all magnitudes are 1.
        """
        values = values or {}
        q = registry().Quantity
        ys = {n: q(values.get(n, 1.0), parse_unit(s.unit)) for n, s in self.states.items()}
        ps = {n: q(values.get(n, 1.0), parse_unit(d.unit)) for n, d in self.params.items()}
        t = q(1.0, TIME_UNIT)
        problems: list[str] = []
        try:
            outs, rates = self.evaluate(t, ys, ps)
            init = self.initial_values(ps)
        except pint.errors.DimensionalityError as exc:
            raise ModelError(f"unit check failed while evaluating the model: {exc}") from None

        def dims(x: Any) -> Any:
            if isinstance(x, pint.Quantity):
                return x.dimensionality
            return registry()("1").dimensionality

        for name, rate in rates.items():
            expected = (parse_unit(self.states[name].unit) / parse_unit(TIME_UNIT)).dimensionality
            if dims(rate) != expected:
                problems.append(
                    f"rate of {name} ({self.owner[name].name}) has dimension {dims(rate)}, "
                    f"expected {expected}"
                )
        for name, val in outs.items():
            expected = parse_unit(self.outputs[name].unit).dimensionality
            if dims(val) != expected:
                problems.append(f"output {name} has dimension {dims(val)}, expected {expected}")
        for name, val in init.items():
            if not callable(self.states[name].initial):
                continue  # a plain number is read in the state's own unit
            expected = parse_unit(self.states[name].unit).dimensionality
            if dims(val) != expected:
                problems.append(f"initial value of {name} has dimension {dims(val)}, "
                                f"expected {expected}")
        if problems:
            raise ModelError("unit check failed:\n  - " + "\n  - ".join(problems))

    def check(self, parameters: Any = None) -> None:
        """Run every check: structure, units and (given a parameter set) coverage and bounds."""
        self.check_structure()
        self.check_units(dict(parameters.values) if parameters is not None else None)
        if parameters is not None:
            parameters.check_against(self)

    def __repr__(self) -> str:
        return (f"Model({self.name!r}: {len(self.submodels)} submodels, "
                f"{len(self.states)} states, {len(self.params)} parameters)")
