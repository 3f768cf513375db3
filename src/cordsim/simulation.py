"""Simulation: a model, a parameter set, an injury and a solver; ``run`` gives a result."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from cordsim.core import Model, ParameterSet
from cordsim.core.codegen import compile_model
from cordsim.errors import ScenarioError, SimulationError
from cordsim.models import CordModel
from cordsim.protocols import Injury, check_species
from cordsim.results import SimulationResult
from cordsim.solvers import Solver, integrate
from cordsim.therapy import Protocol


def default_parameters(species: str = "rat") -> ParameterSet:
    """The bundled default parameter set for a species (immutable, so loaded once)."""
    return _load_default(check_species(species))


@cache
def _load_default(species: str) -> ParameterSet:
    return ParameterSet.load(species, CordModel())


class Simulation:
    """One simulated animal.

    Parameters
    ----------
    model
        The composed model (default: :func:`cordsim.models.CordModel`).
    parameters
        Parameter set (default: the species' bundled set). The injury preset overrides its
        injury parameters.
    injury
        An :class:`Injury` or a severity name.
    species
        Only ``"rat"`` has parameters so far.
    solver
        Integration settings.
    protocol
        A therapy :class:`~cordsim.therapy.Protocol` (default: none, the vehicle). Its
        product sets the cargo parameters; its ``parameters`` override the set last.

    Examples
    --------
    >>> import cordsim
    >>> res = cordsim.Simulation(injury="moderate").run(days=2)
    >>> float(res["time_day"][-1])
    2.0
    """

    def __init__(self, model: Model | None = None, parameters: ParameterSet | None = None,
                 injury: Injury | str = "moderate", *, species: str = "rat",
                 solver: Solver | None = None, protocol: Protocol | None = None) -> None:
        self.species = check_species(species)
        self.model = model or CordModel()
        self.injury = injury if isinstance(injury, Injury) else Injury(injury)
        self.protocol = protocol or Protocol()
        base = parameters or default_parameters(species)
        self.parameters = base.replace({**self.injury.values(),
                                        **self.protocol.product_parameters(),
                                        **self.protocol.parameters})
        self.solver = solver or Solver()
        self.compiled = compile_model(self.model, jit=self.solver.jit)

    def run(self, days: float = 70.0, *, dt: float = 0.5, throw: bool = True,
            overrides: dict[str, float] | None = None) -> SimulationResult:
        """Integrate from the injury (t = 0) to ``days``, reporting every ``dt`` days.

        On solver failure raises :class:`SimulationError` whose ``partial`` attribute holds
        the result up to the failure; with ``throw=False`` that result is returned instead,
        its ``status`` naming the failure. ``overrides`` replaces parameter values (declared
        units, no bound or unit checks) for this run only: the fast path for cohorts, which
        record each animal's values themselves.
        """
        for name, value in (("days", days), ("dt", dt)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ScenarioError(f"{name} must be a positive number, got {value!r}")
        n = int(round(days / dt))
        t_eval = np.linspace(0.0, n * dt, n + 1)
        if t_eval[-1] < days - 1e-9:
            t_eval = np.append(t_eval, days)
        end = float(t_eval[-1])
        names = self.model.param_names
        p0 = np.array([self.parameters[name] for name in names])
        if overrides:
            index = {name: i for i, name in enumerate(names)}
            for name, value in overrides.items():
                p0[index[name]] = value
        y = self.compiled.initial(p0)
        state_index = {name: i for i, name in enumerate(self.model.state_names)}
        boluses, infusions = self._schedule()
        cuts = sorted({0.0, end, *(t for t, _, _ in boluses if t < end),
                       *(t for a, b, _, _ in infusions for t in (a, b) if t < end)})
        ts, ys, ps = [], [], []
        status = "ok"
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            for t, states, amount in boluses:  # state jumps at the segment start
                if t == a:
                    for state in states:
                        y[state_index[state]] += amount
            p = p0.copy()
            for t0, t1, param, rate in infusions:
                if t0 <= a < t1:
                    p[names.index(param)] += rate
            last = b == end
            grid = t_eval[(t_eval >= a) & ((t_eval <= b) if last else (t_eval < b))]
            seg_eval = np.unique(np.concatenate([[a], grid, [b]]))
            sol = integrate(self.compiled, y, p, seg_eval, self.solver)
            keep = np.isin(sol.t, grid)
            ts.append(sol.t[keep])
            ys.append(sol.y[:, keep])
            ps.append(np.repeat(p[:, None], int(keep.sum()), axis=1))
            if not sol.success:
                message = sol.message
                if sol.nonfinite:
                    bad = [self.model.state_names[i] for i in sol.nonfinite]
                    message += f" in {', '.join(bad)}"
                reached = f"{sol.t[-1]:.4g}" if sol.t.size else f"{a:.4g}"
                status = (f"solver failed after day {reached} (of {end:g}) with "
                          f"{self.solver.method}: {message}")
                break
            y = sol.y[:, -1].copy()
        t_all = np.concatenate(ts)
        y_all = np.concatenate(ys, axis=1)
        p_all = np.concatenate(ps, axis=1)
        result = SimulationResult.from_integration(self, t_all, y_all, p_all, status=status)
        if status != "ok" and throw:
            raise SimulationError(status + " (partial result in .partial)", partial=result)
        return result

    def _schedule(self) -> tuple[list[tuple[float, tuple[str, ...], float]],
                                 list[tuple[float, float, str, float]]]:
        """Boluses as (day, states, amount) and infusions as (start, end, parameter, rate)."""
        boluses, infusions = [], []
        for dose in self.protocol.doses:
            for t, amount in dose.events(self.species):
                boluses.append((t, dose.bolus_states, amount))
            inf = dose.infusion(self.species)
            if inf:
                assert dose.entry_param is not None
                infusions.append((inf[0], inf[1], dose.entry_param, inf[2]))
        return boluses, infusions
