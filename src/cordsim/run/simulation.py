"""Simulation: a model, a parameter set, an injury and a solver; ``run`` gives a result."""

from __future__ import annotations

import math
from functools import cache, cached_property

import numpy as np

from cordsim.core import Model, ParameterSet
from cordsim.core.codegen import compile_model
from cordsim.errors import ScenarioError, SimulationError
from cordsim.models import CordModel
from cordsim.protocols import Injury, check_species
from cordsim.results import SimulationResult
from cordsim.solvers import Solver, integrate, integrate_protocol
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
        self.compiled = compile_model(self.model)

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
        t_eval = np.arange(math.floor(days / dt + 1e-9) + 1) * dt
        if t_eval[-1] < days * (1 - 1e-12):
            t_eval = np.append(t_eval, days)
        end = float(days)
        t_eval[-1] = end
        p0 = self._parameter_vector().copy()
        if overrides:
            index = self._param_index
            for name, value in overrides.items():
                p0[index[name]] = value
        cuts, jumps, params = self._segments(end, p0)
        for cut in cuts:  # a report time that rounding put next to a dose time is that time
            t_eval[np.abs(t_eval - cut) <= 1e-9 * max(1.0, cut)] = cut
        y0 = self.compiled.initial(p0)
        if self.solver.method == "compiled":
            sol = integrate_protocol(self.model, y0, cuts, jumps[:-1], params, t_eval,
                                     self.solver, self.state_atol)
            seg = np.searchsorted(cuts, sol.t, side="right") - 1
            t_all, y_all, p_all = sol.t, sol.y, params[np.minimum(seg, len(cuts) - 2)].T
        else:
            t_all, y_all, p_all, sol = self._run_segments(y0, cuts, jumps, params, t_eval)
        status = "ok"
        if sol.success:  # boluses at the end time show in the last report
            y_all[:, -1] += jumps[-1]
        else:
            message = sol.message
            if sol.nonfinite:
                bad = [self.model.state_names[i] for i in sol.nonfinite]
                message += f" in {', '.join(bad)}"
            reached = f"{t_all[-1]:.4g}" if t_all.size else "0"
            status = (f"solver failed after day {reached} (of {end:g}) with "
                      f"{self.solver.method}: {message}")
        result = SimulationResult.from_integration(self, t_all, y_all, p_all, status=status)
        if status != "ok" and throw:
            raise SimulationError(status + " (partial result in .partial)", partial=result)
        return result

    def _run_segments(self, y: np.ndarray, cuts: np.ndarray, jumps: np.ndarray,
                      params: np.ndarray, t_eval: np.ndarray) -> tuple:
        """Integrate segment by segment with a SciPy method; stop at the first failure."""
        ts, ys, ps = [], [], []
        sol = None
        for s, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            y = y + jumps[s]
            last = s == len(cuts) - 2
            grid = t_eval[(t_eval >= a) & ((t_eval <= b) if last else (t_eval < b))]
            seg_eval = np.unique(np.concatenate([[a], grid, [b]]))
            sol = integrate(self.compiled, y, params[s], seg_eval, self.solver, self.state_atol)
            keep = np.isin(sol.t, grid)
            ts.append(sol.t[keep])
            ys.append(sol.y[:, keep])
            ps.append(np.repeat(params[s][:, None], int(keep.sum()), axis=1))
            if not sol.success:
                break
            y = sol.y[:, -1].copy()
        return np.concatenate(ts), np.concatenate(ys, axis=1), np.concatenate(ps, axis=1), sol

    def _segments(self, end: float, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
        """The protocol as segments between dose times: boundaries ``cuts``, the state jump
        at each cut (boluses; the last row: at the end time) and each segment's parameters
        (infusions)."""
        boluses, infusions = self._schedule
        cuts = np.array(sorted({0.0, end, *(t for t, _, _ in boluses if t < end),
                                *(t for a, b, _, _ in infusions for t in (a, b) if t < end)}))
        jumps = np.zeros((len(cuts), len(self.model.state_names)))
        params = np.repeat(p0[None, :], len(cuts) - 1, axis=0)
        state_index = {name: i for i, name in enumerate(self.model.state_names)}
        for t, states, amount in boluses:
            if t <= end:
                s = int(np.searchsorted(cuts, t))
                for state in states:
                    jumps[s, state_index[state]] += amount
        for t0, t1, param, rate in infusions:
            on = (cuts[:-1] >= t0) & (cuts[:-1] < t1)
            params[on, self._param_index[param]] += rate
        return cuts, jumps, params

    def _parameter_vector(self) -> np.ndarray:
        """``self.parameters`` in model order (remembered while the set is the same)."""
        cached = getattr(self, "_p0", None)
        if cached is None or cached[0] is not self.parameters:
            vector = np.array([self.parameters[name] for name in self.model.param_names])
            self._p0 = cached = (self.parameters, vector)
        return cached[1]

    @property
    def state_atol(self) -> np.ndarray:
        """Absolute tolerance of each state (model order): ``solver.atol`` times the state's
        typical scale (``Model.state_scales``)."""
        return self.solver.atol * self.model.state_scales

    @cached_property
    def _param_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.model.param_names)}

    @cached_property
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
