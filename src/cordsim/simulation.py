"""Simulation: a model, a parameter set, an injury and a solver; ``run`` gives a result."""

from __future__ import annotations

import math

import numpy as np

from cordsim.core import Model, ParameterSet
from cordsim.core.codegen import compile_model
from cordsim.errors import ScenarioError, SimulationError
from cordsim.models import CordModel
from cordsim.protocols import Injury, check_species
from cordsim.results import SimulationResult
from cordsim.solvers import Solver, integrate


def default_parameters(species: str = "rat") -> ParameterSet:
    """The bundled default parameter set for a species."""
    return ParameterSet.load(check_species(species), CordModel())


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

    Examples
    --------
    >>> import cordsim
    >>> res = cordsim.Simulation(injury="moderate").run(days=2)
    >>> float(res["time_day"][-1])
    2.0
    """

    def __init__(self, model: Model | None = None, parameters: ParameterSet | None = None,
                 injury: Injury | str = "moderate", *, species: str = "rat",
                 solver: Solver | None = None) -> None:
        self.species = check_species(species)
        self.model = model or CordModel()
        self.injury = injury if isinstance(injury, Injury) else Injury(injury)
        base = parameters or default_parameters(species)
        self.parameters = base.replace(self.injury.values())
        self.solver = solver or Solver()
        self.compiled = compile_model(self.model)

    def run(self, days: float = 70.0, *, dt: float = 0.5, throw: bool = True) -> SimulationResult:
        """Integrate from the injury (t = 0) to ``days``, reporting every ``dt`` days.

        On solver failure raises :class:`SimulationError` whose ``partial`` attribute holds
        the result up to the failure; with ``throw=False`` that result is returned instead,
        its ``status`` naming the failure.
        """
        for name, value in (("days", days), ("dt", dt)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ScenarioError(f"{name} must be a positive number, got {value!r}")
        n = int(round(days / dt))
        t_eval = np.linspace(0.0, n * dt, n + 1)
        if t_eval[-1] < days - 1e-9:
            t_eval = np.append(t_eval, days)
        p = np.array([self.parameters[name] for name in self.model.param_names])
        y0 = self.compiled.initial(p)
        sol = integrate(self.compiled, y0, p, t_eval, self.solver)
        if sol.success:
            status = "ok"
        else:
            message = sol.message
            if sol.nonfinite:
                names = [self.model.state_names[i] for i in sol.nonfinite]
                message += f" in {', '.join(names)}"
            reached = f"{sol.t[-1]:.4g}" if sol.t.size else "0"
            status = (f"solver failed after day {reached} (of {t_eval[-1]:g}) with "
                      f"{self.solver.method}: {message}")
        result = SimulationResult.from_integration(self, sol.t, sol.y, p, status=status)
        if not sol.success and throw:
            raise SimulationError(status + " (partial result in .partial)", partial=result)
        return result
