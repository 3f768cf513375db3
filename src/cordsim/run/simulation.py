"""Simulation: a model, a parameter set, an injury, a protocol and a solver; ``run`` gives a
:class:`~cordsim.run.results.SimulationResult`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from cordsim.core import Model, ParameterSet
from cordsim.data import check_species, default_parameters
from cordsim.design.dosing import MAX_DAY, Protocol
from cordsim.design.injury import Injury
from cordsim.design.perturbations import Perturbation
from cordsim.design.scenario import MAX_OUTPUT_POINTS
from cordsim.design.setup import resolve_parameters
from cordsim.errors import ScenarioError, SimulationError
from cordsim.numerics.compile import python_functions
from cordsim.numerics.solvers import Solver, integrate, integrate_batch
from cordsim.run.results import Provenance, SimulationResult

# Analysis times: where the solution is always sampled, whatever the report interval, so
# that peaks and endpoint days are read off the solution. (until day, step in days)
ANALYSIS_STEPS = ((1.0, 1.0 / 48), (7.0, 0.1), (MAX_DAY, 0.25))


def analysis_times(days: float) -> np.ndarray:
    """Every 30 min on day 1, every 0.1 day to day 7, every 0.25 day after (to ``days``)."""
    parts, start = [], 0.0
    for until, step in ANALYSIS_STEPS:
        stop = min(until, days)
        if stop > start:
            parts.append(start + step * np.arange(math.ceil((stop - start) / step - 1e-9)))
        start = until
        if start >= days:
            break
    return np.concatenate([*parts, [days]])


def report_times(days: float, dt: float) -> np.ndarray:
    """0, dt, 2 dt, ... and ``days`` itself."""
    grid = np.arange(math.floor(days / dt + 1e-9) + 1) * dt
    if grid[-1] < days * (1 - 1e-12):
        grid = np.append(grid, days)
    grid[-1] = days
    return grid


def _snap(t_eval: np.ndarray, cuts: np.ndarray) -> None:
    """A report time that rounding put next to a dose time is that time (in place)."""
    for cut in cuts:
        t_eval[np.abs(t_eval - cut) <= 1e-9 * max(1.0, cut)] = cut


def _check_days(days: Any, dt: Any) -> tuple[float, float]:
    for name, value in (("days", days), ("dt", dt)):
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value <= 0):
            raise ScenarioError(f"{name} must be a positive number, got {value!r}")
    if days > MAX_DAY:
        raise ScenarioError(f"days = {days:g} is beyond {MAX_DAY:g} (ten years), the longest "
                            "simulation cordsim runs")
    if days / dt > MAX_OUTPUT_POINTS:
        raise ScenarioError(f"{days:g} days every dt = {dt:g} day would be {days / dt:.3g} "
                            f"output times; at most {MAX_OUTPUT_POINTS:,} (raise dt)")
    return float(days), float(dt)


@dataclass(frozen=True)
class Trajectory:
    """Raw solver output: times reached, states (states x times), parameters in force at
    each time (parameters x times) and the status text ("ok" or the failure)."""

    t: np.ndarray
    y: np.ndarray
    p: np.ndarray
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Simulation:
    """One simulated animal.

    Parameters
    ----------
    model
        The composed model (default: :func:`cordsim.biology.CordModel`).
    parameters
        Parameter set (default: the species' bundled set). Values the user set on it with
        ``ParameterSet.replace`` win over every preset (:mod:`cordsim.design.setup`).
    injury
        An :class:`Injury` or a severity name.
    species
        Only ``"rat"`` has parameters so far.
    solver
        Integration settings.
    protocol
        A therapy :class:`~cordsim.design.dosing.Protocol` (default: none, the vehicle).
    perturbations
        Experimental manipulations (:class:`~cordsim.design.perturbations.Perturbation`).
    scenario_parameters, arm_parameters
        Parameter overrides of a scenario and of one of its arms.

    Examples
    --------
    >>> import cordsim
    >>> res = cordsim.Simulation(injury="moderate").run(days=2)
    >>> float(res["time_day"][-1])
    2.0
    """

    def __init__(self, model: Model | None = None, parameters: ParameterSet | None = None,
                 injury: Injury | str = "moderate", *, species: str = "rat",
                 solver: Solver | None = None, protocol: Protocol | None = None,
                 perturbations: Sequence[Perturbation] = (),
                 scenario_parameters: Mapping[str, Any] | None = None,
                 arm_parameters: Mapping[str, Any] | None = None) -> None:
        from cordsim.biology import CordModel

        self.species = check_species(species)
        self.model = model or CordModel()
        self.injury = injury if isinstance(injury, Injury) else Injury(injury)
        self.protocol = protocol or Protocol()
        self.perturbations = tuple(perturbations)
        base = parameters or default_parameters(species)
        self.parameters = resolve_parameters(
            base, model=self.model, injury=self.injury, protocol=self.protocol,
            scenario_parameters=scenario_parameters, arm_parameters=arm_parameters,
            perturbations=self.perturbations)
        self.solver = solver or Solver()
        self.compiled = python_functions(self.model)

    def __repr__(self) -> str:
        return (f"Simulation({self.injury.severity} injury, protocol {self.protocol.name!r}, "
                f"{len(self.protocol.doses)} dose line(s), solver {self.solver.method})")

    # ------------------------------------------------------------------ running
    def run(self, days: float = 70.0, *, dt: float = 0.5, throw: bool = True,
            values: Mapping[str, float] | None = None,
            extra_times: Sequence[float] = ()) -> SimulationResult:
        """Integrate from the injury (t = 0) to ``days``, reporting every ``dt`` days.

        The result also holds the solution at the analysis times (:func:`analysis_times`)
        and at every dose time, where peaks and endpoints are read. On solver failure raises
        :class:`SimulationError` naming the day and the states, whose ``partial`` attribute
        holds the result up to the failure; with ``throw=False`` that result is returned
        instead, its ``status`` naming the failure. ``values`` replaces parameter values
        (declared units, no unit or bound checks) for this run only: the fast path for
        cohorts, which record each animal's values themselves.
        """
        days, dt = _check_days(days, dt)
        self._check_doses(days)
        # Rounded to 1e-9 day (~0.1 ms) so that 3 x 0.3 and 9 x 0.1 are the same time.
        reported = np.round(report_times(days, dt), 9)
        t_eval = np.unique(np.round(np.concatenate([
            reported, analysis_times(days), self._dose_times(days),
            np.asarray(extra_times, dtype=float)]), 9))
        t_eval = t_eval[(t_eval >= 0) & (t_eval <= days)]
        t_eval[-1] = days
        is_reported = np.isin(t_eval, reported)
        is_reported[-1] = True
        sens = None
        if self.solver.sensitivities:
            sens = self.solve_sensitivities(t_eval, self.solver.sensitivities, values=values)
            traj, outs = sens.trajectory, sens.output_values
        else:
            traj = self.solve(t_eval, values=values)
            with np.errstate(all="ignore"):  # a failed run may end in overflowing values
                outs = (np.asarray(self.compiled.outputs(traj.t, traj.y, traj.p)).reshape(
                    len(self.model.output_names), traj.t.size) if traj.t.size
                    else np.empty((len(self.model.output_names), 0)))
        data = {name: traj.y[i] for i, name in enumerate(self.model.state_names)}
        data.update({name: outs[i] for i, name in enumerate(self.model.output_names)})
        result = SimulationResult.from_arrays(traj.t, data, model=self.model,
                                              provenance=self.provenance(values),
                                              status=traj.status,
                                              reported=is_reported[:traj.t.size])
        if sens is not None:
            result = result.with_sensitivities(sens.names, sens.nominal, sens.as_dict())
        if not traj.ok and throw:
            raise SimulationError(traj.status + " (partial result in .partial)", partial=result)
        return result

    def solve(self, t_eval: np.ndarray, *, values: Mapping[str, float] | None = None
              ) -> Trajectory:
        """Integrate to ``t_eval[-1]`` and return the states at ``t_eval`` (sorted, from 0):
        the engine-level entry point (no outputs, no result object)."""
        if self.solver.method != "compiled":
            t_eval = np.array(t_eval, dtype=float)
            p0 = self._animal_vector(values)
            cuts, jumps, params = self._segments(float(t_eval[-1]), p0)
            _snap(t_eval, cuts)
            t_all, y_all, p_all, sol = self._run_segments(self.compiled.initial(p0), cuts,
                                                          jumps, params, t_eval)
            return self._trajectory(t_all, y_all, p_all, sol, jumps, float(t_eval[-1]))
        return self.solve_batch(t_eval, [values])[0]

    def solve_sensitivities(self, t_eval: np.ndarray, names: Sequence[str], *,
                            values: Mapping[str, float] | None = None) -> Any:
        """:meth:`solve` with forward sensitivities of every state and output to ``names``
        (model parameters, ``dose<k>_amount``, ``dose<k>_start``): a
        :class:`~cordsim.run.sensitivity.SensitivityTrajectory`, by the compiled engine."""
        from cordsim.run.sensitivity import solve_sensitivities

        return solve_sensitivities(self, t_eval, names, values=values)

    def solve_batch(self, t_eval: np.ndarray,
                    animals: Sequence[Mapping[str, float] | None]) -> list[Trajectory]:
        """:meth:`solve` for several animals (each its own parameter ``values``) in one call
        of the compiled kernel: how cohorts run."""
        t_eval = np.array(t_eval, dtype=float)
        end = float(t_eval[-1])
        p0s = np.array([self._animal_vector(values) for values in animals])
        cuts, jumps, rates = self._protocol_segments(end)
        params = p0s[:, None, :] + rates[None, :, :]  # each animal's segment parameters
        _snap(t_eval, cuts)
        y0s = np.array([self.compiled.initial(p0) for p0 in p0s])
        sols = integrate_batch(self.model, y0s, cuts, jumps[:-1], params, t_eval, self.solver,
                               self.state_atol)
        out = []
        for sol, prm in zip(sols, params, strict=True):
            seg = np.searchsorted(cuts, sol.t, side="right") - 1
            out.append(self._trajectory(sol.t, sol.y, prm[np.minimum(seg, len(cuts) - 2)].T,
                                        sol, jumps, end))
        return out

    def protocol_run(self, t_eval: np.ndarray, values: Mapping[str, float] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the engine integrates for one animal: the output times (a copy, report times
        next to a dose time snapped to it), the animal's parameters, the protocol's cuts,
        the state jump at each cut (the last: at the end time) and each segment's
        parameters."""
        t_eval = np.array(t_eval, dtype=float)
        p0 = self._animal_vector(values)
        cuts, jumps, rates = self._protocol_segments(float(t_eval[-1]))
        _snap(t_eval, cuts)
        return t_eval, p0, cuts, jumps, p0[None, :] + rates

    def _animal_vector(self, values: Mapping[str, float] | None) -> np.ndarray:
        p0 = self.parameter_vector().copy()
        if values:
            index = self._param_index
            for name, value in values.items():
                p0[index[name]] = value
        return p0

    def _trajectory(self, t_all: np.ndarray, y_all: np.ndarray, p_all: np.ndarray, sol: Any,
                    jumps: np.ndarray, end: float) -> Trajectory:
        if sol.success:  # boluses at the end time show in the last report
            y_all = y_all.copy()
            y_all[:, -1] += jumps[-1]
            return Trajectory(t_all, y_all, p_all, "ok")
        message = sol.message
        if sol.nonfinite:
            bad = [self.model.state_names[i] for i in sol.nonfinite]
            message += f" in {', '.join(bad)}"
        reached = sol.t_reached if np.isfinite(sol.t_reached) else (
            float(t_all[-1]) if t_all.size else 0.0)
        return Trajectory(t_all, y_all, p_all,
                          f"solver failed at day {reached:.4g} (of {end:g}) with "
                          f"{self.solver.method}: {message}")

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
        (``p0`` plus the infusions running in it)."""
        cuts, jumps, rates = self._protocol_segments(end)
        return cuts, jumps, p0[None, :] + rates

    def _protocol_segments(self, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cuts, state jumps and the infusion rates added to each segment's parameters: the
        same for every animal."""
        boluses, infusions = self._schedule
        cuts = np.array(sorted({0.0, end, *(t for t, _, _ in boluses if t < end),
                                *(t for a, b, _, _ in infusions for t in (a, b) if t < end)}))
        jumps = np.zeros((len(cuts), len(self.model.state_names)))
        rates = np.zeros((len(cuts) - 1, len(self.model.param_names)))
        for t, states, amount in boluses:
            if t <= end:
                s = int(np.searchsorted(cuts, t))
                for state in states:
                    jumps[s, self._state_index[state]] += amount
        for t0, t1, param, rate in infusions:
            on = (cuts[:-1] >= t0) & (cuts[:-1] < t1)
            rates[on, self._param_index[param]] += rate
        return cuts, jumps, rates

    def _check_doses(self, days: float) -> None:
        """Refuse doses after the last day; warn about infusions cut short by it."""
        for dose in self.protocol.doses:
            note = dose.check_within(days)
            if note:
                warnings.warn(note, UserWarning, stacklevel=3)

    def _dose_times(self, days: float) -> np.ndarray:
        boluses, infusions = self._schedule
        times = [t for t, _, _ in boluses] + [t for a, b, _, _ in infusions for t in (a, b)]
        return np.array([t for t in times if t <= days], dtype=float)

    # ------------------------------------------------------------------ views
    def provenance(self, values: Mapping[str, float] | None = None) -> Provenance:
        """What a result of this simulation records about how it was made."""
        changes = list(self.parameters.history)
        if values:
            changes += [f"{k}: {v:g} (per-animal value)" for k, v in values.items()]
        return Provenance(
            model=self.model.name, model_hash=self.model.structure_hash, species=self.species,
            injury_severity_preset=self.injury.severity,
            injury_description=self.injury.description,
            parameter_set=self.parameters.name, parameter_set_hash=self.parameters.hash,
            parameter_changes=tuple(changes), protocol=self.protocol.as_dict(),
            perturbations={p.target: p.value for p in self.perturbations},
            solver=self.solver.as_dict())

    def parameter_vector(self) -> np.ndarray:
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
    def _state_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.model.state_names)}

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
