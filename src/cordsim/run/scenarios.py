"""Running a scenario: every arm after its injury, on one shared time grid."""

from __future__ import annotations

from typing import Any

from cordsim.core import ParameterSet
from cordsim.design.scenario import Arm, Scenario
from cordsim.errors import SimulationError
from cordsim.numerics.solvers import Solver
from cordsim.run.results import ScenarioResult
from cordsim.run.simulation import Simulation


def arm_simulation(scenario: Scenario, arm: Arm, *, parameters: ParameterSet | None = None,
                   solver: Solver | None = None, model: Any = None) -> Simulation:
    """The :class:`Simulation` of one arm (its injury, protocol, overrides, perturbations)."""
    return Simulation(model, parameters, arm.injury or scenario.injury, species=scenario.species,
                      solver=solver, protocol=arm.protocol, perturbations=arm.perturbations,
                      scenario_parameters=scenario.parameters, arm_parameters=arm.parameters)


def run_scenario(scenario: Scenario, *, parameters: ParameterSet | None = None,
                 solver: Solver | None = None, progress: bool = False) -> ScenarioResult:
    """Simulate every arm; returns a :class:`~cordsim.run.results.ScenarioResult`.

    Every arm runs even when one fails; then :class:`~cordsim.errors.SimulationError` names
    each failed arm, the day and the states, and its ``partial`` attribute holds every arm's
    result (a failed arm up to its failure).
    """
    from tqdm.auto import tqdm

    sims = [arm_simulation(scenario, arm, parameters=parameters, solver=solver)
            for arm in scenario.arms]
    shared = sorted({t for sim in sims for t in sim._dose_times(scenario.days)})
    done, failed = {}, []
    for arm, sim in tqdm(list(zip(scenario.arms, sims, strict=True)), desc=scenario.name,
                         unit="arm", disable=not progress):
        res = sim.run(days=scenario.days, dt=scenario.dt, throw=False, extra_times=shared)
        done[arm.name] = res
        if not res.ok:
            failed.append(f"arm {arm.name!r}: {res.status}")
    result = ScenarioResult(scenario.name, done, scenario.description)
    if failed:
        raise SimulationError("; ".join(failed) + " (partial results in .partial)",
                              partial=result)
    return result
