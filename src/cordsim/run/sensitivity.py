"""Forward sensitivities of a simulation: what each sensitivity parameter is in a protocol,
and the states' and outputs' derivatives on the output times.

:func:`solve_sensitivities` is the engine-level entry point (as ``Simulation.solve``): given a
simulation, output times and parameter names, it returns the trajectory with d(every state
and output)/d(each parameter) (:class:`SensitivityTrajectory`); ``Simulation.run`` uses it
when the solver asks for sensitivities, and calibration's exact gradients are built on it.

A name is a model parameter (the value in force in every segment: an infusion adds its rate
on top, so the derivative is the same), ``dose<k>_amount`` (the k-th dose line's amount per
administration, or an infusion's total, in cells or particles) or ``dose<k>_start`` (its
start day: every administration, or both ends of an infusion, move with it).

Examples
--------
>>> import numpy as np, cordsim
>>> sim = cordsim.Simulation(injury="moderate")
>>> st = solve_sensitivities(sim, np.array([0.0, 1.0, 2.0]), ["d_neutrophils"])
>>> st.of("neutrophils").shape
(1, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cordsim.design.dosing import parse_amount
from cordsim.errors import ScenarioError
from cordsim.numerics.sensitivity import (
    Directions,
    dose_sensitivity_name,
    integrate_sensitivities,
    output_sensitivities,
    sensitivity_functions,
)


@dataclass(frozen=True)
class SensitivityTrajectory:
    """A trajectory (``Simulation.solve``'s) with forward sensitivities: ``states``
    (sensitivities x states x times) and ``outputs`` (outputs x sensitivities x times, with
    the outputs' values in ``output_values``), per unit of each of ``names`` (whose values
    are ``nominal``)."""

    trajectory: Any  # Trajectory
    names: tuple[str, ...]
    nominal: np.ndarray
    states: np.ndarray
    outputs: np.ndarray
    output_values: np.ndarray
    state_names: tuple[str, ...]
    output_names: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.trajectory.ok)

    def value(self, variable: str) -> np.ndarray:
        """A state's or output's values on the times reached."""
        if variable in self.state_names:
            return np.asarray(self.trajectory.y[self.state_names.index(variable)])
        return self.output_values[self.output_names.index(variable)]

    def of(self, variable: str) -> np.ndarray:
        """d variable / d theta (sensitivities x times) of a state or an output."""
        if variable in self.state_names:
            return self.states[:, self.state_names.index(variable), :]
        if variable in self.output_names:
            return self.outputs[self.output_names.index(variable)]
        raise KeyError(f"no state or output {variable!r}")

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every state's and output's sensitivities by name (sensitivities x times)."""
        out = {name: self.states[:, i, :] for i, name in enumerate(self.state_names)}
        out.update({name: self.outputs[i] for i, name in enumerate(self.output_names)})
        return out


def check_names(sim: Any, names: Sequence[str]) -> None:
    """Refuse a sensitivity name that is neither a model parameter nor one of the protocol's
    dose lines."""
    doses = sim.protocol.doses
    for name in names:
        if name in sim.model.params:
            continue
        dose = dose_sensitivity_name(name)
        if dose is None:
            raise ScenarioError(f"unknown sensitivity parameter {name!r}: give a model parameter"
                                f"{sim.model.nearest(name, sim.model.param_names)}, or "
                                "dose<k>_amount / dose<k>_start for the k-th dose line")
        if dose[0] >= len(doses):
            raise ScenarioError(f"sensitivity {name!r}: the protocol has {len(doses)} dose "
                                f"line(s)")


def directions(sim: Any, names: Sequence[str], cuts: np.ndarray, p0: np.ndarray) -> Directions:
    """How each name enters the protocol's segments (``cuts`` from the simulation's own
    segmentation; ``p0``: the animal's parameters)."""
    check_names(sim, names)
    model = sim.model
    n, n_p = len(model.state_names), len(model.param_names)
    segs = len(cuts) - 1
    out = Directions.zeros(tuple(names), segments=segs, states=n, params=n_p)
    state_index = {s: i for i, s in enumerate(model.state_names)}
    param_index = {s: i for i, s in enumerate(model.param_names)}
    end = float(cuts[-1])

    def cut_of(t: float) -> int:
        return int(np.searchsorted(cuts, t))

    for j, name in enumerate(names):
        if name in param_index:
            k = param_index[name]
            out.dparams[:, j, k] = 1.0
            out.param_index[j] = k
            out.nominal[j] = p0[k]
            continue
        line, what = dose_sensitivity_name(name)  # type: ignore[misc]
        dose = sim.protocol.doses[line]
        inf = dose.infusion(sim.species)
        if what == "amount":
            out.nominal[j] = parse_amount(dose.amount, dose.product, sim.species)
            if inf:  # rate = total / duration while it runs
                t0, t1, _ = inf
                assert dose.duration is not None and dose.entry_param is not None
                on = (cuts[:-1] >= t0) & (cuts[:-1] < t1)
                out.dparams[on, j, param_index[dose.entry_param]] += 1.0 / dose.duration
            for t, _ in dose.events(sim.species):
                if t <= end:
                    for state in dose.bolus_states:
                        out.djumps[cut_of(t), j, state_index[state]] += 1.0
            continue
        out.nominal[j] = float(dose.start)  # "start": every event of the line moves with it
        if inf:
            t0, t1, rate = inf
            assert dose.entry_param is not None
            for t, change in ((t0, rate), (t1, -rate)):
                if t < end:
                    s = cut_of(t)
                    out.dcuts[s, j] = 1.0
                    out.ev_dp[s, j, param_index[dose.entry_param]] += change
        for t, amount in dose.events(sim.species):
            if t < end:  # (a dose at the end time cannot move within the run)
                s = cut_of(t)
                out.dcuts[s, j] = 1.0
                for state in dose.bolus_states:
                    out.ev_dy[s, j, state_index[state]] += amount
    return out


def solve_sensitivities(sim: Any, t_eval: np.ndarray, names: Sequence[str], *,
                        values: Mapping[str, float] | None = None) -> SensitivityTrajectory:
    """Integrate ``sim`` to ``t_eval[-1]`` (``t_eval`` sorted, from 0) with forward
    sensitivities to ``names`` (see the module docstring); ``values`` as in
    ``Simulation.solve``. The compiled engine runs it whatever ``sim.solver.method`` is."""
    names = tuple(names)
    check_names(sim, names)
    model = sim.model
    t_eval, p0, cuts, jumps, params = sim.protocol_run(t_eval, values)
    end = float(t_eval[-1])
    dirs = directions(sim, names, cuts, p0)
    y0 = sim.compiled.initial(p0)
    sol, sens = integrate_sensitivities(model, y0[None, :], cuts, jumps[:-1], params[None],
                                        dirs, t_eval, sim.solver, sim.state_atol)[0]
    seg = np.minimum(np.searchsorted(cuts, sol.t, side="right") - 1, len(cuts) - 2)
    traj = sim._trajectory(sol.t, sol.y, params[seg].T, sol, jumps, end)
    fns = sensitivity_functions(model)
    k = traj.t.size
    with np.errstate(all="ignore"):
        values_out = (np.asarray(sim.compiled.outputs(traj.t, traj.y, traj.p)).reshape(
            len(model.output_names), k) if k else np.empty((len(model.output_names), 0)))
    outs = _outputs(fns, traj, sens, dirs.dparams, seg, len(model.output_names))
    return SensitivityTrajectory(trajectory=traj, names=names, nominal=dirs.nominal.copy(),
                                 states=sens, outputs=outs, output_values=values_out,
                                 state_names=tuple(model.state_names),
                                 output_names=tuple(model.output_names))


def _outputs(fns: Any, traj: Any, sens: np.ndarray, dparams: np.ndarray, seg: np.ndarray,
             n_outputs: int) -> np.ndarray:
    """The outputs' sensitivities: d(parameters in force)/d theta only where it is not
    zero (a few parameters)."""
    used = np.flatnonzero(np.any(dparams != 0, axis=(0, 1)))
    dp = dparams[:, :, used][seg].transpose(1, 2, 0) if seg.size else \
        np.zeros((sens.shape[0], used.size, 0))
    return output_sensitivities(fns, traj.t, traj.y, traj.p, sens, dp, n_outputs,
                                param_columns=used)
